"""latent=local: a grid_size x grid_size grid of codes per image, bilinearly interpolated at each coordinate."""

from __future__ import annotations

from nfields.fields.latents.base import Latent, check_grid_size


class LocalLatent(Latent):
    def __init__(self, dim: int = 64, grid_size: int = 4) -> None:
        super().__init__(dim)
        self.local_dim, self.grid_size = self.dim, check_grid_size(grid_size)
