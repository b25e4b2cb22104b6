"""data=synthetic: small images generated in memory (coloured Gaussian blobs on a plain background), for tests.

Seeded, so every run sees the same images; no files are read.
"""

from __future__ import annotations

from typing import Any

import torch

from nfields.core.checks import POSITIVE_INT, check_arg, integer
from nfields.core.coords import pixel_grid
from nfields.data.collection import CollectionDataModule, TensorImages


def blobs(n: int, size: int, channels: int, n_blobs: int = 2, seed: int = 0) -> torch.Tensor:
    """n images (n, size, size, channels) in [0, 1]: a background colour plus `n_blobs` soft discs."""
    g = torch.Generator().manual_seed(int(seed))
    xy = pixel_grid(size, size)  # (S, S, 2)
    img = torch.rand(n, 1, 1, channels, generator=g) * 0.5  # (n, 1, 1, C) background
    for _ in range(n_blobs):
        centre = torch.rand(n, 1, 1, 2, generator=g) * 0.6 + 0.2
        radius = torch.rand(n, 1, 1, 1, generator=g) * 0.15 + 0.1
        colour = torch.rand(n, 1, 1, channels, generator=g)
        w = torch.exp(-((xy - centre) ** 2).sum(-1, keepdim=True) / (2 * radius**2))  # (n, S, S, 1)
        img = img * (1 - w) + colour * w
    return img.clamp(0, 1)


class SyntheticDataModule(CollectionDataModule):
    def __init__(self, n_images: int = 128, size: int | None = 16, channels: int = 3, seed: int = 0, **kw: Any) -> None:
        check_arg("data.n_images", n_images, integer(lo=3))  # a train, a val and a test image at least
        check_arg("data.size", size, POSITIVE_INT)  # generated at this side: no null (no original size)
        check_arg("data.channels", channels, POSITIVE_INT)
        super().__init__(size=None, **kw)  # generated at the right size already
        self.n_images, self.image_size, self.n_channels, self.seed = n_images, size, channels, seed

    def load_pools(self) -> tuple[TensorImages, None]:
        return TensorImages(blobs(self.n_images, self.image_size, self.n_channels, seed=self.seed)), None
