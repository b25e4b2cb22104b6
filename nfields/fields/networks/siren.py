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
from typing import Any

import torch
from torch import nn

from nfields.core.checks import POSITIVE, check_arg
from nfields.fields.networks.base import Activation, FieldNetwork, init_first_layer_


class Sine(Activation):
    """sin(w_i x), w_0 = w0_initial and w_i = w0 after, with the SIREN initialisation (module docstring)."""

    centered = True  # the paper's coordinates in [-1, 1]

    def __init__(self, w0: float = 30.0, w0_initial: float = 30.0) -> None:
        check_arg("network.w0", w0, POSITIVE)
        check_arg("network.w0_initial", w0_initial, POSITIVE)
        super().__init__()
        self.w0, self.w0_initial = float(w0), float(w0_initial)  # the init's bounds
        self.register_scalars(w0_first=w0_initial, w0_hidden=w0)  # what forward reads: tensors, for model=many

    def frequency(self, i: int) -> torch.Tensor:
        """The w0 of hidden layer i ()."""
        return self.w0_first if i == 0 else self.w0_hidden

    def first_bias_bound(self, n: int) -> float:
        """The first layer's bias ~ U(-bound, +bound) over n coordinate inputs: nn.Linear's."""
        return 1.0 / math.sqrt(n)

    @torch.no_grad()
    def init_(self, layers: list[nn.Linear], coord_dim: int) -> None:
        first, *rest = layers
        n, n_code = coord_dim, first.in_features - coord_dim
        code_bound = math.sqrt(6.0 / max(n_code, 1)) / self.w0_initial  # the hidden-layer rule over the code
        init_first_layer_(first, n, 1.0 / n, code_bound, self.first_bias_bound(n))
        for lin in rest:  # hidden layers and the head
            fan_in = lin.in_features
            bound = math.sqrt(6.0 / fan_in) / self.w0
            nn.init.uniform_(lin.weight, -bound, bound)
            nn.init.uniform_(lin.bias, -1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))

    def forward(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return torch.sin(self.frequency(i) * h)


class Siren(FieldNetwork):
    def __init__(self, *args: Any, w0: float = 30.0, w0_initial: float = 30.0, **kwargs: Any) -> None:
        super().__init__(Sine(w0, w0_initial), *args, **kwargs)
