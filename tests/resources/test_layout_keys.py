"""Every artifact-store key is built by ``resources/layout.py``: a scan of the source for keys
assembled anywhere else (it reads the code with ``ast``, so comments and docstrings never count),
and the layout's own functions, round trips included."""

import ast
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from edgeline_contract.manifest import MANIFEST
from edgeline_contract.telemetry import IMAGE_KEY_PATTERN
from resources import layout

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("assets", "orchestration", "resources", "clients/gateway", "bench")
LAYOUT = ROOT / "resources" / "layout.py"
# A line (or a line of the expression) carrying this comment is not a key the layout builds: a
# local file's name, a hostile key a fuzzer sends. Say why after it.
EXEMPT = "# layout-exempt:"

# the store's top-level folders (a regular expression's ^ in front counts too)
TOP_LEVEL = re.compile(
    r"^\^?(catalog|raw|incoming|reviews|datasets|models|deploy|verdicts|telemetry|reports|"
    r"registry)/"
)
# file names only the layout may put in a key
FILE_NAMES = (
    "manifest.json",
    "labels.json",
    "iot-job.json",
    "report.json",
    "report.md",
    "report.html",
    "dataset.json",
    "windows.npz",
    "profile.json",
    "simulated.parquet",
    "count.json",
    "events.parquet",
)
# what is appended to a key to name a file in it (a sidecar's .json, a run's model.pt, ...)
FILE_SUFFIX = re.compile(r"^[A-Za-z0-9_.-]*\.(json|md|html|png|npz|pt|onnx|parquet)$")
# the text after a prefix that goes on as a key (not "under {prefix}: ..." in a message)
KEY_GOES_ON = re.compile(r"^([A-Za-z0-9_=+@-]|\.[A-Za-z0-9])")


def _layout_made(node: ast.AST, bound: set[str]) -> bool:
    """Whether ``node`` is a layout function's key or prefix: ``layout.x(...)``, ``layout.X``,
    or a name assigned one of those in the same file."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.value.id == "layout"
    return isinstance(node, ast.Name) and node.id in bound


def _names_bound_to_layout(tree: ast.AST) -> set[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _layout_made(node.value, set()):
            bound |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return bound


def _literal_problem(text: str) -> str | None:
    if TOP_LEVEL.match(text) and "<" not in text:  # "<model>": a description of the layout
        return f"spells the store folder {text.split('/')[0].lstrip('^')}/"
    name = next((n for n in FILE_NAMES if text == n or text.endswith("/" + n)), None)
    return f"names the store file {name}" if name else None


def _absolute(part: ast.AST) -> bool:
    """Whether an f-string starting with ``part`` is an absolute path or URL (no store key)."""
    return isinstance(part, ast.Constant) and str(part.value).startswith("/")


def assembled_keys(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, why) for each place in ``source`` that builds or takes apart a store key by
    itself instead of calling ``resources.layout``."""
    tree = ast.parse(source, filename)
    lines = source.splitlines()
    bound = _names_bound_to_layout(tree)
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    format_specs = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None
        for part in ast.walk(node.format_spec)
    }
    # a local file's path: ``folder / f"{name}.onnx"``, ``path.with_name(stem + ".onnx")``
    local_paths = {
        id(node.right)
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
    } | {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("with_name", "with_suffix")
        for arg in node.args
    }
    found: list[tuple[int, str]] = []

    def report(node: ast.AST, why: str) -> None:
        span = lines[node.lineno - 1 : (node.end_lineno or node.lineno)]
        if id(node) not in local_paths and not any(EXEMPT in line for line in span):
            found.append((node.lineno, why))

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings or id(node) in format_specs:
                continue
            problem = _literal_problem(node.value)
            if problem:
                report(node, problem)
        elif isinstance(node, ast.JoinedStr):
            parts = node.values
            for i, part in enumerate(parts):
                if not isinstance(part, ast.FormattedValue):
                    continue
                after = parts[i + 1] if i + 1 < len(parts) else None
                text = after.value if isinstance(after, ast.Constant) else None
                if _layout_made(part.value, bound) and (
                    isinstance(after, ast.FormattedValue) or (text and KEY_GOES_ON.match(text))
                ):
                    report(node, "extends a layout key in an f-string")
                elif text and FILE_SUFFIX.match(text) and not _absolute(parts[0]):
                    report(node, f"names a file {text!r} in an f-string")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            right = node.right
            text = right.value if isinstance(right, ast.Constant) else None
            if _layout_made(node.left, bound) and not (
                isinstance(text, str) and not KEY_GOES_ON.match(text)
            ):
                report(node, "extends a layout key with +")
            elif isinstance(text, str) and FILE_SUFFIX.match(text):
                report(node, f"appends the file name {text!r} to a key")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "len"
            and node.args
            and _layout_made(node.args[0], bound)
        ):
            report(node, "takes a key apart by a layout prefix's length")
    return sorted(set(found))


def _scanned_files() -> list[Path]:
    """The source files git knows or would add (not build leftovers, venvs or node_modules)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *SCANNED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = [ROOT / name for name in sorted(listed) if name.endswith(".py")]
    return [p for p in files if p != LAYOUT and p.exists()]


def test_no_key_is_assembled_outside_layout():
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {why}"
        for path in _scanned_files()
        for line, why in assembled_keys(path.read_text(), str(path))
    ]
    assert not problems, (
        "store keys built outside resources/layout.py (add a function there and call it; for "
        f"something that is not a store key, say why with '{EXEMPT} ...'):\n" + "\n".join(problems)
    )


def test_the_scan_covers_the_gateway_and_the_assets():
    scanned = {str(p.relative_to(ROOT)) for p in _scanned_files()}
    assert {"assets/deployment/publish.py", "clients/gateway/routers/models.py"} <= scanned
    assert "resources/layout.py" not in scanned


PLANTED = '''
"""A docstring may say deploy/<model>/<version>/manifest.json or even deploy/m/1/ freely."""
from resources import layout

# a comment may too: prefix + "manifest.json"
def publish(store, model, version, key, title, name, folder, precision):
    prefix = layout.deployed_version(model, version)
    store.put_json(prefix + "manifest.json", {})
    store.put_json(f"deploy/{model}/stable.json", {})
    store.put_json("deploy/" + model + "/beta.json", {})
    store.put_json(key + ".json", {})
    store.put_json(f"{layout.report('web', '2026-01-01', model)}{title}.png", {})
    store.put_json(f"{prefix}labels.json", {})
    store.put_json(layout.model_run(model, "r") + "model.pt", {})
    store.put_bytes(f"{layout.model_run(model, 'r')}model.{precision}.onnx", b"")
    name = key[len(layout.RAW_IMAGES):]
    pattern = r"^deploy/[^/]+/[0-9]+/[^/]+$"
    if key.endswith("/iot-job.json"):
        pass
    print(f"no images under {prefix}: add some", f"under {prefix}.")
    raise ValueError("a key like deploy/<model>/<version>/ is expected")
    local = "model.fp32" + ".onnx"  # layout-exempt: a temporary file, not a store key
    path = folder / f"model.{precision}.onnx"
    prepared = path.with_name(path.stem + ".prep.onnx")
    url = f"/bench/model.{precision}.onnx"
    return f"{name:>10}", layout.manifest(model, version)
'''


def test_the_scan_finds_planted_keys_and_nothing_else():
    found = assembled_keys(PLANTED)
    lines = PLANTED.splitlines()
    flagged = {lines[line - 1].strip() for line, _ in found}
    assert flagged == {
        'store.put_json(prefix + "manifest.json", {})',
        'store.put_json(f"deploy/{model}/stable.json", {})',
        'store.put_json("deploy/" + model + "/beta.json", {})',
        'store.put_json(key + ".json", {})',
        "store.put_json(f\"{layout.report('web', '2026-01-01', model)}{title}.png\", {})",
        'store.put_json(f"{prefix}labels.json", {})',
        'store.put_json(layout.model_run(model, "r") + "model.pt", {})',
        'store.put_bytes(f"{layout.model_run(model, \'r\')}model.{precision}.onnx", b"")',
        "name = key[len(layout.RAW_IMAGES):]",
        'pattern = r"^deploy/[^/]+/[0-9]+/[^/]+$"',
        'if key.endswith("/iot-job.json"):',
    }


def test_the_scan_names_the_file_and_line(tmp_path, monkeypatch):
    planted = tmp_path / "assets" / "planted.py"
    planted.parent.mkdir()
    planted.write_text('KEY = "x"\nMANIFEST = f"deploy/{KEY}/1/manifest.json"\n')
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)  # the scan asks git
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    monkeypatch.setattr(f"{__name__}.LAYOUT", tmp_path / "resources" / "layout.py")
    with pytest.raises(AssertionError, match=r"assets/planted\.py:2: spells the store folder"):
        test_no_key_is_assembled_outside_layout()


# -- the layout's functions --------------------------------------------------------------------


def test_published_version_files():
    assert layout.deployed_version("m", 3) == "deploy/m/3/"
    assert layout.deployed_file("m", 3, "model.fp32.onnx") == "deploy/m/3/model.fp32.onnx"
    assert layout.manifest("m", 3) == "deploy/m/3/manifest.json"
    assert layout.labels("m", 3) == "deploy/m/3/labels.json"
    assert layout.device_job("m", 3) == "deploy/m/3/iot-job.json"
    assert layout.channel("m") == "deploy/m/stable.json"
    assert layout.channel("m", "beta") == "deploy/m/beta.json"
    assert layout.channels("m") == "deploy/m/"


def test_channel_round_trip():
    for model, name in (("m", "stable"), ("image-classifier", "beta"), ("a.b", "canary")):
        assert layout.parse_channel(layout.channel(model, name)) == (model, name)
    for other in (
        layout.manifest("m", 1),
        layout.deployed_file("m", 1, "x.json"),
        "deploy/m.json",
        "deploy/m/stable.txt",
        layout.catalog_entry("m"),
    ):
        assert layout.parse_channel(other) is None


def test_public_model_files():
    """What the gateway serves without a token: a published version's files, but not its
    manifest or device job (clients read those through the channel endpoint), nor pointers."""
    assert layout.is_public_model_file(layout.deployed_file("m", 2, "model.fp16.onnx"))
    assert layout.is_public_model_file(layout.labels("m", 2))
    for private in (
        layout.manifest("m", 2),
        layout.device_job("m", 2),
        layout.channel("m"),
        layout.deployed_file("m", 2, "model.onnx") + "/x",
        "deploy/m/latest/model.onnx",
        layout.model_run("m", "run") + "model.fp32.onnx",
        layout.catalog_entry("m"),
    ):
        assert not layout.is_public_model_file(private), private


def test_write_once_keys():
    assert layout.is_write_once(layout.run_onnx("m", "r1", "fp32"))
    assert layout.is_write_once(layout.manifest("m", 1))
    assert not layout.is_write_once(layout.channel("m"))
    assert not layout.is_write_once(layout.catalog_entry("m"))


def test_run_files_round_trip():
    assert layout.run_weights("m", "r1") == "models/m/r1/model.pt"
    assert layout.run_onnx("m", "r1", "int8") == "models/m/r1/model.int8.onnx"
    assert layout.run_plot("m", "r1", "training curves") == "models/m/r1/training_curves.png"
    for key in (layout.run_weights("m", "r1"), layout.run_onnx("m", "r1", "fp16")):
        assert layout.parse_model_run(key) == ("m", "r1")
    with pytest.raises(ValueError, match="not a model run"):
        layout.parse_model_run(layout.manifest("m", 1))


def test_dataset_files():
    assert layout.image_dataset_index("m", "abc") == "datasets/m/abc/dataset.json"
    assert layout.sensor_windows("p", "abc") == "datasets/p/abc/windows.npz"
    assert layout.image_dataset_index("m", "abc").startswith(layout.dataset("m", "abc"))


def test_report_files_round_trip():
    prefix = "reports/web/2026-11-20/m/"
    assert layout.report_json("web", "2026-11-20", "m") == prefix + "report.json"
    assert layout.report_markdown("web", "2026-11-20", "m") == prefix + "report.md"
    assert layout.report_html("web", "2026-11-20", "m") == prefix + "report.html"
    assert layout.report_plot("web", "2026-11-20", "m", "latency p50") == (
        prefix + "latency_p50.png"
    )
    assert layout.is_report_json(layout.report_json("pi", "2026-11-20", "m"))
    assert layout.is_report_json("reports/web/2026-11-20/report.json")  # before many models
    assert not layout.is_report_json(layout.report_html("web", "2026-11-20", "m"))
    assert not layout.is_report_json("deploy/m/report.json")


def test_shared_image_keys_round_trip():
    key = layout.incoming_image(date(2026, 11, 20), "web-abc", "0b7c.jpg")
    assert key == "incoming/images/2026-11-20/web-abc/0b7c.jpg"
    assert layout.parse_incoming_image(key) == ("2026-11-20", "web-abc", "0b7c.jpg")
    # before the review queue, images had no uploader folder
    assert layout.parse_incoming_image("incoming/images/2026-11-20/0b7c.jpg") == (
        "2026-11-20",
        None,
        "0b7c.jpg",
    )
    with pytest.raises(ValueError):
        layout.parse_incoming_image(layout.model_image("m", "cat", "a.jpg"))
    assert layout.image_sidecar(key) == key + ".json"
    assert layout.image_review(date(2026, 11, 21), "0b7c.jpg") == (
        "reviews/images/2026-11-21/0b7c.jpg.json"
    )
    assert layout.upload_count("2026-11-20", "web-abc") == (
        "incoming/uploads/2026-11-20/web-abc.count.json"
    )


def test_the_contract_accepts_the_keys_the_layout_builds():
    """The contract (standard library, for clients) spells two key patterns of its own: an
    event's shared image and a manifest's model file. Both take what the layout builds."""
    image_key = re.compile(IMAGE_KEY_PATTERN)
    name = "123e4567-e89b-12d3-a456-426614174000.webp"
    for uploader in ("web-0123456789ab", "device", "pi-7"):
        assert image_key.match(layout.incoming_image(date(2026, 11, 20), uploader, name))
    assert image_key.match(layout.incoming_images("2026-11-20") + name)  # before the queue
    assert not image_key.match(layout.model_image("m", "cat", name))
    model_file = re.compile(MANIFEST["$defs"]["variant"]["properties"]["key"]["pattern"])
    assert model_file.match(layout.deployed_file("image-classifier", 12, "model.fp16.onnx"))
    assert not model_file.match(layout.run_onnx("image-classifier", "r1", "fp16"))


def test_model_images_round_trip():
    key = layout.model_image("m", "cat", "reviewed-a.png")
    assert key == "raw/images/m/cat/reviewed-a.png"
    assert layout.parse_labelled_image(layout.model_images("m"), key) == ("cat", "reviewed-a.png")
    tree = layout.model_images("m")
    assert layout.parse_labelled_image(tree, layout.labelled_image(tree, "dog", "b.jpg")) == (
        "dog",
        "b.jpg",
    )
    for other in (tree + "loose.jpg", tree + "cat/deeper/a.jpg", layout.model_image("n", "c", "a")):
        assert layout.parse_labelled_image(tree, other) is None


def test_sensor_keys_round_trip():
    assert layout.simulated_readings("p", "2026-11-20") == (
        "raw/sensors/p/date=2026-11-20/simulated.parquet"
    )
    ingested = layout.ingested_readings("p", "2026-11-20", "abc123")
    assert ingested == "raw/sensors/p/date=2026-11-20/ingested-abc123.parquet"
    assert layout.is_ingested_readings(ingested)
    assert not layout.is_simulated_readings(ingested)
    assert layout.is_simulated_readings(layout.simulated_readings("p", "2026-11-20"))
    for key in (ingested, layout.simulated_readings("p", "2026-11-20")):
        assert layout.parse_sensor_day(key) == ("p", "2026-11-20")
        assert layout.sensor_profile_of(key) == "p"
    assert layout.parse_sensor_day(layout.sensor_profile("p")) is None
    assert layout.parse_sensor_profile(layout.sensor_profile("pump")) == "pump"
    assert layout.parse_sensor_profile(ingested) is None


def test_catalog_round_trip():
    assert layout.parse_catalog_entry(layout.catalog_entry("m")) == "m"
    assert layout.parse_catalog_entry(layout.CATALOG_ADOPTED) is None


def test_telemetry_and_registry_keys():
    hour = datetime(2026, 11, 20, 7)
    assert layout.telemetry_hour("pi", hour) == "telemetry/pi/hour=2026-11-20T07/events.parquet"
    assert layout.telemetry_hour("pi", hour).startswith(layout.telemetry_day("pi", "2026-11-20"))
    assert layout.verdict("m", "ab", "parity") == "verdicts/m/ab/parity.json"
    assert layout.model_card("m", "ab") == "registry/m/cards/ab.json"


def test_layout_imports_only_the_standard_library():
    """The gateway and other light installs import it without Dagster or anything else."""
    tree = ast.parse(LAYOUT.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= sys.stdlib_module_names, imported - sys.stdlib_module_names
