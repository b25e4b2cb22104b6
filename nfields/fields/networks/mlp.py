"""network=mlp: ReLU MLP with a sigmoid output (colours in [0, 1]).

`init` chooses the initialisation: `torch` (PyTorch's nn.Linear default, U(-1/sqrt(fan_in), +))
or `glorot_normal`, the default of jax.example_libraries.stax.Dense that the Fourier-features
paper's notebook used (W ~ N(0, 2 / (fan_in + fan_out)), b ~ N(0, 1e-2)): the benchmark
protocols (experiment=ffn_*) use it so that the network starts where the paper's did.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nfields.core.checks import check_arg, one_of
from nfields.fields.networks.base import Activation, FieldNetwork

INITS = ("torch", "glorot_normal")


class ReLU(Activation):
    """max(0, x) with the init `init` names (module docstring)."""

    def __init__(self, init: str = "torch") -> None:
        check_arg("network.init", init, one_of(*INITS))
        super().__init__()
        self.init = init

    @torch.no_grad()
    def init_(self, layers: list[nn.Linear], coord_dim: int) -> None:
        if self.init == "torch":
            return  # nn.Linear's own
        for lin in layers:
            nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0 / (lin.in_features + lin.out_features)))
            nn.init.normal_(lin.bias, 0.0, 1e-2)

    def forward(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return torch.relu(h)


class MLP(FieldNetwork):
    def __init__(self, *args: Any, init: str = "torch", **kwargs: Any) -> None:
        super().__init__(ReLU(init), *args, **kwargs)
