"""task=superres: train on a block-averaged signal, render at full resolution, score vs the original.

The low-resolution signal averages blocks of `factor` cells along each of `task.axes` (null: every axis; an
image's f x f blocks; a video's spatial super-resolution is axes [1, 2]). The forward model is the same box
filter applied to the field: a low-res cell observes the mean of the field at the f^k full-resolution cell
centres of its block (k = len(axes); the standard box forward model of super-resolution), so the field is
trained as the continuous signal whose block means are the observation, not as a signal whose value at each
block centre is the block mean. Classical upsampling of the low-res signal is reported beside the field as
`<stage>/psnr_<mode>` (same cells): bicubic on 2-D grids, linear on 1-D, trilinear on 3-D, none on others.
Every cell is unobserved at full resolution: val/* and test/* score two disjoint random halves of the covered
cells, those under whole blocks. When a side is not a multiple of f, the cells past its last block are observed
by no low-res cell (extrapolation, not super-resolution), so like the SR literature's crop to a multiple of the
scale they are left out of psnr and the baseline (both on the same cells); psnr_all and ssim still see all.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from nfields.core.checks import check_arg, integer
from nfields.core.errors import ConfigError
from nfields.tasks.base import AXES, FieldFn, Observation, Task, grid_axes, size, split_mask
from nfields.tasks.interpolate import nearest_up
from nfields.tasks.upsample import upsample

POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}  # d -> the block mean over (1, C, *shape)
UPSAMPLE = {1: "linear", 2: "bicubic", 3: "trilinear"}  # d -> the baseline's mode (its name in the metrics)


def block_means(x: torch.Tensor, kernel: Sequence[int]) -> torch.Tensor:
    """(1, C, *shape) cropped to whole blocks -> (1, C, *shape // kernel): the mean of each block."""
    if x.dim() - 2 in POOL:
        return POOL[x.dim() - 2](x, tuple(kernel))
    view = [n for m, k in zip(x.shape[2:], kernel, strict=True) for n in (m // k, k)]  # (.., n_a / k_a, k_a, ..)
    return x.reshape(*x.shape[:2], *view).mean(dim=tuple(range(3, 2 + len(view), 2)))


class SuperRes(Task):
    name = "superres"
    # accepts_uint8 stays False (the Task default): it computes with values (block means of floats in [0, 1])

    def __init__(self, factor: int = 2, axes: Sequence[int] | None = None, seed: int = 0) -> None:
        check_arg("task.factor", factor, integer(lo=1))  # 2.5 is refused, not truncated: blocks are whole cells
        check_arg("task.axes", axes, AXES)  # the array axes averaged over; null: every axis
        super().__init__(seed)
        self.factor = factor
        self.axes = None if axes is None else [int(a) for a in axes]

    def forward_model(self, field_fn: FieldFn, obs: Observation) -> torch.Tensor:
        """The field averaged over each low-res cell's footprint: obs.coords (..., N, d) block centres,
        obs.footprint (K, d), K = f^k -> (..., N, C), the mean of the field at the K full-resolution cell
        centres of each block."""
        coords, footprint = obs.points(), obs.footprint
        k = footprint.shape[0]
        pts = coords.unsqueeze(-2) + footprint.to(coords)  # (..., N, K, d)
        out = field_fn(pts.flatten(-3, -2))  # (..., N*K, C)
        return out.unflatten(-2, (coords.shape[-2], k)).mean(-2)  # (..., N, C)

    def observe(self, signal: torch.Tensor, key: int = 0) -> Observation:
        """signal (*shape, C) -> the block means (N, C) at the block centres coords (N, d), footprint (f^k, d)."""
        shape, c = tuple(signal.shape[:-1]), signal.shape[-1]
        d, f = len(shape), self.factor
        axes = grid_axes(self.axes, shape)
        kernel = [f if a in axes else 1 for a in range(d)]
        low = [n // k for n, k in zip(shape, kernel, strict=True)]  # the low-res shape
        if min(low) < 1:
            where = f"the image ({size(shape)})"
            if d != 2:
                where = f"the signal along axis {low.index(0)} (shape {size(shape)})"
            raise ConfigError("task.factor", f, f"is larger than {where}; use a smaller factor")
        cover = [m * k for m, k in zip(low, kernel, strict=True)]  # the cells under whole blocks, per axis
        x = signal[tuple(slice(0, n) for n in cover)].movedim(-1, 0)[None]  # (1, C, *cover): whole blocks only
        small = block_means(x, kernel)  # (1, C, *low)
        centres = [
            (torch.arange(m, dtype=torch.float32) * k + k / 2) / n for m, k, n in zip(low, kernel, shape, strict=True)
        ]
        mesh = torch.meshgrid(*centres, indexing="ij")  # d x low; coordinate j runs along array axis d - 1 - j
        coords = torch.stack(mesh[::-1], -1).reshape(-1, d)  # (N, d) block centres, full-grid frame
        offsets = [(torch.arange(k, dtype=torch.float32) + 0.5 - k / 2) / n for k, n in zip(kernel, shape, strict=True)]
        mesh = torch.meshgrid(*offsets, indexing="ij")  # full-res cell centres around a block centre (0 off axes)
        footprint = torch.stack(mesh[::-1], -1).reshape(-1, d)  # (f^k, d) offsets in this grid's frame
        covered = torch.zeros(shape, dtype=torch.bool)  # (*shape): the cells under whole blocks
        covered[tuple(slice(0, n) for n in cover)] = True
        val, test = split_mask(covered, self.generator(key))
        values = small[0].movedim(0, -1)  # (*low, C)
        baselines = {}
        if d in UPSAMPLE:  # the low-res signal upsampled classically, the last block repeated past the covered cells
            kept = [a for a in range(d) if kernel[a] > 1]
            up = upsample(values, f, cover, shape, kept, UPSAMPLE[d], align_corners=False, clamp=True)  # in slabs
            baselines[UPSAMPLE[d]] = up  # (*shape, C)
        return Observation(
            values=values.reshape(-1, c),  # (N, C) block means, in the order of coords
            coords=coords,
            footprint=footprint,
            display=_pad_display(values, f, shape, axes),
            eval_mask=test,
            val_mask=val,
            baselines=baselines,
        )


def _pad_display(small: torch.Tensor, f: int, shape: Sequence[int], axes: Sequence[int]) -> torch.Tensor:
    """(*low, C) -> (*shape, C) nearest upsampled along axes; cells not covered by whole blocks stay zero."""
    out = torch.zeros(*shape, small.shape[-1])
    up = nearest_up(small, f, shape, axes)
    out[tuple(slice(0, n) for n in up.shape[:-1])] = up
    return out
