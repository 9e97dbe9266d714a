"""End to end: a small vision lineage materialised in-process, then its files checked by hand."""

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from dagster import DagsterInstance, materialize

from assets.conversion.compact import expand
from assets.conversion.variants import Variant, convert_to_fp16
from assets.deployment.publish import publish_model_version
from assets.partitions import image_models
from assets.vision.assets import VISION_VARIANTS, build_vision_variant_asset, vision_assets
from assets.vision.dataset import build_image_dataset, load_pixels
from assets.vision.metrics import unsure_threshold
from assets.vision.model import build_mobilenet_v2
from assets.vision.training import predict_probabilities
from resources.environment import local_resources
from resources.registry import PENDING
from tests.vision.conftest import PREFIX, declare_image_model, write_colour_images

pytestmark = pytest.mark.slow

# enough test images (about 70) that the int8 gate (98.5 % agreement) is not decided by one near-tie
PER_CLASS = 150

# declared with the model, as a user declares theirs
SMALL_TRAINING = {
    "image_size": 32,
    "epochs": 12,
    "batch_size": 16,
    "width_mult": 0.35,
    "learning_rate": 0.005,
    "augment": "none",
    "label_smoothing": 0.0,
    "threads": 1,  # single-threaded kernels: the same weights on every run
    "patience": 12,
}
MODEL = "image-classifier"


@pytest.fixture(scope="module")
def lineage(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    resources = local_resources(root)  # what tmp_resources gives a function-scoped test
    store, registry = resources["artifacts"], resources["registry"]
    write_colour_images(store, per_class=PER_CLASS)
    store.put_bytes(PREFIX + "red/broken.png", b"\x89PNG\r\n\x1a\n not really")
    instance = DagsterInstance.ephemeral()
    declare_image_model(store, instance, MODEL, **SMALL_TRAINING)
    result = materialize(vision_assets, resources=resources, instance=instance, partition_key=MODEL)
    return result, store, registry, resources, instance


def test_lineage_registers_a_pending_version(lineage):
    result, store, registry, _, _ = lineage
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "pytorch_parity": True,
        "fp16_gate": True,
        "int8_gate": True,
        "fp16_weights_gate": True,
    }
    versions = registry.list_versions("image-classifier")
    assert [(v.version, v.status) for v in versions] == [(1, PENDING)]
    card = registry.get_model_card("image-classifier", 1)
    assert [v["precision"] for v in card["variants"]] == ["fp32", "fp16", "int8", "fp16_weights"]
    assert card["task"]["labels"] == ["blue", "green", "red"]
    assert card["lineage"]["run_id"] == result.run_id
    assert card["lineage"]["data_version"] == result.output_for_node("image_dataset").data_version
    assert sum(card["baseline"]["confidence_histogram"]["counts"]) == card["baseline"]["samples"]
    for variant in card["variants"]:
        assert store.size(variant["key"]) == variant["bytes"]
        data = store.get_bytes(variant["key"])
        if variant["expands_to"]:  # compact weights: the model a client expands them to
            data = expand(data)
            assert hashlib.sha256(data).hexdigest() == variant["expands_to"]["sha256"]
        # the lowest IR version the opsets need: onnxruntime 1.19 (a Pi on Python 3.9) reads <= 10
        assert onnx.load_from_string(data).ir_version <= 10
        assert {"threads_1", "threads_2"} <= set(variant["latency"])
        assert variant["latency"]["threads_1"]["p50_ms"] > 0
    fp32, fp16, int8, compact = card["variants"]
    assert fp16["bytes"] <= 0.51 * fp32["bytes"]
    assert compact["bytes"] <= 0.55 * fp32["bytes"]  # fp16 weights, deflated
    assert compact["expands_to"]["bytes"] == fp32["bytes"]  # the fp32 graph, byte for byte
    assert compact["gate"]["passed"] and compact["gate"]["max_abs_diff"] < 1e-2
    assert card["metrics"]["test_accuracy"] >= 0.9  # colours are easy
    assert card["metrics"]["augmentation"] == "none"  # the preset is on the card
    assert int8["gate"]["top1_agreement"] >= 0.99
    assert int8["gate"]["conversion"]["int8"]["calibration"] in ("MinMax", "Entropy", "Percentile")
    # what each registered variant costs, class by class, on the test split
    assert set(card["variant_metrics"]) == {"fp32", "fp16", "int8", "fp16_weights"}
    for report in card["variant_metrics"].values():
        assert set(report["per_class"]) == {"blue", "green", "red"}
        assert sum(map(sum, report["confusion_matrix"])) == sum(
            c["support"] for c in report["per_class"].values()
        )
    assert card["variant_metrics"]["fp32"]["accuracy"] == pytest.approx(
        card["metrics"]["test_accuracy"], abs=1e-4
    )


def test_onnx_files_run_and_match_pytorch(lineage):
    result, store, _, _, _ = lineage
    trained = result.output_for_node("image_classifier")
    dataset = build_image_dataset(store, PREFIX)
    pixels, _ = load_pixels(store, dataset.split("test"), trained.labels, trained.image_size)
    inputs = pixels.astype(np.float32)
    model = build_mobilenet_v2(len(trained.labels), width_mult=trained.width_mult)
    with tempfile.TemporaryDirectory() as tmp:
        weights = store.get_file(trained.weights_key, Path(tmp) / "w.pt")
        model.load_state_dict(torch.load(weights, weights_only=True))
        expected = predict_probabilities(model, inputs)
        exported = result.output_for_node("image_classifier_onnx")["file"]
        path = store.get_file(exported.key, Path(tmp) / "m.onnx")
        graph = onnx.load(str(path))
        assert graph.opset_import[0].version >= 17
        assert not list(Path(tmp).glob("*.data"))  # self-contained
        assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"pixels": inputs})[0]
        assert np.abs(got - expected).max() <= 1e-4
        assert (got.argmax(1) == expected.argmax(1)).all()
        assert np.allclose(got.sum(1), 1.0, atol=1e-5)  # softmax is in the graph
        # dynamic batch: a batch of one gives the same answer
        assert np.allclose(session.run(None, {"pixels": inputs[:1]})[0], got[:1], atol=1e-5)


def test_the_baseline_says_not_sure_below_the_rules_threshold_on_validation(lineage):
    """unsure_below is the rule (assets/vision/metrics.py) applied to the exported file's answers
    on the validation split, with that split's labels."""
    result, store, registry, _, _ = lineage
    trained = result.output_for_node("image_classifier")
    dataset = build_image_dataset(store, PREFIX)
    pixels, targets = load_pixels(store, dataset.split("val"), trained.labels, trained.image_size)
    exported = result.output_for_node("image_classifier_onnx")["file"]
    with tempfile.TemporaryDirectory() as tmp:
        path = store.get_file(exported.key, Path(tmp) / "m.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        probabilities = session.run(None, {"pixels": pixels.astype(np.float32)})[0]
    baseline = registry.get_model_card(MODEL, 1)["baseline"]
    assert 0 < baseline["unsure_below"] < 1
    assert baseline["unsure_below"] == pytest.approx(
        unsure_threshold(probabilities, targets), abs=1e-5
    )


def test_dataset_skipped_the_broken_file(lineage):
    result, *_ = lineage
    dataset = result.output_for_node("image_dataset")
    assert [k for k, _ in dataset.skipped] == [PREFIX + "red/broken.png"]
    assert len(dataset.records) == 3 * PER_CLASS


def rerun(lineage, selection: list[str], graph=vision_assets):
    """Materialise ``selection`` of ``graph`` in the lineage's instance, failures allowed."""
    _, _, _, resources, instance = lineage
    return materialize(
        graph,
        resources=resources,
        instance=instance,
        selection=selection,
        partition_key=MODEL,
        raise_on_error=False,
    )


def _damaged_fp16(src: Path, dst: Path, calibration) -> None:
    """A converter that breaks the model: the classifier head's weights are scrambled."""
    convert_to_fp16(src, dst, calibration)
    model = onnx.load(str(dst))
    largest_2d = max(
        (t for t in model.graph.initializer if len(t.dims) == 2),
        key=lambda t: t.dims[0] * t.dims[1],
    )
    values = onnx.numpy_helper.to_array(largest_2d)
    rng = np.random.default_rng(0)
    largest_2d.CopyFrom(
        onnx.numpy_helper.from_array(
            rng.permutation(values.ravel()).reshape(values.shape), largest_2d.name
        )
    )
    onnx.save(model, str(dst))


def _failure_text(result, node: str) -> str:
    failure = result.failure_data_for_node(node)
    assert failure is not None, f"{node} did not fail"
    return failure.error.to_string()


def test_gate_blocks_a_damaged_fp16_variant_in_its_run_and_after(lineage):
    """In the run that holds the gate, Dagster's blocking check stops registration; a later run
    of registration alone once read the failed fp16 and registered a version without it."""
    registry = lineage[2]
    fp16 = next(v for v in VISION_VARIANTS if v.name == "fp16")
    damaged = build_vision_variant_asset(
        Variant("fp16", _damaged_fp16, fp16.gate, "damaged on purpose")
    )
    graph = [a for a in vision_assets if a.key.path[-1] != "image_classifier_fp16"] + [damaged]
    before = registry.list_versions("image-classifier")
    result = rerun(lineage, ["image_classifier_fp16", "registered_image_classifier"], graph)
    assert not result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "fp16_gate" and not evaluation.passed
    assert "top-1 agreement" in evaluation.metadata["failures"].value
    assert registry.list_versions("image-classifier") == before  # nothing registered
    alone = rerun(lineage, ["registered_image_classifier"])
    assert not alone.success
    message = _failure_text(alone, "registered_image_classifier")
    assert "refusing to register image-classifier: its required fp16" in message
    assert f"failed fp16_gate in run {result.run_id}" in message
    assert registry.list_versions("image-classifier") == before


def test_a_damaged_optional_int8_is_left_out_and_the_version_registered(lineage):
    _, store, registry, *_ = lineage
    int8 = next(v for v in VISION_VARIANTS if v.name == "int8")
    assert not int8.required
    damaged = build_vision_variant_asset(
        Variant("int8", _damaged_fp16, int8.gate, "damaged on purpose", required=False)
    )
    graph = [a for a in vision_assets if a.key.path[-1] != "image_classifier_int8"] + [damaged]
    before = len(registry.list_versions("image-classifier"))
    result = rerun(
        lineage,
        ["image_classifier_fp16", "image_classifier_int8", "registered_image_classifier"],
        graph,
    )
    assert result.success  # a failed optional gate warns; it does not stop the run
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"fp16_gate": True, "int8_gate": False}
    versions = registry.list_versions("image-classifier")
    assert len(versions) == before + 1
    card = registry.get_model_card("image-classifier", versions[-1].version)
    # the compact weights of the first run: judged against the same fp32 file
    assert [v["precision"] for v in card["variants"]] == ["fp32", "fp16", "fp16_weights"]
    assert "top-1 agreement" in card["variants_left_out"]["int8"]
    registry.approve("image-classifier", versions[-1].version, "ok", "qa")
    published = publish_model_version(store, registry, "image-classifier", versions[-1].version)
    manifest = store.get_json(published.manifest_key)
    assert [v["precision"] for v in manifest["variants"]] == ["fp32", "fp16"]
    assert manifest["recommended_encoding"] == {"web-wasm": "fp16"}
    assert manifest["variants"][0]["compact"][0]["sha256"] == card["variants"][2]["sha256"]
    assert manifest["unsure_below"] == card["baseline"]["unsure_below"]  # for the page


def _broken_export_plan(artifacts, upstream):
    """The real plan, but the module exported is not the one trained: the classifier head's
    weights are negated after PyTorch's reference answers were taken from the trained one."""
    import copy
    import dataclasses

    from assets.vision.assets import _export_plan

    plan = _export_plan(artifacts, upstream)
    broken = copy.deepcopy(plan.module)
    with torch.no_grad():
        for parameter in broken.network.classifier.parameters():
            parameter.neg_()
    return dataclasses.replace(plan, module=broken)


def test_a_failed_fp32_parity_cannot_be_registered_in_a_later_run(lineage):
    """After a failed parity, registration alone registered the broken fp32; then fp16, int8
    and registration without a new export made a version whose fp16 passed its gate against
    the broken fp32. Neither may register anything."""
    from assets.conversion.assets import build_export_asset
    from assets.vision.assets import image_classifier_onnx

    registry = lineage[2]
    broken_export = build_export_asset(
        name="image_classifier_onnx",
        group="vision",
        partitions_def=image_models,
        inputs=("image_classifier", "image_dataset"),
        plan=_broken_export_plan,
        parity_description="broken on purpose",
        description="broken on purpose",
    )
    graph = [a for a in vision_assets if a is not image_classifier_onnx] + [broken_export]
    before = registry.list_versions("image-classifier")
    exported = rerun(lineage, ["image_classifier_onnx"], graph)
    assert not exported.success
    (parity,) = exported.get_asset_check_evaluations()
    assert parity.check_name == "pytorch_parity" and not parity.passed
    try:
        for selection in (
            ["registered_image_classifier"],
            ["image_classifier_fp16", "image_classifier_int8", "registered_image_classifier"],
        ):
            later = rerun(lineage, selection)
            assert not later.success
            message = _failure_text(later, "registered_image_classifier")
            assert f"failed pytorch_parity in run {exported.run_id}" in message
            assert "max abs diff vs PyTorch" in message
            assert registry.list_versions("image-classifier") == before
        # the fp16 of the second run passed its gate, against the broken fp32: not enough
        gates = {c.check_name: c.passed for c in later.get_asset_check_evaluations()}
        assert gates["fp16_gate"]
    finally:  # the module's lineage goes on with a good export
        assert rerun(lineage, ["image_classifier_onnx"]).success


def test_a_retrained_model_is_not_registered_with_an_older_export(lineage):
    """The card's metrics and weights come from image_classifier: registering alone after a
    retrain would pair them with the files of the previous export."""
    registry = lineage[2]
    before = registry.list_versions("image-classifier")
    assert rerun(lineage, ["image_classifier"]).success
    alone = rerun(lineage, ["registered_image_classifier"])
    message = _failure_text(alone, "registered_image_classifier")
    assert "its fp32 file was exported from" in message
    assert "materialise image_classifier_onnx again" in message
    assert registry.list_versions("image-classifier") == before
