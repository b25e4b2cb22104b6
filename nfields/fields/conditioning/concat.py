"""cond=concat: the code concatenated with the encoded coordinates at the input (and again mid-network).

The network sees x = [feats, z] (B, N, F + P): encoded coordinates and the code at each point. The mid-network
injection follows DeepSDF's skip, which concatenates the whole input x again at the input of hidden layer k: that
is the same as adding W_mid x to its pre-activation, which is what the hook does (W_mid: a bias-free linear map,
torch's default init).

The concatenation is never built for a network with hidden layers: a product of x splits by columns,
W1 x + b1 = (W1[:, :F] feats + b1) + W1[:, F:] z, and the same for W_mid x. The first part does not depend on
the code, so `inputs` computes it alone (once for every pass on the same points inside NeuralField.reusing(): a
meta step's inner and outer passes) and `forward` adds the code's part, W[:, F:] z, on the code's own rows: a
global code is one row per signal, (B, 1, P), broadcast over the N points, never expanded to (B, N, P). The
parameters are today's full-width ones (hidden.0.weight (n_0, F + P), mid.weight (n_mid, F + P)), sliced at use,
so checkpoints load unchanged. A network with no hidden layer (network=linear) takes x itself: its head has no
hook to add a part to.
"""

from __future__ import annotations

import torch
from torch import nn

from nfields.core.checks import boolean, check_arg
from nfields.fields.conditioning.base import Conditioning
from nfields.fields.latents.base import Latent
from nfields.fields.networks.base import FieldNetwork, linear


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

    def columns(self, network: FieldNetwork, code: bool) -> torch.Tensor:
        """The feature columns (n, F) of x = [feats, z], or the code's (n, P) when `code`, of the first hidden
        layer's rows stacked over the skip's (n = n_0 + n_mid; n_0 alone without the skip)."""
        f = network.in_dim - self.extra_in_dim
        cols = slice(f, None) if code else slice(None, f)
        first = network.hidden[0].weight[:, cols]
        return first if self.mid is None else torch.cat([first, self.mid.weight[:, cols]])

    def inputs(self, network: FieldNetwork, feats: torch.Tensor) -> torch.Tensor:
        """Encoded coords (B, N, F) -> the code-independent part of the first hidden layer's pre-activation and of
        the skip, laid out on the last dim as [W1[:, :F] feats + b1 | W_mid[:, :F] feats] (B, N, n_0 + n_mid)
        (n_mid = 0 without the skip); the features themselves for a network with no hidden layer."""
        if len(network.hidden) == 0:
            return feats
        bias = network.hidden[0].bias  # the skip has none
        if self.mid is not None:
            bias = torch.cat([bias, bias.new_zeros(self.mid.out_features)])  # (n_0 + n_mid,)
        return linear(feats, self.columns(network, code=False), bias)  # one product for both parts

    def forward(
        self, network: FieldNetwork, feats: torch.Tensor, codes: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """feats = inputs(network, encoded coords): (B, N, n_0 + n_mid), or (B, N, F) with no hidden layer."""
        z = self.latent.point_code(codes, coords, expand=False)  # (B, 1 | N, P)
        if len(network.hidden) == 0:  # network=linear: the head takes x = [feats, z] (B, N, F + P)
            return network(torch.cat([feats, z.expand(-1, feats.shape[1], -1).to(feats.dtype)], dim=-1))
        w_code = self.columns(network, code=True)  # (n_0 + n_mid, P)
        h = feats + linear(z.to(w_code.dtype), w_code, None)  # (B, N, n_0 + n_mid): the code's rows broadcast
        if self.mid is None:
            return network(h, first_done=True)
        h0, skip = h.split([network.hidden[0].out_features, self.mid.out_features], dim=-1)
        return network(h0, hook=lambda i, x: x + skip if i == self.mid_index else x, first_done=True)
