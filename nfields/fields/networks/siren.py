"""network=siren: sine activations with the SIREN initialisation (Sitzmann et al. 2020).

Hidden layer i computes sin(w_i * (W h + b)) with w_0 = w0_initial and w_i = w0
after. The init keeps pre-activations ~ U(-1, 1) through depth: the first layer
W ~ U(-1/in, 1/in) (w0_initial then spreads the input over several periods), later
layers W ~ U(-sqrt(6/in)/w0, sqrt(6/in)/w0) (so w0 * W h has unit-scale variance).

SIREN's w0 = 30 is defined on coordinates in [-1, 1]: on encoding=none the field hands this
network c = 2u - 1 of nfields' u in [0, 1] (`centered`), so w0_initial = 30 is the paper's
first-layer bandwidth and the optimiser trains the paper's parameters.

With a code at the input (cond=concat; hypernet's local codes) the first layer's bound counts
only the coord_dim coordinate features, n: its coordinate columns (and bias) are plain SIREN's,
so the code does not lower the coordinate frequencies. The code columns get SIREN's hidden-layer
rule U(-sqrt(6 / n_code) / w0_initial, +...): code entries of variance 1/2 (like SIREN's own
activations) move each first-layer phase by a unit-variance amount, whatever the code's width.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nfields.core.checks import POSITIVE, check_arg
from nfields.fields.networks.base import FieldNetwork


class Siren(FieldNetwork):
    centered = True  # the paper's coordinates in [-1, 1]

    def __init__(self, *args, w0: float = 30.0, w0_initial: float = 30.0, **kwargs) -> None:
        check_arg("network.w0", w0, POSITIVE)
        check_arg("network.w0_initial", w0_initial, POSITIVE)
        self.w0, self.w0_initial = float(w0), float(w0_initial)  # before super(): it calls reset_parameters
        super().__init__(*args, **kwargs)
        self.register_frequencies(self.w0_initial, self.w0)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        first, *rest = self.layers
        n, n_code = self.coord_dim, first.in_features - self.coord_dim
        if n_code:  # code columns: the hidden-layer rule with w0_initial (see the module docstring)
            nn.init.uniform_(first.weight[:, :n], -1.0 / n, 1.0 / n)
            bound = math.sqrt(6.0 / n_code) / self.w0_initial
            nn.init.uniform_(first.weight[:, n:], -bound, bound)
        else:
            nn.init.uniform_(first.weight, -1.0 / n, 1.0 / n)
        nn.init.uniform_(first.bias, -1.0 / math.sqrt(n), 1.0 / math.sqrt(n))
        for lin in rest:
            fan_in = lin.in_features
            bound = math.sqrt(6.0 / fan_in) / self.w0
            nn.init.uniform_(lin.weight, -bound, bound)
            nn.init.uniform_(lin.bias, -1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))

    def activation(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return torch.sin(self.frequency(i) * h)
