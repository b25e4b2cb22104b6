"""task=interpolate: train on every `factor`-th cell along each of `task.axes`, score the held-out cells.

On an image (axes null: both) factor 2 is the protocol of Tancik et al. 2020: a 512^2 image, trained on the
256^2 even grid (rows and columns 0, 2, 4, ...), tested on the odd grid (1, 3, 5, ...). In general test/*
scores the held-out cells off every training line (i_a % f != 0 along every axis a in task.axes: the odd grid
for f = 2), and val/* the other held-out cells (on a training line of some axis), so the two never share a
cell. Along one axis (audio's samples, a video's frames: axes [0], frame-rate up-conversion) every held-out cell
is off the training lines, so val/* and test/* score two seeded random halves of them instead.

Baseline (`<stage>/psnr_<name>`): on 1-D and 3-D grids the training cells interpolated linearly along the axes
(`linear`, `trilinear`; a video along time with f = 2: the mean of the two neighbouring frames, frame averaging),
the last training cell repeated past the end; images report none, as in the paper's protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nfields.core.checks import check_arg, integer
from nfields.core.errors import ConfigError
from nfields.tasks.base import AXES, Observation, Task, grid_axes, size, split_mask
from nfields.tasks.upsample import upsample

LINEAR = {1: "linear", 3: "trilinear"}  # d -> the baseline's interpolation mode (its name in the metrics)


def nearest_up(small: torch.Tensor, factor: int, shape: Sequence[int], axes: Sequence[int]) -> torch.Tensor:
    """(*small, C) -> (*shape, C): each small cell repeated `factor` times along each of `axes`, cropped to shape."""
    for a in axes:
        small = small.repeat_interleave(factor, a)
    return small[tuple(slice(0, n) for n in shape)]


def linear_up(small: torch.Tensor, factor: int, shape: Sequence[int], axes: Sequence[int]) -> torch.Tensor | None:
    """(*small, C) samples at cells 0, f, 2f, ... of `axes` -> (*shape, C) interpolated linearly between them along
    those axes (the other axes as they are), the last sample repeated past it; same dtype as small (uint8 levels
    rounded). None where there is no mode for the dimension (LINEAR). Computed in slabs (tasks/upsample.py)."""
    mode = LINEAR.get(len(shape))
    if mode is None:
        return None
    spans = [(m - 1) * factor + 1 if a in axes else m for a, m in enumerate(small.shape[:-1])]  # sample to sample
    return upsample(small, factor, spans, shape, axes, mode, align_corners=True)  # sample i lands on cell i * f


class Interpolate(Task):
    name = "interpolate"
    accepts_uint8 = True  # the values are cells of a sub-grid, taken as they are

    def __init__(self, factor: int = 2, axes: Sequence[int] | None = None, seed: int = 0) -> None:
        check_arg("task.factor", factor, integer(lo=2))  # factor 1 holds nothing out: that is task=fit
        check_arg("task.axes", axes, AXES)  # the array axes sub-sampled; null: every axis
        super().__init__(seed)
        self.factor = factor
        self.axes = None if axes is None else [int(a) for a in axes]

    def observe(self, signal: torch.Tensor, key: int = 0) -> Observation:
        """signal (*shape, C) -> the cells on every f-th line of task.axes: values (N, C) in C order."""
        shape, c = tuple(signal.shape[:-1]), signal.shape[-1]
        d, f = len(shape), self.factor
        axes = grid_axes(self.axes, shape)
        if any(shape[a] < 2 for a in axes):
            need = "x".join("2" if a in axes else "1" for a in range(d))
            what = f"an image of at least {need} pixels" if d == 2 else f"a signal of at least {need} cells"
            fix = "raise data.size" if d == 2 else "use a longer signal, or other task.axes"
            raise ConfigError("task", "interpolate", f"needs {what}, got {size(shape)}; {fix}")
        train = torch.ones(shape, dtype=torch.bool)  # (*shape)
        test = torch.ones(shape, dtype=torch.bool)
        for a in axes:
            i = torch.arange(shape[a]).view([-1 if b == a else 1 for b in range(d)]) % f  # varies along axis a
            train = train & (i == 0)
            test = test & (i != 0)  # off every training line
        val = ~train & ~test
        if not val.any() or not test.any():  # one axis (or a tiny grid): two random halves of the held-out cells
            val, test = split_mask(~train, self.generator(key))
        small = signal[tuple(slice(None, None, f) if a in axes else slice(None) for a in range(d))]  # (*small, C)
        baseline = linear_up(small, f, shape, axes)
        return Observation(
            values=small.reshape(-1, c),  # C order: the order of train_mask's cells
            train_mask=train,  # coords implied (Observation.points()): the even grid for f = 2
            display=nearest_up(small, f, shape, axes),
            eval_mask=test,
            val_mask=val,
            baselines={} if baseline is None else {LINEAR[d]: baseline},
        )
