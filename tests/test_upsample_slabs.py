"""The tasks' classical baselines computed in slabs (nfields/tasks/upsample.py) against the whole-array computation:
F.interpolate of every sample at once, clamped, replicate-padded (what they are defined as)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nfields.core.media import as_float, quantize
from nfields.tasks.interpolate import Interpolate
from nfields.tasks.superres import SuperRes
from nfields.tasks.upsample import upsample


def whole(
    small: torch.Tensor, sizes: list[int], shape: list[int], mode: str, corners: bool, clamp: bool
) -> torch.Tensor:
    """The whole-array reference: (*low, C) -> (*shape, C) float (uint8 levels rounded for uint8 samples)."""
    up = F.interpolate(as_float(small).movedim(-1, 0)[None], size=sizes, mode=mode, align_corners=corners)
    up = up.clamp(0, 1) if clamp else up
    pad = [p for a in reversed(range(len(shape))) for p in (0, shape[a] - sizes[a])]
    up = F.pad(up, pad, mode="replicate")[0].movedim(0, -1)
    return quantize(up) if small.dtype == torch.uint8 else up


def clip(shape: tuple[int, ...], channels: int = 3, seed: int = 0) -> torch.Tensor:
    """A random signal (*shape, C) of 8-bit levels."""
    return torch.randint(0, 256, (*shape, channels), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize(
    ("shape", "axes", "factor"),
    [
        ((9, 6, 5), [0], 2),  # video, time (frame averaging): slabs of rows, bit for bit
        ((9, 6, 5), [0], 3),
        ((7, 6, 5), [0, 1, 2], 2),  # every axis: slabs of frames with context; powers of 2 are exact too
        ((11, 6, 5), [1, 2], 2),
        ((37,), [0], 2),  # audio
    ],
)
def test_linear_baseline_in_slabs_equals_whole_array(shape: tuple[int, ...], axes: list[int], factor: int) -> None:
    small = clip(shape)[tuple(slice(None, None, factor) if a in axes else slice(None) for a in range(len(shape)))]
    spans = [(m - 1) * factor + 1 if a in axes else m for a, m in enumerate(small.shape[:-1])]
    mode = "trilinear" if len(shape) == 3 else "linear"
    ref = whole(small, spans, list(shape), mode, True, False)
    for cells in (1, 17, 10**9):  # one row or cell a slab, a few, and the whole signal at once
        got = upsample(small, factor, spans, shape, axes, mode, align_corners=True, cells=cells)
        assert got.dtype == torch.uint8 and got.shape == (*shape, 3)
        assert torch.equal(got, ref), (cells, (got.int() - ref.int()).abs().max())
        got_float = upsample(as_float(small), factor, spans, shape, axes, mode, align_corners=True, cells=cells)
        torch.testing.assert_close(got_float, whole(as_float(small), spans, list(shape), mode, True, False))


def test_slabs_along_an_upsampled_axis_match_to_float_rounding() -> None:
    """Factor 3 along every axis: each slab computes its cells' source positions from their own indices."""
    shape, f = (10, 7, 8), 3
    small = as_float(clip(shape)[::f, ::f, ::f])
    spans = [(m - 1) * f + 1 for m in small.shape[:-1]]
    got = upsample(small, f, spans, shape, [0, 1, 2], "trilinear", align_corners=True, cells=20)
    torch.testing.assert_close(got, whole(small, spans, list(shape), "trilinear", True, False), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("shape", "axes", "mode"),
    [((8, 12, 10), [1, 2], "trilinear"), ((8, 12, 10), [0, 1, 2], "trilinear"), ((13, 10), [0, 1], "bicubic")],
)
def test_superres_baseline_in_slabs_equals_whole_array(shape: tuple[int, ...], axes: list[int], mode: str) -> None:
    """The block means upsampled (align_corners False, clamped: bicubic overshoots) past the covered cells."""
    f = 2
    kernel = [f if a in axes else 1 for a in range(len(shape))]
    low = [n // k for n, k in zip(shape, kernel, strict=True)]
    cover = [m * k for m, k in zip(low, kernel, strict=True)]
    small = torch.rand(*low, 3, generator=torch.Generator().manual_seed(1))
    ref = whole(small, cover, list(shape), mode, False, True)
    for cells in (1, 40, 10**9):
        got = upsample(small, f, cover, shape, axes, mode, align_corners=False, clamp=True, cells=cells)
        assert torch.equal(got, ref), cells


def test_tasks_report_the_slab_baselines_on_a_clip() -> None:
    """interpolate (time) and superres (space) on a video: the baselines they hand evaluation are the
    whole-array ones."""
    video = clip((9, 8, 6))
    obs = Interpolate(axes=[0]).observe(video)
    small = video[::2]
    ref = whole(small, [9, 8, 6], [9, 8, 6], "trilinear", True, False)
    assert torch.equal(obs.baselines["trilinear"], ref)
    assert torch.equal(obs.baselines["trilinear"][1], quantize((as_float(video[0]) + as_float(video[2])) / 2))
    x = as_float(video)
    obs = SuperRes(axes=[1, 2]).observe(x)
    low = F.avg_pool3d(x.movedim(-1, 0)[None], (1, 2, 2))[0].movedim(0, -1)  # (9, 4, 3, C)
    torch.testing.assert_close(obs.baselines["trilinear"], whole(low, [9, 8, 6], [9, 8, 6], "trilinear", False, True))
