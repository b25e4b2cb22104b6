"""Classical upsampling of a sub-sampled signal in slabs: the tasks' baselines (interpolate's linear / trilinear,
superres's linear / bicubic / trilinear) with memory bounded by a slab, whatever the signal's size.

The whole-array computation is F.interpolate of the samples (1, C, *low) to `sizes` (one size per axis), clamped
to [0, 1] if asked, then replicate-padded to the signal's `shape`: on a 1280x720x132 video that holds several
float copies of the clip at once. Here the output (*shape, C) is filled slab by slab along one axis `c`:

  * an axis the task does not act on, when there is one (a video interpolated in time is filled a few rows of
    every frame at a time): interpolation is the identity along it (in and out sizes equal: weights exactly 1
    and 0), so each slab is bit for bit the whole-array computation's;
  * else axis 0 (audio; a volume or an image interpolated along every axis), each slab from the samples it
    reads plus two on each side (the cubic kernel's reach; the borders clamped where the whole signal's are).
    Within a slab a cell's source position is computed from its index in the slab, so for a factor that is
    not a power of 2 the weights may differ from the whole-array ones in the last bit of float32. A signal of
    at most `cells` cells is one slab: the whole-array computation itself (every image's baseline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from nfields.core.media import as_float, quantize

SLAB_CELLS = 1 << 22  # output cells per slab: 48 MB of float32 RGB at a time


def upsample(
    small: torch.Tensor,
    factor: int,
    sizes: Sequence[int],
    shape: Sequence[int],
    axes: Sequence[int],
    mode: str,
    align_corners: bool,
    clamp: bool = False,
    cells: int = SLAB_CELLS,
) -> torch.Tensor:
    """small (*low, C) samples (uint8 levels or float) -> (*shape, C): F.interpolate to `sizes`, clamped to [0, 1]
    if `clamp`, replicate-padded to `shape`; uint8 levels (rounded) for uint8 samples, else float32. `axes` are
    the axes upsampled by `factor`; along the others sizes[a] == low[a]."""
    d, f = len(shape), factor
    low = small.shape[:-1]
    c = next((a for a in range(d) if a not in axes), 0)  # the slab axis: one the task does not act on, or 0
    free = c not in axes
    out = torch.empty((*shape, small.shape[-1]), dtype=torch.uint8 if small.dtype == torch.uint8 else torch.float32)
    step = max(1, cells // max(1, math.prod(shape) // shape[c]))  # indices along c per slab
    lim = sizes[c]  # cells along c that F.interpolate computes; those past it repeat the last
    pad = [p for a in reversed(range(d)) for p in (0, 0 if a == c else shape[a] - sizes[a])]  # F.pad: last axis first
    for o0 in range(0, shape[c], step):
        o1 = min(shape[c], o0 + step)
        a0, a1 = min(o0, lim - 1), min(o1, lim)  # the computed cells this slab reads
        if free:
            k0, k1, n, base = a0, a1 - 1, a1 - a0, a0
        else:  # the samples under the slab and two more each side; the slab's cell j is cell j - k0 f of the part
            k0, k1 = max(0, a0 // f - 2), min(low[c] - 1, (a1 - 1) // f + 2)
            n, base = ((k1 - k0) * f + 1) if align_corners else (k1 - k0 + 1) * f, k0 * f
        part = as_float(small.narrow(c, k0, k1 - k0 + 1)).movedim(-1, 0)[None]  # (1, C, *part)
        size = [n if a == c else sizes[a] for a in range(d)]
        up = F.interpolate(part, size=size, mode=mode, align_corners=align_corners)
        up = F.pad(up.clamp_(0, 1) if clamp else up, pad, mode="replicate")
        rows = torch.arange(o0, o1).clamp_(max=lim - 1) - base  # past lim: the last computed cell
        up = up.index_select(c + 2, rows)[0].movedim(0, -1)  # (*slab, C)
        out.narrow(c, o0, o1 - o0).copy_(quantize(up) if out.dtype == torch.uint8 else up)
    return out
