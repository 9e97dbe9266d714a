"""The order in which `make test` hands tests to its workers: the longest first, by a record of
an earlier run (tests/durations.json), and the tests that share a module-scoped fixture together.

Three workers share two cores, and the suite is over when its last test is. Handed out in file
order (`--dist worksteal`), the minute-long tests of tests/test_*.py started 5 minutes in and
one worker ran them alone for the last 45 s, the machine a third idle; and the tests of one
module fixture (a trained lineage) were split between workers, each training it. So `make test`
runs `--dist loadgroup`: a worker takes the next test (or group) when it has two left, from this
order. The record only orders: a test missing from it still runs. `make durations` writes it
again from a whole run.

pytest-xdist 3.8's own loadgroup names a group in the test's id, which pytest 9 no longer reads
(each test went to any worker), so the groups travel in a file: each worker writes the groups it
collected (``write_groups``), and ``GroupedScheduling`` reads them when it hands tests out.
"""

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

DURATIONS = Path(__file__).with_name("durations.json")
RECORDED_FROM_S = 1.0  # the record keeps the tests that took at least this long
UNRECORDED_SLOW_S = 10.0  # a `slow` test the record does not know yet: started early, to be safe


def module_fixture_group(item: pytest.Item) -> str | None:
    """The test's module path when it uses a module-scoped fixture: the module's tests then run
    on one worker, one after another, and the fixture is made once."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    scopes = {definition.scope for defs in info.name2fixturedefs.values() for definition in defs}
    return item.nodeid.split("::")[0] if "module" in scopes else None


GROUPS_FILE = "EDGELINE_TEST_GROUPS"  # where the workers write the groups for the controller


def write_groups(items: Sequence[pytest.Item], groups: Sequence[str | None], path: Path) -> None:
    """Each grouped test's group by id, in ``path`` (atomically: every worker writes the same)."""
    grouped = {item.nodeid: group for item, group in zip(items, groups, strict=True) if group}
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".json")
    with os.fdopen(descriptor, "w") as out:
        json.dump(grouped, out)
    os.replace(temporary, path)


class GroupedScheduling(LoadScopeScheduling):
    """xdist's scheduling by scope, a scope being a test's group (or the test alone): a worker
    with two tests left takes the next unit, in collection order."""

    def __init__(self, config: pytest.Config, log, groups: Path) -> None:
        super().__init__(config, log)
        self.groups_path = groups
        self.groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self.groups is None:  # first asked once every worker has collected
            written = self.groups_path.exists()  # not when no worker collected a test
            self.groups = json.loads(self.groups_path.read_text()) if written else {}
        return self.groups.get(nodeid, nodeid)


def read_durations(path: Path = DURATIONS) -> dict[str, float]:
    """Seconds by test id, as `record_durations` wrote them (none when there is no record)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def order_longest_first(
    items: list[pytest.Item], groups: Sequence[str | None], seconds: dict[str, float]
) -> None:
    """Reorder ``items`` in place: the units (a group's tests, or one test) by their recorded
    seconds, longest first; a group keeps its own order, and equal units their file order."""
    units: dict[str, list[pytest.Item]] = {}
    for item, group in zip(items, groups, strict=True):
        units.setdefault(group or item.nodeid, []).append(item)

    def expected(item: pytest.Item) -> float:
        guess = UNRECORDED_SLOW_S if item.get_closest_marker("slow") else 0.0
        return seconds.get(item.nodeid, guess)

    ordered = sorted(units.values(), key=lambda unit: -sum(map(expected, unit)))
    items[:] = [item for unit in ordered for item in unit]


class DurationRecorder:
    """A pytest plugin for the controlling process: each test's setup, call and teardown summed,
    and those of at least ``RECORDED_FROM_S`` written to ``path`` at the end (atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        kept = {t: round(s, 1) for t, s in sorted(self.seconds.items()) if s >= RECORDED_FROM_S}
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".json")
        with os.fdopen(descriptor, "w") as out:
            json.dump(kept, out, indent=0)
            out.write("\n")
        os.replace(temporary, self.path)
