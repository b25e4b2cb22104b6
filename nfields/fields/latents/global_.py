"""latent=global: one code of model.latent_dim numbers per image (the module is named global_: a keyword)."""

from __future__ import annotations

from nfields.fields.latents.base import Latent


class GlobalLatent(Latent):
    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.global_dim = self.dim
