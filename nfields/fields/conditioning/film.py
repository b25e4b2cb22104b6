"""cond=film: feature-wise linear modulation (Perez et al. 2018; pi-GAN for SIREN).

For every hidden layer i a small network maps the code to (dgamma_i, beta_i) and the
pre-activation becomes h * (1 + dgamma_i) + beta_i. The maps' last layers start at zero,
so an untrained FiLM field is exactly the unconditioned network (identity init).
`scale=False` keeps only the shifts beta_i (Functa's shift modulation, Dupont et al. 2022).
`identity_init=False` draws the maps' last layers like any linear layer instead (an ablation:
at identity the code gets no gradient until the maps have moved off zero).
"""

from __future__ import annotations

import torch
from torch import nn

from nfields.core.checks import boolean, check_arg
from nfields.core.errors import ConfigError
from nfields.fields.conditioning.base import HIDDEN, Conditioning, small_mlp
from nfields.fields.latents.base import Latent
from nfields.fields.networks.base import FieldNetwork


class FiLM(Conditioning):
    def __init__(self, latent: Latent, hidden: int = 0, scale: bool = True, identity_init: bool = True) -> None:
        super().__init__(latent)
        check_arg("cond.hidden", hidden, HIDDEN)
        check_arg("cond.scale", scale, boolean())
        check_arg("cond.identity_init", identity_init, boolean())
        self.hidden, self.scale, self.identity_init = hidden, scale, identity_init
        self.maps = nn.ModuleList()

    def build(self, network: FieldNetwork) -> None:
        if len(network.hidden) == 0:  # e.g. network=linear: nothing to modulate, the code would be ignored
            raise ConfigError(
                "cond", "film", "modulates hidden layers, and this network has none: use cond=concat or cond=hypernet"
            )
        per_neuron = 2 if self.scale else 1  # (dgamma, beta) or beta only
        self.maps = nn.ModuleList(
            small_mlp(self.latent.point_dim, per_neuron * lin.out_features, self.hidden) for lin in network.hidden
        )
        if not self.identity_init:
            for m in self.maps:
                m[-1].reset_parameters()  # torch's default Linear init instead of zeros

    @property
    def stuck_at_zero(self) -> bool:
        return self.hidden == 0 and self.identity_init

    def inputs(self, network: FieldNetwork, feats: torch.Tensor) -> torch.Tensor:
        """Encoded coords (B, N, F) -> hidden layer 0's pre-activation (B, N, n_neurons): FiLM modulates it after
        the product, so the product does not depend on the code."""
        return network.first_layer(feats)

    def forward(
        self, network: FieldNetwork, feats: torch.Tensor, codes: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """feats (B, N, n_neurons): inputs(network, encoded coords), layer 0's product, which the hook modulates."""
        z = self.latent.point_code(codes, coords, expand=False)  # (B, 1 | N, P): global codes are not repeated
        mods = [m(z) for m in self.maps]  # each (B, 1 | N, 2 * n_neurons), or n_neurons when shift-only

        def hook(i: int, h: torch.Tensor) -> torch.Tensor:
            if not self.scale:
                return h + mods[i]
            dgamma, beta = mods[i].chunk(2, dim=-1)
            return h * (1 + dgamma) + beta

        return network(feats, hook=hook, first_done=True)
