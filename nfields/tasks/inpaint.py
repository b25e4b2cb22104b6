"""task=inpaint: train on a random fraction `keep` of the pixels (outside a box, if set), score the rest.

`box` (a fraction of each side, or null) hides a rectangle at a seeded random
position; of the pixels outside it, exactly round(keep * count) are observed,
chosen by the task's seeded RNG: `task.keep=1 task.box=0.25` hides only the box. test/psnr scores
the missing pixels, test/psnr_all the whole image. val/* and test/* score two
disjoint random halves of the missing pixels.
"""

from __future__ import annotations

import torch

from nfields.core.checks import check_arg, nullable, number
from nfields.core.errors import ConfigError
from nfields.tasks.base import Observation, Task, split_mask


class Inpaint(Task):
    name = "inpaint"
    accepts_uint8 = True  # the values are the kept pixels, taken as they are

    def __init__(self, keep: float = 0.5, box: float | None = None, seed: int = 0) -> None:
        check_arg("task.keep", keep, number(gt=0, le=1))  # the fraction of pixels observed
        check_arg("task.box", box, nullable(number(ge=0, le=1)))  # the box side as a fraction of the image side
        super().__init__(seed)
        self.keep, self.box = float(keep), box

    def observed_mask(self, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
        """(h, w) bool: True where the pixel is observed; the count depends on (h, w) only, not on the RNG."""
        allowed = torch.ones(h, w, dtype=torch.bool)
        if self.box:
            bh, bw = max(1, round(self.box * h)), max(1, round(self.box * w))
            top = int(torch.randint(0, h - bh + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - bw + 1, (1,), generator=gen))
            allowed[top : top + bh, left : left + bw] = False
        idx = allowed.flatten().nonzero().squeeze(1)  # (M,) candidate pixels, outside the box
        mask = torch.zeros(h * w, dtype=torch.bool)
        mask[idx[torch.randperm(idx.numel(), generator=gen)[: round(self.keep * idx.numel())]]] = True
        return mask.view(h, w)

    def observe(self, image: torch.Tensor, key: int = 0) -> Observation:
        h, w, c = image.shape
        gen = self.generator(key)
        seen = self.observed_mask(h, w, gen)  # (h, w)
        n_seen = int(seen.sum())
        if n_seen == 0 or n_seen == h * w:
            what = "no pixel is observed" if n_seen == 0 else "no pixel is missing"
            box = "null" if self.box is None else self.box
            raise ConfigError(
                "task.keep", self.keep, f"{what} with task.box={box} on a {h}x{w} image; choose 0 < keep < 1, or a box"
            )
        val, test = split_mask(~seen, gen)
        return Observation(
            values=image[seen],  # (N, C) row-major, the order of train_mask
            train_mask=seen,  # coords implied (Observation.points()): no float grid of every pixel
            display=image * seen[..., None],  # missing pixels black
            eval_mask=test,
            val_mask=val,
        )
