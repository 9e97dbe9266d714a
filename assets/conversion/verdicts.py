"""Gate verdicts bound to the bytes they judged, and the check registration makes with them.

Dagster's blocking checks stop downstream steps only inside the run that holds the check: a
later run that selects registration alone reads whatever files the last upstream run stored,
passed or not. So every gate also writes its verdict under the judged file's sha256
(``verdicts/<model>/<sha256>/<check>.json``), and registration hashes the files it is about to
register and accepts only those with a passing verdict for exactly those bytes (a variant's,
judged against exactly the fp32 file being registered). Whatever run produced the files.
"""

import hashlib
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np

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
        metrics={k: _plain(v) for k, v in metrics.items() if _plain(v) is not None},
        failures=tuple(failures),
        reference_sha256=reference.sha256 if reference else None,
        judged_at=datetime.now(UTC).isoformat(),
    )
    store.put_json(
        layout.verdict(model, judged.sha256, check), {"schema": VERDICT_SCHEMA, **asdict(verdict)}
    )
    return verdict


def _plain(value: Any) -> str | int | float | bool | None:
    """A metric as JSON holds it (numpy numbers too); None for anything else."""
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str | int | float | bool) else None


def read_verdict(store: ArtifactStore, model: str, sha256: str, check: str) -> Verdict | None:
    """The stored verdict (None without one, or with one of another schema: not a pass)."""
    key = layout.verdict(model, sha256, check)
    if not store.exists(key):
        return None
    document = store.get_json(key)
    if document.get("schema") != VERDICT_SCHEMA:
        return None
    known = {f.name for f in fields(Verdict)}
    verdict = {k: v for k, v in document.items() if k in known}
    return Verdict(**{**verdict, "failures": tuple(verdict.get("failures", ()))})


def _stored_sha256(store: ArtifactStore, model_file: ModelFile) -> str:
    try:
        return hashlib.sha256(store.get_bytes(model_file.key)).hexdigest()
    except ArtifactNotFoundError:
        raise RegistrationRefusedError(
            f"{model_file.precision} file {model_file.key} is missing from the artifact store"
        ) from None


def _passing_verdict(
    store: ArtifactStore, model: str, model_file: ModelFile, check: str, reference: str | None
) -> "Verdict | str":
    """``model_file``'s passing verdict, or why it may not be registered."""
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
    return verdict


@dataclass(frozen=True)
class GatedFiles:
    files: list[ModelFile]  # fp32 first
    left_out: dict[str, str]  # optional variants, with why
    judged_in: dict[str, str]  # precision -> the run whose gate passed it


def gated_files(
    store: ArtifactStore,
    model: str,
    fp32: ModelFile,
    variants: list[tuple[ModelFile, bool]],
) -> GatedFiles:
    """The files that may become a version of ``model``: fp32 with a passing parity verdict,
    and each ``(variant file, required)`` with a passing gate verdict against that fp32 (an
    optional one without is left out, with why). fp32 or a required variant without one raises
    ``RegistrationRefusedError`` naming the gate and the run."""
    found = _passing_verdict(store, model, fp32, PARITY_CHECK, None)
    if isinstance(found, str):
        raise RegistrationRefusedError(f"refusing to register {model}: {found}")
    gated = GatedFiles([fp32], {}, {fp32.precision: found.run_id})
    for variant, required in variants:
        check = gate_check(variant.precision)
        found = _passing_verdict(store, model, variant, check, fp32.sha256)
        if isinstance(found, Verdict):
            gated.files.append(variant)
            gated.judged_in[variant.precision] = found.run_id
        elif required:
            raise RegistrationRefusedError(f"refusing to register {model}: its required {found}")
        else:
            gated.left_out[variant.precision] = found
    return gated
