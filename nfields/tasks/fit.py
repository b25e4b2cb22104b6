"""task=fit: represent the signal itself (train and evaluate on every cell), on a grid of any dimension."""

from __future__ import annotations

import torch

from nfields.tasks.base import Observation, Task


class Fit(Task):
    name = "fit"
    accepts_uint8 = True  # the values are the signal's own cells, taken as they are

    def observe(self, signal: torch.Tensor, key: int = 0) -> Observation:
        """signal (*shape, C) -> every cell, values (N, C) in C order (train_mask all True: coords implied)."""
        c = signal.shape[-1]
        every = torch.ones(signal.shape[:-1], dtype=torch.bool)  # on the grid, all of it: coords implied (points())
        return Observation(signal.reshape(-1, c), train_mask=every, display=signal)
