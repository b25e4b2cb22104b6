"""network=gauss: Gaussian activations exp(-(s x)^2) (Ramasinghe & Lucey, "Beyond Periodicity", ECCV 2022).

Hidden layer i computes exp(-(s (W h + b))^2). The paper writes the activation as exp(-x^2 / (2 a^2))
with a = 0.1, i.e. s = 1 / (sqrt(2) a) = 7.07; the image-fitting comparisons that followed use larger
s: WIRE's gauss.py (vishwa91/wire) defaults to s = 10, and FINER's image protocol (liuzhen0212/FINER,
run_gauss.sh: scale 30, lr 5e-3) to s = 30, which is nfields' default (the protocol the zoo
compares under). Neither repository has an initialisation of its own: every layer is nn.Linear's default,
U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for weights and biases, and so is it here.

Coordinates: both repositories feed c in [-1, 1]; on encoding=none the field hands this network
c = 2u - 1 of nfields' u in [0, 1] (`centered`), so it trains the paper's parameters. A code at the input
(cond=concat) gets its own fan-in, U(-1/sqrt(n_code), +), so it does not shrink the coordinate columns.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nfields.core.checks import POSITIVE, check_arg
from nfields.fields.networks.base import Activation, FieldNetwork, init_first_layer_linear_default_


class Gaussian(Activation):
    """exp(-(s x)^2) with nn.Linear's init, the code columns over their own fan-in (module docstring)."""

    centered = True  # the repositories' coordinates in [-1, 1]

    def __init__(self, s: float = 30.0) -> None:
        check_arg("network.s", s, POSITIVE)
        super().__init__()
        self.register_scalars(s=s)  # a tensor: members of model=many may differ in it

    @torch.no_grad()
    def init_(self, layers: list[nn.Linear], coord_dim: int) -> None:
        first, *rest = layers
        init_first_layer_linear_default_(first, coord_dim)
        for lin in rest:
            lin.reset_parameters()  # nn.Linear's default, as both repositories

    def forward(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return torch.exp(-((self.s * h) ** 2))


class Gauss(FieldNetwork):
    def __init__(self, *args: Any, s: float = 30.0, **kwargs: Any) -> None:
        super().__init__(Gaussian(s), *args, **kwargs)
