"""What the codec reads from a finished run (its checkpoint, its signal) and how a decoded field is scored.

A run directory means its checkpoints/last.ckpt. The field is loaded as scripts/render.py loads it
(nfields.run.build.load_field: weights_only, stored config checked against the allowlist); the reference
signal for the PSNR is the run's own data, rebuilt from the stored config (its data and task targets are
checked the same way), or an image file given instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nfields.core.errors import CheckpointError, ImageError
from nfields.core.io import load_image
from nfields.core.media import as_float, quantize
from nfields.core.metrics import psnr
from nfields.fields.base import Field
from nfields.fields.field import render_grid
from nfields.run.build import as_config, build_datamodule, load_field
from nfields.run.exits import building
from nfields.run.resume import checkpoint_of, read_checkpoint
from nfields.run.trusted import MODULE_KEYS, check_stored_config


@dataclass
class Run:
    """A trained field, the signal's (*grid, C), the run's resolved config, domain and rate."""

    checkpoint: Path
    field: Field
    shape: tuple[int, ...]
    config: dict[str, Any]
    domain: str
    rate: Any


def load_run(path: Path, searchpath: Sequence[str | Path] = ()) -> Run:
    ckpt = checkpoint_of(path)
    meta = read_checkpoint(ckpt)  # weights_only
    if meta.get("nfields_members"):
        raise CheckpointError(f"{ckpt}: a model=many checkpoint holds many fields; the codec takes one field's run")
    field, shape = load_field(ckpt, searchpath=searchpath, ckpt=meta)  # checks the stored config's targets
    domain = meta.get("nfields_domain") or "image"
    return Run(ckpt, field, tuple(shape), meta["nfields_config"], domain, meta.get("nfields_rate"))


def reference(run: Run, image: Path | None = None, searchpath: Sequence[str | Path] = ()) -> torch.Tensor:
    """The signal the field was fitted to, (*grid, C) float in [0, 1]: `image` if given, else the run's data."""
    if image is not None:
        target = as_float(load_image(image, keep_uint8=True))
    else:
        cfg = as_config(check_stored_config(run.config, f"checkpoint {run.checkpoint}", MODULE_KEYS, searchpath))
        with building(f"checkpoint {run.checkpoint}: reading its data: "):
            target = as_float(build_datamodule(cfg).signal)
    if tuple(target.shape) != run.shape:
        where = image or "the run's data"
        raise ImageError(f"{where}: shape {tuple(target.shape)}, the field was fitted to {run.shape}")
    return target


def render_levels(field: Field, grid: Sequence[int], chunk: int = 65536, device: str = "cpu") -> torch.Tensor:
    """The field on a grid, quantised as a file stores it: (*grid, C) uint8 on the host."""
    return quantize(render_grid(field.to(device), tuple(grid), chunk=chunk, device=torch.device(device))).cpu()


def levels_psnr(field: Field, target: torch.Tensor, chunk: int = 65536, device: str = "cpu") -> float:
    """PSNR (dB) of the field's 8-bit render against `target` (*grid, C) in [0, 1]: what the decoded file scores.
    (COIN's code means to score this too, but its calls clamp and round the ground truth, not the render: its
    published PSNRs are of the unclamped render; scripts/baselines/coin.py prints both.)"""
    return psnr(as_float(render_levels(field, target.shape[:-1], chunk, device)), target)


def n_parameters(field: Field) -> int:
    """Real numbers the field trains (complex weights count twice), COIN's parameter count."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in field.parameters())
