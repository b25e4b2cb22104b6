"""task=denoise: train on the image plus seeded Gaussian noise (std `noise_std`), score vs the clean image.

Noisy values are not clipped (clipping would bias the noise). The clean image is
never observed: val/* and test/* score two disjoint random halves of its pixels.
"""

from __future__ import annotations

import torch

from nfields.core.checks import NON_NEGATIVE, check_arg
from nfields.tasks.base import Observation, Task, split_mask


class Denoise(Task):
    name = "denoise"
    # accepts_uint8 stays False (the Task default): it computes with colours (adds noise to floats in [0, 1])

    def __init__(self, noise_std: float = 0.1, seed: int = 0) -> None:
        check_arg("task.noise_std", noise_std, NON_NEGATIVE)  # the std of the added noise, in [0, 1] units
        super().__init__(seed)
        self.noise_std = float(noise_std)

    def observe(self, image: torch.Tensor, key: int = 0) -> Observation:
        h, w, c = image.shape
        gen = self.generator(key)
        noisy = image + self.noise_std * torch.randn(image.shape, generator=gen)  # (h, w, C)
        val, test = split_mask(torch.ones(h, w, dtype=torch.bool), gen)
        return Observation(
            values=noisy.reshape(-1, c),  # row-major, as train_mask orders the observations
            train_mask=torch.ones(h, w, dtype=torch.bool),  # every pixel, on the grid: coords implied (points())
            display=noisy.clamp(0, 1),
            eval_mask=test,
            val_mask=val,
            baselines={"noisy": noisy.clamp(0, 1)},
        )
