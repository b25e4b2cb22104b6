"""Conditioning interface.

A conditioning is built in two steps because its widths come from both sides:
  1. `cond(latent=...)` (Hydra partial completed by NeuralField): it now knows the code
     widths and reports `extra_in_dim`, the extra input the network needs (concat);
  2. `cond.build(network)`: it reads the network's layer widths (FiLM, hypernet).
`forward(network, inputs(network, feats), codes, coords)` evaluates the conditioned network; `inputs` is the part
that does not depend on the code (the features; FiLM's first layer's product on them; concat's product of the first
layer's and the skip's feature columns), which NeuralField computes once for every pass on the same points inside
`NeuralField.reusing()` (a meta step's inner and outer passes).
"""

from __future__ import annotations

import torch
from torch import nn

from nfields.core.checks import Check, integer
from nfields.fields.latents.base import Latent
from nfields.fields.networks.base import FieldNetwork

HIDDEN: Check = integer(lo=0)  # cond.hidden: width of a code -> modulation map, 0 = one linear map


class Conditioning(nn.Module):
    def __init__(self, latent: Latent) -> None:
        super().__init__()
        self.latent = latent

    @property
    def extra_in_dim(self) -> int:
        """Input features the network gets beyond the encoding's out_dim."""
        return 0

    def build(self, network: FieldNetwork) -> None:
        """Create the layers that depend on the network's widths."""

    @property
    def stuck_at_zero(self) -> bool:
        """Whether codes that start at zero never move (model.latent_source=meta refuses it): the map from the
        code is linear (cond.hidden=0) and starts at zero, so at a zero code neither the code nor the map gets
        a gradient, at any order."""
        return False

    def inputs(self, network: FieldNetwork, feats: torch.Tensor) -> torch.Tensor:
        """Encoded coords (B, N, F) -> what forward takes as `feats`, computed without the codes: the features
        themselves here."""
        return feats

    def forward(
        self, network: FieldNetwork, feats: torch.Tensor, codes: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """feats (B, N, .) = inputs(network, encoded coords), codes (B, code_dim), coords (B, N, 2) ->
        (B, N, out_dim)."""
        raise NotImplementedError


def zero_init(lin: nn.Linear) -> nn.Linear:
    """A linear layer that starts at exactly zero output (identity FiLM, unchanged hypernet weights)."""
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


def small_mlp(in_dim: int, out_dim: int, hidden: int) -> nn.Sequential:
    """in -> [hidden, ReLU] -> out, last layer zero-initialised; hidden=0 gives one linear map.

    `hidden` is cond.hidden, checked by the conditioning's constructor (HIDDEN)."""
    if hidden == 0:
        return nn.Sequential(zero_init(nn.Linear(in_dim, out_dim)))
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), zero_init(nn.Linear(hidden, out_dim)))
