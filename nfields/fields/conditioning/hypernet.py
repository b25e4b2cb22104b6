"""cond=hypernet: a network maps the image's code to every weight and bias of the field's MLP.

W_i(z) = W_i + dW_i(z): the field's own weights are the shared base and the hypernetwork
predicts per-image offsets (its last layer starts at zero, so training starts from the
plain network). A batch of B images is evaluated with batched matmuls (B, N, in) x (B, in, out)
through FieldNetwork's `params`, never a loop over images.

Weights are predicted from one vector per image (`latent.image_code`: the global code,
or the mean local code for latent=local); local codes additionally enter as extra input
features, so local detail still reaches each coordinate.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nfields.core.checks import check_arg
from nfields.fields.conditioning.base import HIDDEN, Conditioning, small_mlp
from nfields.fields.latents.base import Latent
from nfields.fields.networks.base import FieldNetwork, Params


class HyperNet(Conditioning):
    def __init__(self, latent: Latent, hidden: int = 64) -> None:
        super().__init__(latent)
        check_arg("cond.hidden", hidden, HIDDEN)
        self.hidden = hidden
        self.shapes: list[tuple[tuple[int, int], tuple[int]]] = []
        self.net: nn.Module | None = None

    @property
    def extra_in_dim(self) -> int:
        return self.latent.local_dim

    def build(self, network: FieldNetwork) -> None:
        self.shapes = network.param_shapes()
        n_out = sum(math.prod(w) + math.prod(b) for w, b in self.shapes)
        self.net = small_mlp(self.latent.image_dim, n_out, self.hidden)  # z -> every (dW, db), flat

    @property
    def stuck_at_zero(self) -> bool:
        return self.hidden == 0  # small_mlp's last layer always starts at zero

    def params(self, network: FieldNetwork, codes: torch.Tensor) -> Params:
        """codes (B, code_dim) -> per-image [(W (B, out, in), b (B, out)), ...] for every layer."""
        flat = self.net(self.latent.image_code(codes))  # (B, n_out)
        out, k = [], 0
        for lin, (ws, bs) in zip(network.layers, self.shapes, strict=True):
            nw, nb = math.prod(ws), math.prod(bs)
            dw = flat[:, k : k + nw].reshape(-1, *ws)  # (B, out, in)
            db = flat[:, k + nw : k + nw + nb]  # (B, out)
            out.append((lin.weight + dw, lin.bias + db))
            k += nw + nb
        return out

    def forward(
        self, network: FieldNetwork, feats: torch.Tensor, codes: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        loc = self.latent.local_code(codes, coords)  # (B, N, local_dim) | None
        x = feats if loc is None else torch.cat([feats, loc.to(feats.dtype)], dim=-1)
        return network(x, params=self.params(network, codes))
