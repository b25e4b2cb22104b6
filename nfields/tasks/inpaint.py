"""task=inpaint: train on a random fraction `keep` of the cells (outside a box, if set), score the rest.

Works on a grid of any dimension. `box` (a fraction of each side, or null) hides a box (a rectangle on an
image, a cuboid in space and time on a video) at a seeded random position; of the cells outside it, exactly
round(keep * count) are observed, chosen by the task's seeded RNG: `task.keep=1 task.box=0.25` hides only the
box. test/psnr scores the missing cells, test/psnr_all the whole signal. val/* and test/* score two disjoint
random halves of the missing cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from nfields.core.checks import check_arg, nullable, number
from nfields.core.errors import ConfigError
from nfields.tasks.base import Observation, Task, signal_noun, size, split_mask


class Inpaint(Task):
    name = "inpaint"
    accepts_uint8 = True  # the values are the kept cells, taken as they are

    def __init__(self, keep: float = 0.5, box: float | None = None, seed: int = 0) -> None:
        check_arg("task.keep", keep, number(gt=0, le=1))  # the fraction of cells observed
        check_arg("task.box", box, nullable(number(ge=0, le=1)))  # the box side as a fraction of each side
        super().__init__(seed)
        self.keep, self.box = float(keep), box

    def observed_mask(self, shape: Sequence[int], gen: torch.Generator) -> torch.Tensor:
        """(*shape) bool: True where the cell is observed; the count depends on the shape only, not on the RNG."""
        allowed = torch.ones(*shape, dtype=torch.bool)
        if self.box:
            sides = [max(1, round(self.box * n)) for n in shape]  # the box's extent along each array axis
            starts = [int(torch.randint(0, n - b + 1, (1,), generator=gen)) for n, b in zip(shape, sides, strict=True)]
            allowed[tuple(slice(s, s + b) for s, b in zip(starts, sides, strict=True))] = False
        idx = allowed.flatten().nonzero().squeeze(1)  # (M,) candidate cells, outside the box
        mask = torch.zeros(allowed.numel(), dtype=torch.bool)
        mask[idx[torch.randperm(idx.numel(), generator=gen)[: round(self.keep * idx.numel())]]] = True
        return mask.view(*shape)

    def observe(self, signal: torch.Tensor, key: int = 0) -> Observation:
        """signal (*shape, C) -> the kept cells: values (N, C) in C order, display with missing cells zero."""
        shape = tuple(signal.shape[:-1])
        gen = self.generator(key)
        seen = self.observed_mask(shape, gen)  # (*shape)
        n_seen = int(seen.sum())
        if n_seen == 0 or n_seen == math.prod(shape):
            noun, unit = signal_noun(shape)
            what = f"no {unit} is observed" if n_seen == 0 else f"no {unit} is missing"
            box = "null" if self.box is None else self.box
            where = f"a {size(shape)} image" if noun == "image" else f"a signal of shape {size(shape)}"
            raise ConfigError(
                "task.keep",
                self.keep,
                f"{what} with task.box={box} on {where}; choose 0 < keep < 1, or a box",
            )
        val, test = split_mask(~seen, gen)
        return Observation(
            values=signal[seen],  # (N, C) C order, the order of train_mask
            train_mask=seen,  # coords implied (Observation.points()): no float grid of every cell
            display=signal * seen[..., None],  # missing cells zero (black)
            eval_mask=test,
            val_mask=val,
        )
