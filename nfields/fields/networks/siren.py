"""network=siren: sine activations with the SIREN initialisation (Sitzmann et al. 2020).

Hidden layer i computes sin(w_i * (W h + b)) with w_0 = w0_initial and w_i = w0
after. The init keeps pre-activations ~ U(-1, 1) through depth: the first layer
W ~ U(-1/in, 1/in) (w0_initial then spreads the input over several periods), later
layers W ~ U(-sqrt(6/in)/w0, sqrt(6/in)/w0) (so w0 * W h has unit-scale variance).

SIREN's w0 = 30 is defined on coordinates in [-1, 1]; nfields' coordinates are in
[0, 1], half that range, so the same first-layer bandwidth needs w0_initial = 60.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nfields.fields.networks.base import FieldNetwork


class Siren(FieldNetwork):
    def __init__(self, *args, w0: float = 30.0, w0_initial: float = 60.0, **kwargs) -> None:
        for key, val in (("w0", w0), ("w0_initial", w0_initial)):
            if not val > 0:
                raise ValueError(f"network.{key} must be > 0 for siren, got {val}")
        self.w0, self.w0_initial = float(w0), float(w0_initial)  # before super(): it calls reset_parameters
        super().__init__(*args, **kwargs)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for i, lin in enumerate(self.layers):
            fan_in = lin.in_features
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / self.w0
            nn.init.uniform_(lin.weight, -bound, bound)
            nn.init.uniform_(lin.bias, -1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))

    def activation(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return torch.sin((self.w0_initial if i == 0 else self.w0) * h)
