"""latent=hybrid: a global code and a grid of local codes, both model.latent_dim wide, concatenated per point."""

from __future__ import annotations

from nfields.fields.latents.base import Latent, check_grid_size


class HybridLatent(Latent):
    def __init__(self, dim: int = 64, grid_size: int = 4) -> None:
        super().__init__(dim)
        self.global_dim = self.local_dim = self.dim
        self.grid_size = check_grid_size(grid_size)
