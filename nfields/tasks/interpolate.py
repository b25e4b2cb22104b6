"""task=interpolate: train on every `factor`-th pixel of each axis, score the held-out pixels.

factor 2 is the protocol of Tancik et al. 2020: a 512^2 image, trained on the
256^2 even grid (rows and columns 0, 2, 4, ...), tested on the odd grid (1, 3, 5, ...).
In general test/* scores the held-out pixels off every training row and column
(i % f != 0 and j % f != 0: the odd grid for f = 2), and val/* the other held-out
pixels (those on a training row or column), so the two never share a pixel.
"""

from __future__ import annotations

import torch

from nfields.core.checks import check_arg, integer
from nfields.core.errors import ConfigError
from nfields.tasks.base import Observation, Task


def nearest_up(small: torch.Tensor, factor: int, h: int, w: int) -> torch.Tensor:
    """(h', w', C) -> (h, w, C): each small pixel repeated factor x factor times, cropped to (h, w)."""
    return small.repeat_interleave(factor, 0).repeat_interleave(factor, 1)[:h, :w]


class Interpolate(Task):
    name = "interpolate"
    accepts_uint8 = True  # the values are pixels of a sub-grid, taken as they are

    def __init__(self, factor: int = 2, seed: int = 0) -> None:
        check_arg("task.factor", factor, integer(lo=2))  # factor 1 holds nothing out: that is task=fit
        super().__init__(seed)
        self.factor = factor

    def observe(self, image: torch.Tensor, key: int = 0) -> Observation:
        h, w, c = image.shape
        f = self.factor
        if h < 2 or w < 2:
            raise ConfigError(
                "task", "interpolate", f"needs an image of at least 2x2 pixels, got {h}x{w}; raise data.size"
            )
        rows = torch.arange(h)[:, None] % f  # (h, 1)
        cols = torch.arange(w)[None, :] % f  # (1, w)
        train = (rows == 0) & (cols == 0)  # (h, w)
        test = (rows != 0) & (cols != 0)  # off every training row and column
        val = ~train & ~test
        if not val.any() or not test.any():  # tiny images: share what is held out
            val = test = ~train
        small = image[::f, ::f]  # (h', w', C)
        return Observation(
            values=small.reshape(-1, c),  # row-major: the order of train_mask's pixels
            train_mask=train,  # coords implied (Observation.points()): the even grid for f = 2
            display=nearest_up(small, f, h, w),
            eval_mask=test,
            val_mask=val,
        )
