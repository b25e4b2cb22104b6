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
        # On the grid, all of it: coords implied (points()). One True broadcast to the shape (stride 0): a mask as
        # large as the signal would be a third of a uint8 RGB video's own bytes, held for the whole run.
        every = torch.ones((1,) * (signal.dim() - 1), dtype=torch.bool).expand(signal.shape[:-1])
        return Observation(signal.reshape(-1, c), train_mask=every, display=signal)
