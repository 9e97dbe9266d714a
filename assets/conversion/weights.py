"""PyTorch weights in the artifact store: saved by training assets, loaded by export assets."""

import tempfile
from pathlib import Path
from typing import TypeVar

import torch

from resources.artifacts import ArtifactStore

Module = TypeVar("Module", bound=torch.nn.Module)


def save_weights(module: torch.nn.Module, store: ArtifactStore, key: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(module.state_dict(), Path(tmp) / "model.pt")
        store.put_file(key, Path(tmp) / "model.pt")


def load_weights(module: Module, store: ArtifactStore, key: str) -> Module:
    """``module`` with the weights at ``key``, in eval mode. ``weights_only``: a weights file is
    data, never code to unpickle."""
    with tempfile.TemporaryDirectory() as tmp:
        path = store.get_file(key, Path(tmp) / "model.pt")
        module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return module.eval()
