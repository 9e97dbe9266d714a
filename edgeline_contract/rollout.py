"""A staged rollout as its clients see it: which side of a canary a client is on.

Standard library only: the gateway reads the platform's rollout document with it and answers
each client's channel request. A client's side is a pure function of the rollout's id, its own
id and the share: the same client lands on the same side after every restart, and a client on
the candidate stays there as the share grows.
"""

import hashlib
from typing import Any

ROLLOUT_SCHEMA = "edgeline.rollout/1"
CANARY, PAUSED, PROMOTED, ABORTED = "canary", "paused", "promoted", "aborted"
RUNNING = (CANARY, PAUSED)  # the candidate is held off the stable channel


def client_bucket(rollout_id: str, client_id: str) -> float:
    """Where a client falls in [0, 1) for this rollout: uniform over clients, fixed per pair,
    and independent between rollouts (a new rollout draws a new canary)."""
    digest = hashlib.sha256(f"{rollout_id}\0{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def share_of(rollout: dict[str, Any]) -> float:
    """The share of clients on the candidate now."""
    if rollout["state"] == PROMOTED:
        return 1.0
    return float(rollout["steps"][rollout["step"]]) if rollout["state"] in RUNNING else 0.0


def serves_candidate(rollout: dict[str, Any], client_id: str) -> bool:
    """Whether ``client_id`` gets the candidate's manifest now: the rollout runs, the candidate
    is published, and the client's bucket is below the share (monotone in the share)."""
    return (
        rollout["state"] in RUNNING
        and rollout.get("candidate_manifest_key") is not None
        and bool(client_id)
        and client_bucket(rollout["rollout_id"], client_id) < share_of(rollout)
    )
