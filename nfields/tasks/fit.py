"""task=fit: represent the image itself (train and evaluate on every pixel)."""

from __future__ import annotations

import torch

from nfields.tasks.base import Observation, Task


class Fit(Task):
    name = "fit"
    accepts_uint8 = True  # the values are the image's own pixels, taken as they are

    def observe(self, image: torch.Tensor, key: int = 0) -> Observation:
        h, w, c = image.shape
        every = torch.ones(h, w, dtype=torch.bool)  # on the grid, all of it: coords are implied (points())
        return Observation(image.reshape(-1, c), train_mask=every, display=image)
