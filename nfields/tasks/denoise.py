"""task=denoise: train on the signal plus seeded Gaussian noise (std `noise_std`), score vs the clean signal.

Works on a grid of any dimension (the noise is drawn per value). Noisy values are not clipped (clipping would
bias the noise). The clean signal is never observed: val/* and test/* score two disjoint random halves of its
cells.
"""

from __future__ import annotations

import torch

from nfields.core.checks import NON_NEGATIVE, check_arg
from nfields.tasks.base import Observation, Task, split_mask


class Denoise(Task):
    name = "denoise"
    # accepts_uint8 stays False (the Task default): it computes with values (adds noise to floats in [0, 1])

    def __init__(self, noise_std: float = 0.1, seed: int = 0) -> None:
        check_arg("task.noise_std", noise_std, NON_NEGATIVE)  # the std of the added noise, in [0, 1] units
        super().__init__(seed)
        self.noise_std = float(noise_std)

    def observe(self, signal: torch.Tensor, key: int = 0) -> Observation:
        """signal (*shape, C) -> every cell plus noise: values (N, C) in C order, display (*shape, C) clipped."""
        shape, c = signal.shape[:-1], signal.shape[-1]
        gen = self.generator(key)
        noisy = signal + self.noise_std * torch.randn(signal.shape, generator=gen)  # (*shape, C)
        val, test = split_mask(torch.ones(shape, dtype=torch.bool), gen)
        return Observation(
            values=noisy.reshape(-1, c),  # C order, as train_mask orders the observations
            train_mask=torch.ones(shape, dtype=torch.bool),  # every cell, on the grid: coords implied (points())
            display=noisy.clamp(0, 1),
            eval_mask=test,
            val_mask=val,
            baselines={"noisy": noisy.clamp(0, 1)},
        )
