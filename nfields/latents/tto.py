"""Test-time optimisation (TTO): fit fresh codes to unseen images with the network frozen.

Only the codes are optimised (Adam, model.tto_lr) on the observed pixels (`mask`,
e.g. for inpainting; None = every pixel), with the source's L2 prior; each step uses
`pixels` random pixels per image (None = all, like data.pixels_per_image in training).
PSNR is measured on all pixels along the way, giving the PSNR-vs-step curve.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from nfields.field import NeuralField
from nfields.latents.sources.base import LatentSource
from nfields.tasks.base import pixel_grid


@dataclass
class TTOResult:
    codes: torch.Tensor | None  # (B, code_dim) after optimisation; None for an unconditioned field
    pred: torch.Tensor  # (B, H, W, C) in [0, 1], decoded from the final codes
    psnr: torch.Tensor  # (B,) per-image PSNR on all pixels, final
    curve: list[tuple[int, float]]  # (step, mean PSNR over the batch)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters get no gradients inside the block (restored after): TTO cannot change the network."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(f)


def per_image_psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, ..., C) pairs in [0, 1] -> (B,) PSNR in dB."""
    mse = (pred.clamp(0, 1) - target).pow(2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


def eval_steps(steps: int, n_points: int = 20) -> set[int]:
    """Steps at which the curve is measured: 0, about n_points evenly spaced, and the last."""
    return {0, steps, *range(0, steps + 1, max(1, steps // n_points))}


def decode(field: NeuralField, codes: torch.Tensor | None, b: int, h: int, w: int) -> torch.Tensor:
    """codes (B, code_dim) (None: unconditioned) -> images (B, h, w, C) rendered on the pixel grid."""
    coords = pixel_grid(h, w, device=next(field.parameters()).device).reshape(-1, 2)  # (h*w, 2)
    out = field(coords) if codes is None else field(coords, codes)  # (h*w, C) | (B, h*w, C)
    return out.float().reshape(-1, h, w, out.shape[-1]).expand(b, -1, -1, -1)


def optimize_codes(
    field: NeuralField,
    source: LatentSource | None,
    images: torch.Tensor,
    steps: int,
    lr: float = 1e-2,
    mask: torch.Tensor | None = None,
    pixels: int | None = None,
) -> TTOResult:
    """images (B, H, W, C) in [0, 1]; mask (B, H, W) bool of observed pixels (None = all)."""
    b, h, w, c = images.shape
    if steps < 0:
        raise ValueError(f"model.tto_steps must be >= 0, got {steps}")
    if source is None or field.cond is None:  # nothing to optimise: the field is the same for every image
        with torch.no_grad():
            pred = decode(field, None, b, h, w)
        psnr = per_image_psnr(pred, images)
        return TTOResult(None, pred, psnr, [(0, float(psnr.mean()))])
    coords = pixel_grid(h, w, device=images.device).reshape(-1, 2)  # (HW, 2), shared by the batch
    values = images.reshape(b, h * w, c)  # (B, HW, C)
    weight = None if mask is None else mask.reshape(b, h * w, 1).float()  # (B, HW, 1)
    curve, at = [], eval_steps(steps)
    with frozen(field), frozen(source):
        codes = source.init_codes(images, mask).detach().clone().requires_grad_(True)  # (B, code_dim)
        opt = torch.optim.Adam([codes], lr=lr)
        for step in range(steps + 1):
            if step in at:
                with torch.no_grad():
                    curve.append((step, float(per_image_psnr(decode(field, codes, b, h, w), images).mean())))
            if step == steps:
                break
            x, y, m = coords, values, weight
            if pixels is not None and pixels < h * w:
                idx = torch.randint(0, h * w, (b, pixels), device=images.device)  # (B, P)
                x, y = coords[idx], torch.gather(values, 1, idx.unsqueeze(-1).expand(-1, -1, c))
                m = None if weight is None else torch.gather(weight, 1, idx.unsqueeze(-1))
            err = (field(x, codes).float() - y).pow(2)  # (B, P, C)
            if m is None:
                loss = err.mean()
            else:
                loss = ((err * m).flatten(1).sum(1) / (m.flatten(1).sum(1) * c).clamp_min(1)).mean()
            loss = loss + source.regularization(codes)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        codes = codes.detach()
        with torch.no_grad():
            pred = decode(field, codes, b, h, w)
    return TTOResult(codes, pred, per_image_psnr(pred, images), curve)
