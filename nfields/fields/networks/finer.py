"""network=finer: variable-periodic sines sin(w (|x| + 1) x) (Liu et al., FINER, CVPR 2024).

Hidden layer i computes sin(w_i (|x| + 1) x) with x = W h + b, w_0 = w0_initial and w_i = w0 after
(liuzhen0212/FINER, models.py: first_omega_0 = hidden_omega_0 = 30). As in the repository the factor
|x| + 1 is treated as a constant in backpropagation (`scale_req_grad=False`, its default); true
differentiates through it. The larger |x|, the higher the local frequency, so the first layer's
bias chooses which frequencies each neuron starts with.

Initialisation (the repository's image protocol, run_finer.sh -> train_image.py): SIREN's weights, first
layer U(-1/n, 1/n) over its n inputs, later layers and the head U(-sqrt(6/fan_in)/w0, +); every bias
nn.Linear's U(-1/sqrt(fan_in), +) (`first_bias_scale=null`, train_image.py's default). A number k draws the
first layer's bias U(-k, k) instead: the paper's first-layer study uses k = 20 with omega = 1
(figure_6/firstlayer_neurons.ipynb, fbs = 20), a different network from the image protocol's omega = 30.

Coordinates: the repository feeds c in [-1, 1]; on encoding=none the field hands this network c = 2u - 1 of
nfields' u in [0, 1] (`centered`), so it trains the paper's parameters. A code at the input (cond=concat)
gets SIREN's hidden-layer rule over its own width, U(-sqrt(6/n_code)/w0_initial, +), as in siren.py.
"""

from __future__ import annotations

from typing import Any

import torch

from nfields.core.checks import POSITIVE, boolean, check_arg, nullable
from nfields.fields.networks.base import FieldNetwork
from nfields.fields.networks.siren import Sine


class VariableSine(Sine):
    """sin(w_i (|x| + 1) x) with SIREN's init, the first bias U(-first_bias_scale, +) when it is set."""

    def __init__(
        self,
        w0: float = 30.0,
        w0_initial: float = 30.0,
        first_bias_scale: float | None = None,
        scale_req_grad: bool = False,
    ) -> None:
        super().__init__(w0, w0_initial)
        check_arg("network.first_bias_scale", first_bias_scale, nullable(POSITIVE))
        check_arg("network.scale_req_grad", scale_req_grad, boolean())
        self.first_bias_scale, self.scale_req_grad = first_bias_scale, scale_req_grad

    def first_bias_bound(self, n: int) -> float:
        return self.first_bias_scale if self.first_bias_scale is not None else super().first_bias_bound(n)

    def forward(self, h: torch.Tensor, i: int) -> torch.Tensor:
        scale = h.abs() + 1 if self.scale_req_grad else h.detach().abs() + 1  # (..., N, n_neurons)
        return torch.sin(self.frequency(i) * scale * h)


class Finer(FieldNetwork):
    def __init__(
        self,
        *args: Any,
        w0: float = 30.0,
        w0_initial: float = 30.0,
        first_bias_scale: float | None = None,
        scale_req_grad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(VariableSine(w0, w0_initial, first_bias_scale, scale_req_grad), *args, **kwargs)
