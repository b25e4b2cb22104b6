"""network=wire: complex Gabor wavelet activations (Saragadam et al., WIRE, CVPR 2023; vishwa91/wire).

Hidden layer i computes psi(x) = exp(j omega_0 x) exp(-|s_0 x|^2) of x = W h + b (modules/wire.py,
ComplexGaborLayer): the first layer is real (coordinates are real), the later ones complex (torch.cfloat
weights and biases), and the field is the real part of a last complex linear layer. Re(W h + b) equals
a real layer on [Re h, Im h] with weights [Re W, -Im W] and bias Re b; that is the head here, the same
function without Im b, a parameter the real part never sees. As in the repository the width is
int(n_neurons / sqrt(2)), so that a complex network has about the parameters of a real one of
n_neurons, and every layer keeps nn.Linear's default init (real and imaginary parts each
U(-1/sqrt(fan_in), +); the head's halves likewise, over the complex fan-in).

Defaults omega_0 = 20, s_0 = 10: the image-fitting values of the FINER comparison (liuzhen0212/FINER,
run_wire.sh, lr 5e-3); vishwa91/wire's wire_image_denoise.py suggests omega_0 = 20, s_0 = 30 for
representation and 4, 4 for denoising.

`complex=false` is the repository's RealGaborLayer: cos(omega_0 f) exp(-(s_0 g)^2), where f and g are two
separate linear maps of h. Here each hidden layer is one linear map to 2 x n_neurons, split as [f | g]
(nn.Linear's default draws the two halves exactly as two layers), so FiLM modulates both halves.

Coordinates: the repository feeds c in [-1, 1]; on encoding=none the field hands this network c = 2u - 1
of nfields' u in [0, 1] (`centered`), so its parameters, their init and the optimiser's steps are the paper's.

cond=hypernet predicts real weights, so the complex network refuses it when it is built (param_shapes);
the real variant takes it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nfields.core.checks import POSITIVE, boolean, check_arg
from nfields.core.errors import ConfigError
from nfields.fields.encodings.base import precise
from nfields.fields.networks.base import Activation, FieldNetwork, init_first_layer_linear_default_


class Gabor(Activation):
    """The complex Gabor wavelet on complex layers, or the real one on [f | g] layers, with nn.Linear's init."""

    centered = True  # the repository's coordinates in [-1, 1]

    def __init__(self, omega_0: float = 20.0, s_0: float = 10.0, complex: bool = True) -> None:  # noqa: A002
        check_arg("network.omega_0", omega_0, POSITIVE)
        check_arg("network.s_0", s_0, POSITIVE)
        check_arg("network.complex", complex, boolean())
        super().__init__()
        self.complex = complex
        self.register_scalars(omega_0=omega_0, s_0=s_0)  # tensors: members of model=many may differ in them

    def width(self, n_neurons: int) -> int:
        return max(1, int(n_neurons / math.sqrt(2))) if self.complex else n_neurons

    def layers(self, dims: list[int], out_dim: int) -> tuple[list[nn.Linear], nn.Linear]:
        pairs = list(zip(dims[:-1], dims[1:], strict=True))
        self.last = len(pairs) - 1  # the hidden layer whose output the head reads
        if self.complex:  # real first layer, complex later ones, a real head on [Re h, Im h]
            hidden = [nn.Linear(a, b, dtype=torch.cfloat if i else None) for i, (a, b) in enumerate(pairs)]
            return hidden, nn.Linear(2 * dims[-1], out_dim)
        return [nn.Linear(a, 2 * b) for a, b in pairs], nn.Linear(dims[-1], out_dim)  # [f | g] per hidden layer

    @torch.no_grad()
    def init_(self, layers: list[nn.Linear], coord_dim: int) -> None:
        first, *rest, head = layers
        init_first_layer_linear_default_(first, coord_dim)
        for lin in rest:
            lin.reset_parameters()  # nn.Linear's default; on cfloat, real and imaginary parts apart
        width = head.in_features // 2 if self.complex else head.in_features
        bound = 1.0 / math.sqrt(width)  # the complex head's fan-in is the width, not 2 x width
        nn.init.uniform_(head.weight, -bound, bound)
        nn.init.uniform_(head.bias, -bound, bound)

    def forward(self, h: torch.Tensor, i: int) -> torch.Tensor:
        if not self.complex:
            f, g = h.to(precise(self.s_0)).chunk(2, dim=-1)  # (..., N, n_neurons) each, fp32 under autocast
            return torch.cos(self.omega_0 * f) * torch.exp(-((self.s_0 * g) ** 2))
        h = h if h.is_complex() else h.to(precise(self.s_0))  # the phase in fp32 under autocast (or float64)
        z = torch.exp(1j * self.omega_0 * h - (self.s_0 * h).abs().square())  # (..., N, width) complex
        if i == self.last:
            return torch.cat([z.real, z.imag], dim=-1)  # (..., N, 2 width): the head takes Re(W z + b)
        return z


class Wire(FieldNetwork):
    def __init__(
        self,
        *args: Any,
        omega_0: float = 20.0,
        s_0: float = 10.0,
        complex: bool = True,  # noqa: A002 -- the config key network.complex
        **kwargs: Any,
    ) -> None:
        super().__init__(Gabor(omega_0, s_0, complex), *args, **kwargs)

    def param_shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        if self.activation.complex:
            raise ConfigError(
                "cond",
                "hypernet",
                "it predicts real weights and network=wire has complex ones: "
                "use network.complex=false (the real Gabor wavelet) or cond=film",
            )
        return super().param_shapes()
