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

import torch
from torch import nn

from nfields.core.checks import POSITIVE, POSITIVE_INT, boolean, check_arg
from nfields.core.errors import ConfigError
from nfields.fields.networks.base import FieldNetwork, init_first_layer_linear_default_


class Wire(FieldNetwork):
    centered = True  # the repository's coordinates in [-1, 1]

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 3,
        n_neurons: int = 256,
        n_hidden_layers: int = 3,
        output_activation: str = "sigmoid",
        coord_dim: int | None = None,
        omega_0: float = 20.0,
        s_0: float = 10.0,
        complex: bool = True,  # noqa: A002 -- the config key network.complex
    ) -> None:
        check_arg("network.n_neurons", n_neurons, POSITIVE_INT)
        check_arg("network.omega_0", omega_0, POSITIVE)
        check_arg("network.s_0", s_0, POSITIVE)
        check_arg("network.complex", complex, boolean())
        self.complex = complex
        width = max(1, int(n_neurons / math.sqrt(2))) if complex else n_neurons
        super().__init__(in_dim, out_dim, width, n_hidden_layers, output_activation, coord_dim)
        self.register_scalars(omega_0=omega_0, s_0=s_0)  # tensors: members of model=many may differ in them
        dims = [in_dim] + [width] * n_hidden_layers
        if complex:  # real first layer, complex later ones, a real head on [Re h, Im h]
            self.hidden = nn.ModuleList(
                nn.Linear(a, b, dtype=torch.cfloat if i else None)
                for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True))
            )
            self.head = nn.Linear(2 * width, out_dim)
        else:  # each hidden layer outputs [f | g] for cos(omega_0 f) exp(-(s_0 g)^2)
            self.hidden = nn.ModuleList(nn.Linear(a, 2 * b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        first, *rest = self.layers
        init_first_layer_linear_default_(first, self.coord_dim)
        for lin in rest[:-1]:
            lin.reset_parameters()  # nn.Linear's default; on cfloat, real and imaginary parts apart
        head = rest[-1]
        bound = 1.0 / math.sqrt(self.n_neurons)  # the complex head's fan-in is the width, not 2 x width
        nn.init.uniform_(head.weight, -bound, bound)
        nn.init.uniform_(head.bias, -bound, bound)

    def activation(self, h: torch.Tensor, i: int) -> torch.Tensor:
        if not self.complex:
            f, g = h.float().chunk(2, dim=-1)  # (..., N, n_neurons) each
            return torch.cos(self.omega_0 * f) * torch.exp(-((self.s_0 * g) ** 2))
        h = h if h.is_complex() else h.float()  # the phase in fp32 under autocast
        z = torch.exp(1j * self.omega_0 * h - (self.s_0 * h).abs().square())  # (..., N, width) complex
        if i == len(self.hidden) - 1:
            return torch.cat([z.real, z.imag], dim=-1)  # (..., N, 2 width): the head takes Re(W z + b)
        return z

    def param_shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        if self.complex:
            raise ConfigError(
                "cond",
                "hypernet",
                "it predicts real weights and network=wire has complex ones: "
                "use network.complex=false (the real Gabor wavelet) or cond=film",
            )
        return super().param_shapes()
