"""The channel pointer under races, in both environments: the registry's last decision wins.

Once `update_channel` read the registry and then wrote the pointer with no compare: a publish
racing a revoke left the channel naming the rejected version 4 times in 300, and two versions
published at once left it on the older one 4 times in 150. Each race runs 300 times locally
(the old code would have failed 98 and 99.97 % of such runs) and 150 times against moto (a try
there costs about 60 HTTP calls; 86 and 98 %); EDGELINE_RACE_TRIES sets both. It must never
leave the channel stale.
"""

import os
import random
import threading
import time
from collections.abc import Callable

import pytest

from assets.deployment.planning import decide_version
from assets.deployment.publish import PublishError, publish_model_version, read_channel
from tests.deployment.conftest import register_tiny_version
from tests.helpers import unique_name

pytestmark = pytest.mark.slow
TRIES = {"local": 300, "aws": 150}


@pytest.fixture
def tries(environment: str) -> int:
    return int(os.environ.get("EDGELINE_RACE_TRIES", "0")) or TRIES[environment]


def race(*steps: Callable[[], None], spread_s: float = 0.0) -> list[Exception]:
    """Run the steps in threads released together, each after a random delay up to
    ``spread_s`` (so that every interleaving of a slow step and a quick one gets its turn); the
    errors they raised."""
    barrier = threading.Barrier(len(steps))
    errors: list[Exception] = []

    def run(step: Callable[[], None]) -> None:
        barrier.wait()
        time.sleep(random.uniform(0, spread_s))
        try:
            step()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a step hung"
    return errors


def approved_version(store, registry, model: str) -> int:
    version = register_tiny_version(store, registry, model)
    registry.approve(model, version, "ok", "qa")
    return version


def test_a_publish_racing_a_revoke_never_leaves_the_revoked_version(
    artifact_store, model_registry, tries
):
    model = unique_name("race-revoke")
    stable = approved_version(artifact_store, model_registry, model)
    publish_model_version(artifact_store, model_registry, model, stable)
    stale, publishes_refused, took = [], 0, 0.0
    for _ in range(tries):
        version = approved_version(artifact_store, model_registry, model)
        started = time.perf_counter()
        errors = race(
            lambda v=version: publish_model_version(artifact_store, model_registry, model, v),
            lambda v=version: decide_version(
                model_registry, artifact_store, model, v, "reject", "race", "qa"
            ),
            spread_s=took,  # the revoke lands anywhere within a publication
        )
        took = time.perf_counter() - started
        # a publish that starts after the rejection is refused: that is the point
        assert all(isinstance(e, PublishError) and "Rejected" in str(e) for e in errors), errors
        publishes_refused += len(errors)
        pointer = read_channel(artifact_store, model)
        if pointer["version"] != stable:
            stale.append(pointer["version"])
    print(
        f"{tries} publish/revoke races: {publishes_refused} publishes refused, {len(stale)} stale"
    )
    assert stale == []


def test_two_versions_published_at_once_leave_the_newer(artifact_store, model_registry, tries):
    stale, moves, took = [], 0, 0.0
    for _ in range(tries):
        model = unique_name("race-pair")  # a short version list: each try costs the same
        older = approved_version(artifact_store, model_registry, model)
        newer = approved_version(artifact_store, model_registry, model)
        started = time.perf_counter()
        errors = race(
            lambda m=model, v=newer: publish_model_version(artifact_store, model_registry, m, v),
            lambda m=model, v=older: publish_model_version(artifact_store, model_registry, m, v),
            spread_s=took / 2,
        )
        took = time.perf_counter() - started
        assert errors == []
        pointer = read_channel(artifact_store, model)
        if pointer["version"] != newer:
            stale.append((pointer["version"], newer))
        moves += pointer["generation"]
    print(f"{tries} publish pairs: {len(stale)} stale, the pointer moved {moves} times")
    assert stale == []
