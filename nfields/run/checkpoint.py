"""Checkpoint I/O that never leaves a half-written file behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes `<path>.tmp`, fsyncs it, then renames over `<path>`.

    os.replace is atomic on POSIX: a kill at any moment leaves either the previous
    checkpoint or the new one at `path`, never a truncated file.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def load_checkpoint(self, path: str | Path, map_location: Any = None, weights_only: bool | None = None) -> dict:
        """weights_only unless told otherwise: resuming never runs code stored in the checkpoint file."""
        kwargs = {"map_location": map_location} if map_location is not None else {}
        return super().load_checkpoint(path, weights_only=True if weights_only is None else weights_only, **kwargs)
