"""The contract: its generated schema files are current; the Python and the page's validators
accept the manifests and events the platform and its clients produce, and both refuse each
field's bad value, naming the same field; both clients' refusal rules agree."""

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from assets.deployment.publish import publish_model_version
from edgeline_contract.__main__ import documents, rendered, stale_files
from edgeline_contract.manifest import MANIFEST, client_refusal, manifest_problems
from edgeline_contract.telemetry import EVENT, parse_timestamp
from tests.contract.validators import ROOT, node, page_problems, python_problems
from tests.deployment.conftest import register_tiny_version
from tests.gateway.conftest import pi_event, web_event

pytestmark = pytest.mark.skipif(node() is None, reason="Node.js runs the page's validator")


def test_schema_files_are_current(tmp_path):
    assert stale_files() == [], "run python -m edgeline_contract"
    for name, document in documents().items():  # regenerated here, compared byte for byte
        (tmp_path / name).write_text(rendered(document), encoding="utf-8")
    assert stale_files(tmp_path) == []
    (tmp_path / "manifest.schema.json").write_text("{}\n")
    assert stale_files(tmp_path) == ["manifest.schema.json"]
    check = subprocess.run(
        [sys.executable, "-m", "edgeline_contract", "--check"], cwd=ROOT, capture_output=True
    )
    assert check.returncode == 0, check.stderr


UNSURE_BELOW = 0.87  # the image model's validation baseline says "not sure" below it


@pytest.fixture(scope="module")
def published_manifests(tmp_path_factory) -> list[dict[str, Any]]:
    """A sensor and an image model's manifests, as publish writes them and as the gateway
    serves them (with each variant's url)."""
    from resources import LocalArtifactStore, SqliteModelRegistry

    home = tmp_path_factory.mktemp("contract")
    store = LocalArtifactStore(root=str(home / "artifacts"))
    registry = SqliteModelRegistry(path=str(home / "registry.sqlite"))
    image_task = {"kind": "image-classification", "labels": ["fern", "rose", "ivy"]}
    manifests = []
    for model, task, baseline in (
        ("pump-autoencoder", None, None),
        ("plants", image_task, {"unsure_below": UNSURE_BELOW}),
    ):
        compact = task is not None  # an image model's page downloads compact weights
        version = register_tiny_version(store, registry, model, task, baseline, compact)
        registry.approve(model, version, reason="contract test", by="qa")
        result = publish_model_version(store, registry, model, version)
        manifest = store.get_json(result.manifest_key)
        served = copy.deepcopy(manifest)
        for variant in served["variants"]:
            for entry in (variant, *variant.get("compact", [])):
                entry["url"] = f"http://127.0.0.1:8000/v1/artifacts/{entry['key']}"
        manifests += [manifest, served]
    return manifests


def produced(published_manifests) -> list[tuple[str, Any]]:
    now = datetime.now(UTC)
    events = [
        web_event(),
        web_event(backend="wasm", threads=2, timestamp=now.isoformat().replace("+00:00", "Z")),
        web_event(image_key="incoming/images/2026-12-02/web-abc/" + "0" * 36 + ".jpg"),
        pi_event(),
        pi_event(backend="cpu", threads=1, anomaly=True, reconstruction_error=3.5),
        # as the page writes a time: milliseconds and Z
        web_event(timestamp=(now - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.123Z")),
    ]
    return [("manifest", m) for m in published_manifests] + [("event", e) for e in events]


def test_both_validators_accept_what_is_produced(published_manifests):
    documents = produced(published_manifests)
    assert python_problems(documents) == [[] for _ in documents]
    assert page_problems(documents) == [[] for _ in documents]


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return root["$defs"][schema["$ref"].split("/")[-1]]
    return schema


def bad_values(schema: dict[str, Any]) -> list[Any]:
    """Values that break ``schema`` (one property's), each in one way."""
    types = schema.get("type", [])
    types = types if isinstance(types, list) else [types]
    bad: list[Any] = []
    if "string" not in types and "enum" not in schema:
        bad.append("text")
    if not {"number", "integer"} & set(types):
        bad.append(12345)
    if "string" in types:
        if "pattern" in schema:
            bad.append("not valid!\n")
        if "maxLength" in schema:
            bad.append("x" * (schema["maxLength"] + 1))
        if schema.get("minLength"):
            bad.append("")
        if schema.get("format") == "date-time":
            bad += ["2026-02-30T10:00:00Z", "0000-01-01T00:00:00Z", "2026-12-02T10:00:60Z"]
            bad += ["2026-12-02T10:00:00+24:00", "2026-12-02 10:00:00Z", "2026-12-02T10:00:00"]
    if "enum" in schema or "const" in schema:
        bad.append("edgeline.nothing/99")
    if {"number", "integer"} & set(types):
        for key, step in (
            ("minimum", -1),
            ("maximum", 1),
            ("exclusiveMinimum", 0),
            ("exclusiveMaximum", 0),
        ):
            if key in schema:
                bad.append(schema[key] + step)
        if "integer" in types and "number" not in types:
            bad.append(1.5)
    if "array" in types:
        if schema.get("minItems"):
            bad.append([])
        if "maxItems" in schema:
            bad.append([{}] * (schema["maxItems"] + 1))
    if "null" not in types and "const" not in schema:
        bad.append(None)
    return bad


def field_cases(document: Any, schema: dict[str, Any], root: dict, path: str = ""):
    """(path, bad document) for each bad value of each field the document has, nested too."""
    schema = _resolve(schema, root)
    if isinstance(document, dict):
        if schema.get("additionalProperties") is False:
            yield (
                f"{path}.unknown_field" if path else "unknown_field",
                {**document, "unknown_field": 1},
            )
        for name, value in document.items():
            inner = schema.get("properties", {}).get(name)
            if inner is None:
                continue
            where = f"{path}.{name}" if path else name
            for bad in bad_values(_resolve(inner, root)):
                yield where, {**document, name: bad}
            for nested_path, nested in field_cases(value, inner, root, where):
                yield nested_path, {**document, name: nested}
    elif isinstance(document, list) and document and "items" in schema:
        for nested_path, nested in field_cases(document[0], schema["items"], root, f"{path}.0"):
            yield nested_path, [nested, *document[1:]]


@pytest.mark.parametrize("kind", ["manifest-sensor", "manifest-image", "event-web", "event-pi"])
def test_each_fields_bad_value_is_refused_by_both(kind, published_manifests):
    base = {
        "manifest-sensor": published_manifests[1],
        "manifest-image": published_manifests[3],
        "event-web": web_event(backend="wasm", threads=2, image_key=None),
        "event-pi": pi_event(backend="cpu", threads=1),
    }[kind]
    schema = MANIFEST if kind.startswith("manifest") else EVENT
    cases = list(field_cases(base, schema, schema))
    assert len(cases) > (80 if kind.startswith("manifest") else 30)
    documents = [(kind.split("-")[0], document) for _, document in cases]
    python, page = python_problems(documents), page_problems(documents)
    for (path, document), found, page_found in zip(cases, python, page, strict=True):
        named = [field for field, _ in found]
        assert any(field == path or field.startswith(path + ".") for field in named), (
            f"{path}: {json.dumps(document)[:300]} -> {found}"
        )
        assert [field for field, _ in page_found] == named, path


def test_an_image_manifest_carries_its_unsure_threshold_and_both_validators_bound_it(
    published_manifests,
):
    """Publishing copies the baseline's unsure_below; a manifest without it (published before
    it existed) still validates; one outside (0, 1) is refused, naming the field."""
    sensor, image = published_manifests[0], published_manifests[2]
    assert image["unsure_below"] == UNSURE_BELOW and "unsure_below" not in sensor
    older = {k: v for k, v in image.items() if k != "unsure_below"}
    documents = [
        ("manifest", d)
        for d in (older, {**image, "unsure_below": 1.5}, {**image, "unsure_below": 0})
    ]
    for found in (python_problems(documents), page_problems(documents)):
        assert found[0] == []
        assert found[1] == [("unsure_below", "must be < 1, not 1.5")]
        assert found[2] == [("unsure_below", "must be > 0, not 0")]
    assert "unsure_below must be < 1" in client_refusal({**image, "unsure_below": 1.5}, "1.1.0")


def test_an_image_manifest_names_compact_weights_for_wasm_and_older_manifests_still_validate(
    published_manifests,
):
    """Publishing puts fp32's compact weights under fp32 and recommends their encoding to wasm
    only; a manifest without them (published before) validates; the page's validator and
    Python's name the same field when an encoding is not one the contract knows."""
    sensor, image = published_manifests[0], published_manifests[3]
    assert "recommended_encoding" not in sensor
    assert all("compact" not in v for v in sensor["variants"])
    assert image["recommended"] == {"web-wasm": "fp32", "web-webgpu": "fp16"}
    assert image["recommended_encoding"] == {"web-wasm": "fp16"}
    fp32 = image["variants"][0]
    assert [v["precision"] for v in image["variants"]] == ["fp32", "fp16"]
    (compact,) = fp32["compact"]
    assert compact["encoding"] == "fp16" and compact["url"].endswith(compact["key"])
    assert compact["key"] == f"deploy/plants/{image['version']}/model.fp16_weights.weights"
    older = copy.deepcopy(image)
    del older["recommended_encoding"], older["variants"][0]["compact"]
    unknown = copy.deepcopy(image)
    unknown["variants"][0]["compact"][0]["encoding"] = "int4"
    documents = [("manifest", older), ("manifest", unknown)]
    for found in (python_problems(documents), page_problems(documents)):
        assert found[0] == []
        assert [field for field, _ in found[1]] == ["variants.0.compact.0.encoding"]


def test_timestamps_parse_as_clients_write_them():
    assert parse_timestamp("2026-12-02T10:00:00Z") == datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert parse_timestamp("2026-12-02T11:00:00.123456789+01:00") == datetime(
        2026, 12, 2, 10, 0, 0, 123456, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="time zone"):
        parse_timestamp("2026-12-02T10:00:00")
    for impossible in ("0000-01-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-12-02T25:00:00Z"):
        with pytest.raises(ValueError, match="not a real moment"):
            parse_timestamp(impossible)
    assert parse_timestamp("2024-02-29T00:00:00Z").day == 29  # a leap year's


REFUSAL_SCRIPT = """
import { readFileSync } from "node:fs";
const { clientRefusal } = await import(process.env.CONTRACT_JS);
const schema = JSON.parse(readFileSync(process.env.SCHEMA, "utf8"));
const cases = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map(([m, v]) => clientRefusal(m, schema, v))));
"""


def test_a_client_too_old_or_of_another_schema_refuses_the_manifest(published_manifests):
    from edgeline_contract import SCHEMA_DIR
    from tests.contract.validators import CONTRACT_JS

    manifest = published_manifests[1]
    variant = {**manifest["variants"][0], "encoding": {"weights": "fp16"}}
    newer = {**manifest, "rollout": {"step": 1}, "variants": [variant]}
    assert sorted(f for f, _ in manifest_problems(newer)) == ["rollout", "variants.0.encoding"]
    cases = [
        (manifest, "1.0.0"),
        ({**manifest, "min_client_version": "99.0.0"}, "1.1.0"),
        ({**manifest, "min_client_version": "1.10.0"}, "1.9.9"),  # numbers, not text
        ({**manifest, "schema": "edgeline.manifest/99"}, "1.1.0"),
        ({**manifest, "threshold": "high"}, "1.1.0"),
        ([1, 2], "1.1.0"),
        (newer, "1.0.0"),  # a newer platform's optional fields: ignored
        ({**newer, "window": 0}, "1.0.0"),  # ... but not a broken known field beside them
    ]
    python = [client_refusal(m, v) for m, v in cases]
    page = json.loads(
        subprocess.run(
            [node(), "--input-type=module", "-e", REFUSAL_SCRIPT],
            input=json.dumps(cases),
            capture_output=True,
            text=True,
            env={
                "CONTRACT_JS": CONTRACT_JS.as_uri(),
                "SCHEMA": str(SCHEMA_DIR / "manifest.schema.json"),
            },
            check=True,
        ).stdout
    )
    assert python[0] is None and page[0] is None
    assert "needs client version 99.0.0 or newer; this client is 1.1.0" in python[1]
    assert "needs client version 99.0.0 or newer; this page is 1.1.0" in page[1]
    assert "1.10.0" in python[2] and "1.10.0" in page[2]
    for refusals in (python, page):
        assert "'edgeline.manifest/99'" in refusals[3].replace('"', "'")
        assert "threshold must be number" in refusals[4]
        assert "not a JSON object" in refusals[5]
        assert refusals[6] is None
        assert "window must be >= 1" in refusals[7]
