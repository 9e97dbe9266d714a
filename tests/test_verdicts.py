"""Registration's check of gate verdicts, on files made by hand: only bytes that a gate passed,
judged against exactly the fp32 file registered, may become a version."""

import hashlib

import pytest

from assets.conversion.model_file import ModelFile
from assets.conversion.verdicts import (
    PARITY_CHECK,
    RegistrationRefusedError,
    gated_files,
    record_verdict,
)
from resources import LocalArtifactStore
from tests.helpers import alter_behind_the_store

MODEL = "pump-autoencoder"


def stored(store, run: str, precision: str, data: bytes) -> ModelFile:
    key = f"models/{MODEL}/{run}/model.{precision}.onnx"
    store.put_bytes(key, data)
    return ModelFile(precision, key, hashlib.sha256(data).hexdigest(), len(data), {}, ())


@pytest.fixture
def store(tmp_path):
    return LocalArtifactStore(root=str(tmp_path))


def test_only_files_with_a_passing_verdict_for_their_bytes_are_registered(store):
    fp32 = stored(store, "run-a", "fp32", b"fp32 bytes")
    record_verdict(store, MODEL, PARITY_CHECK, fp32, True, "run-a", {"max_abs_diff": 1e-6})
    fp16 = stored(store, "run-b", "fp16", b"fp16 bytes")
    record_verdict(store, MODEL, "fp16_gate", fp16, True, "run-b", {}, reference=fp32)
    int8 = stored(store, "run-b", "int8", b"int8 bytes")
    record_verdict(
        store, MODEL, "int8_gate", int8, False, "run-b", {}, ("top-1 agreement 0.9",), fp32
    )
    gated = gated_files(store, MODEL, fp32, [(fp16, True), (int8, False)])
    assert [f.precision for f in gated.files] == ["fp32", "fp16"]
    assert gated.left_out["int8"].endswith("failed int8_gate in run run-b: top-1 agreement 0.9")
    assert gated.judged_in == {"fp32": "run-a", "fp16": "run-b"}


def test_a_variant_judged_against_another_fp32_is_refused(store):
    old = stored(store, "run-a", "fp32", b"old fp32")
    new = stored(store, "run-c", "fp32", b"new fp32")
    for fp32 in (old, new):
        record_verdict(store, MODEL, PARITY_CHECK, fp32, True, "run", {})
    fp16 = stored(store, "run-b", "fp16", b"fp16 of the old fp32")
    record_verdict(store, MODEL, "fp16_gate", fp16, True, "run-b", {}, reference=old)
    with pytest.raises(RegistrationRefusedError, match="against another fp32 file"):
        gated_files(store, MODEL, new, [(fp16, True)])
    assert gated_files(store, MODEL, old, [(fp16, True)]).files[-1] == fp16


def test_unjudged_failed_or_altered_files_are_refused_with_the_gate_and_the_run(store):
    fp32 = stored(store, "run-a", "fp32", b"fp32 bytes")
    with pytest.raises(RegistrationRefusedError, match="has no pytorch_parity verdict"):
        gated_files(store, MODEL, fp32, [])
    record_verdict(store, MODEL, PARITY_CHECK, fp32, False, "run-a", {}, ("diff 0.3 > 1e-4",))
    with pytest.raises(
        RegistrationRefusedError, match=r"failed pytorch_parity in run run-a: diff 0\.3 > 1e-4"
    ):
        gated_files(store, MODEL, fp32, [])
    record_verdict(store, MODEL, PARITY_CHECK, fp32, True, "run-d", {})  # judged again: passed
    fp16 = stored(store, "run-b", "fp16", b"fp16 bytes")
    record_verdict(store, MODEL, "fp16_gate", fp16, True, "run-b", {}, reference=fp32)
    alter_behind_the_store(store, fp16.key, b"other bytes")
    with pytest.raises(RegistrationRefusedError, match="is not the file its run produced"):
        gated_files(store, MODEL, fp32, [(fp16, True)])
    alter_behind_the_store(store, fp16.key, None)
    with pytest.raises(RegistrationRefusedError, match="missing from the artifact store"):
        gated_files(store, MODEL, fp32, [(fp16, True)])
