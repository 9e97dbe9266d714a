"""PyTorch -> one self-contained ONNX file, checked and labelled with its input contract."""

import json
import logging
from pathlib import Path

import onnx
import torch

from assets.conversion.model_file import TensorSpec, readable_by_older_runtimes

log = logging.getLogger(__name__)

OPSET = 18


def strip_debug_info(model: onnx.ModelProto) -> None:
    """Drop the exporter's stack traces, scopes and intermediate shapes: they name the build
    machine's paths and made up 3 % of a MobileNetV2 file (enough to break the fp16 size gate).
    onnxruntime infers the shapes again when it loads the model."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.metadata_props[:]
    del model.graph.value_info[:]


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    input_spec: TensorSpec,
    output_names: list[str],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Export ``module`` with a dynamic batch axis to a single .onnx file and check it.

    torch 2.14's dynamo exporter writes weights as external data unless told not to; a client
    wants one file, so ``external_data=False``.
    """
    module = module.eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[input_spec.name],
            output_names=output_names,
            opset_version=OPSET,
            dynamic_shapes=({0: batch},),
            external_data=False,
            dynamo=True,
            verbose=False,
        )
    model = readable_by_older_runtimes(onnx.load(str(path)))
    strip_debug_info(model)
    onnx.checker.check_model(model, full_check=True)
    entries = {"input_spec": json.dumps(input_spec.as_dict()), **(metadata or {})}
    onnx.helper.set_model_props(model, entries)
    onnx.save_model(model, str(path))
    log.info("exported %s (%.1f kB, opset %d)", path.name, path.stat().st_size / 1e3, OPSET)
    return path
