"""ONNX files as the artifact store holds them, with what was measured of each."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resources.artifacts import ArtifactStore, sha256_file

if TYPE_CHECKING:
    import onnx


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (None for a dynamic axis) and dtype of a graph input, as a client sees it."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. a sensor's signals and window

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "description": self.description,
            **self.extra,
        }


@dataclass(frozen=True)
class ModelFile:
    precision: str
    key: str
    sha256: str
    bytes: int
    input_spec: dict[str, Any]
    outputs: tuple[str, ...]
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    # compact weights: {"precision", "encoding", "sha256", "bytes"} of the model they expand to
    expands_to: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["outputs"] = list(self.outputs)
        return document


def store_model_file(
    store: ArtifactStore,
    path: Path,
    *,
    key: str,
    precision: str,
    input_spec: dict[str, Any],
    outputs: tuple[str, ...],
    latency: dict[str, dict[str, float]] | None = None,
    gate: dict[str, Any] | None = None,
    expands_to: dict[str, Any] | None = None,
) -> ModelFile:
    """Upload ``path`` under ``key`` and describe it."""
    store.put_file(key, path, content_type="application/octet-stream")
    return ModelFile(
        precision=precision,
        key=key,
        sha256=sha256_file(path),
        bytes=path.stat().st_size,
        input_spec=input_spec,
        outputs=outputs,
        latency=latency or {},
        gate=gate or {},
        expands_to=expands_to or {},
    )


def readable_by_older_runtimes(model: "onnx.ModelProto") -> "onnx.ModelProto":
    """Mark ``model`` with the lowest IR version its opsets need. onnx writes its newest (14 for
    onnx 1.23), which older onnxruntime releases refuse to load although nothing in the graph
    needs it: a Pi on Python 3.9 has onnxruntime 1.19, which reads IR 10 at most."""
    import onnx

    model.ir_version = onnx.helper.find_min_ir_version_for(
        list(model.opset_import), ignore_unknown=True
    )
    return model
