"""cond=concat: the code concatenated with the encoded coordinates at the input (and again mid-network).

The mid-network injection follows DeepSDF's skip, which concatenates the whole input x = [encoded
coords, z] again at the input of hidden layer k: that is the same as adding W_x x to its
pre-activation, which is what the hook does (W_x: a bias-free linear map, torch's default init).
"""

from __future__ import annotations

import torch
from torch import nn

from nfields.core.checks import boolean, check_arg
from nfields.fields.conditioning.base import Conditioning
from nfields.fields.latents.base import Latent
from nfields.fields.networks.base import FieldNetwork


class Concat(Conditioning):
    def __init__(self, latent: Latent, mid_layer: bool = True) -> None:
        super().__init__(latent)
        check_arg("cond.mid_layer", mid_layer, boolean())
        self.mid_layer = mid_layer
        self.mid: nn.Linear | None = None
        self.mid_index = -1

    @property
    def extra_in_dim(self) -> int:
        return self.latent.point_dim

    def build(self, network: FieldNetwork) -> None:
        if self.mid_layer and len(network.hidden) >= 2:
            self.mid_index = len(network.hidden) // 2
            self.mid = nn.Linear(network.in_dim, network.hidden[self.mid_index].out_features, bias=False)

    def forward(
        self, network: FieldNetwork, feats: torch.Tensor, codes: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        z = self.latent.point_code(codes, coords, expand=False)  # (B, 1 | N, P)
        x = torch.cat([feats, z.expand(-1, feats.shape[1], -1).to(feats.dtype)], dim=-1)  # (B, N, F + P)
        if self.mid is None:
            return network(x)
        skip = self.mid(x)  # (B, N, n_neurons): the whole input again, coordinates and code
        return network(x, hook=lambda i, h: h + skip if i == self.mid_index else h)
