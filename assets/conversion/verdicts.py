"""Gate verdicts bound to the bytes they judged, and the check registration makes with them.

Dagster's blocking checks stop downstream steps only inside the run that holds the check: a
later run that selects registration alone reads whatever files the last upstream run stored,
passed or not. So every gate also writes its verdict under the judged file's sha256
(``verdicts/<model>/<sha256>/<check>.json``), and registration hashes the files it is about to
register and accepts only those with a passing verdict for exactly those bytes (a variant's,
judged against exactly the fp32 file being registered). Whatever run produced the files.
"""

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from assets.conversion.model_file import ModelFile
from resources import layout
from resources.artifacts import ArtifactStore
from resources.errors import ArtifactNotFoundError, EdgelineError

VERDICT_SCHEMA = "edgeline.verdict/1"
PARITY_CHECK = "pytorch_parity"


def gate_check(variant: str) -> str:
    """The asset check (and verdict) name of a variant's gate."""
    return f"{variant}_gate"


class RegistrationRefusedError(EdgelineError, RuntimeError):
    """Files that may not become a model version: a gate failed on them, judged other bytes,
    or never judged them."""


@dataclass(frozen=True)
class Verdict:
    model: str
    check: str
    key: str  # the file judged, when it was judged
    sha256: str
    passed: bool
    run_id: str
    metrics: dict[str, Any] = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    reference_sha256: str | None = None  # a variant's: the fp32 file it was compared with
    judged_at: str = ""


def record_verdict(
    store: ArtifactStore,
    model: str,
    check: str,
    judged: ModelFile,
    passed: bool,
    run_id: str,
    metrics: dict[str, Any],
    failures: tuple[str, ...] = (),
    reference: ModelFile | None = None,
) -> Verdict:
    """Store a gate's verdict on ``judged`` under its sha256 (a later verdict on the same
    bytes, by the same check, replaces it)."""
    verdict = Verdict(
        model=model,
        check=check,
        key=judged.key,
        sha256=judged.sha256,
        passed=passed,
        run_id=run_id,
        metrics={k: v for k, v in metrics.items() if isinstance(v, str | int | float | bool)},
        failures=tuple(failures),
        reference_sha256=reference.sha256 if reference else None,
        judged_at=datetime.now(UTC).isoformat(),
    )
    store.put_json(
        layout.verdict(model, judged.sha256, check), {"schema": VERDICT_SCHEMA, **asdict(verdict)}
    )
    return verdict


def read_verdict(store: ArtifactStore, model: str, sha256: str, check: str) -> Verdict | None:
    key = layout.verdict(model, sha256, check)
    if not store.exists(key):
        return None
    document = store.get_json(key)
    document.pop("schema", None)
    document["failures"] = tuple(document.get("failures", ()))
    return Verdict(**document)


def _stored_sha256(store: ArtifactStore, model_file: ModelFile) -> str:
    try:
        return hashlib.sha256(store.get_bytes(model_file.key)).hexdigest()
    except ArtifactNotFoundError:
        raise RegistrationRefusedError(
            f"{model_file.precision} file {model_file.key} is missing from the artifact store"
        ) from None


def _why_not(
    store: ArtifactStore, model: str, model_file: ModelFile, check: str, reference: str | None
) -> str | None:
    """Why ``model_file`` may not be registered (None: it may)."""
    stored = _stored_sha256(store, model_file)
    what = f"{model_file.precision} ({model_file.key}, sha256 {stored[:12]})"
    if stored != model_file.sha256:
        return f"{what} is not the file its run produced (sha256 {model_file.sha256[:12]})"
    verdict = read_verdict(store, model, stored, check)
    if verdict is None:
        return f"{what} has no {check} verdict: no gate ever judged these bytes"
    if not verdict.passed:
        reasons = "; ".join(verdict.failures) or "failed"
        return f"{what} failed {check} in run {verdict.run_id}: {reasons}"
    if reference is not None and verdict.reference_sha256 != reference:
        return (
            f"{what} passed {check} in run {verdict.run_id} against another fp32 file "
            f"(sha256 {str(verdict.reference_sha256)[:12]}), not the one registered "
            f"(sha256 {reference[:12]}): convert it again"
        )
    return None


def gated_files(
    store: ArtifactStore,
    model: str,
    fp32: ModelFile,
    variants: list[tuple[ModelFile, bool]],
) -> tuple[list[ModelFile], dict[str, str]]:
    """The files that may become a version of ``model``: fp32 with a passing parity verdict,
    and each ``(variant file, required)`` with a passing gate verdict against that fp32.
    Returns (files, optional variants left out with why); a required variant or fp32 without
    one raises ``RegistrationRefusedError`` naming the gate and the run."""
    problem = _why_not(store, model, fp32, PARITY_CHECK, None)
    if problem:
        raise RegistrationRefusedError(f"refusing to register {model}: {problem}")
    accepted, left_out = [fp32], {}
    for variant, required in variants:
        problem = _why_not(store, model, variant, gate_check(variant.precision), fp32.sha256)
        if problem is None:
            accepted.append(variant)
        elif required:
            raise RegistrationRefusedError(f"refusing to register {model}: its required {problem}")
        else:
            left_out[variant.precision] = problem
    return accepted, left_out
