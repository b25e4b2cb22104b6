"""A fully connected coordinate network whose layers can be modulated or replaced.

Conditioning needs three hooks into the network, all provided here once:
  * concat:   a wider input (in_dim is derived by the field, not typed);
  * FiLM:     `hook(i, h)` rewrites the pre-activation of hidden layer i;
  * hypernet: `params` replaces every layer's (W, b) with per-image weights
              of shape (B, out, in) / (B, out), applied with batched matmuls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from nfields.core.checks import POSITIVE_INT, check_arg, integer, nullable, one_of

Hook = Callable[[int, torch.Tensor], torch.Tensor]
Params = list[tuple[torch.Tensor, torch.Tensor]]

OUTPUT_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "identity": lambda t: t,
    "tanh": torch.tanh,
    "affine": lambda t: 0.5 * t + 0.5,  # SIREN's [-1, 1] output convention mapped to [0, 1]
}


def linear(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h (..., N, in) with shared W (out, in) or per-batch W (B, out, in) -> (..., N, out)."""
    if W.dim() == 2:
        return nn.functional.linear(h, W, b)
    return torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))  # (B, N, out)


@torch.no_grad()
def init_first_layer_(
    first: nn.Linear, coord_dim: int, coord_bound: float, code_bound: float, bias_bound: float
) -> None:
    """U(-bound, +bound) on the first layer's coordinate columns, code columns and bias, as a paper draws them
    (WIRE, Gauss, FINER); a code at the input (cond=concat) gets its own bound, so it does not shrink the
    coordinate columns."""
    nn.init.uniform_(first.weight[:, :coord_dim], -coord_bound, coord_bound)
    if first.in_features > coord_dim:
        nn.init.uniform_(first.weight[:, coord_dim:], -code_bound, code_bound)
    nn.init.uniform_(first.bias, -bias_bound, bias_bound)


def init_first_layer_linear_default_(first: nn.Linear, coord_dim: int) -> None:
    """init_first_layer_ with nn.Linear's default bound 1/sqrt(fan_in), as if the coordinates were the only
    input (a code's columns get 1/sqrt(code width)): the WIRE and Gauss repositories' first layer."""
    bound = 1.0 / math.sqrt(coord_dim)
    init_first_layer_(first, coord_dim, bound, 1.0 / math.sqrt(max(first.in_features - coord_dim, 1)), bound)


class Activation(nn.Module):
    """The non-linearity after each hidden layer and the initialisation that goes with it (SIREN pairs them).

    `forward(h, i)` maps hidden layer i's pre-activation h (..., N, width) to that layer's output; `init_` draws
    the layers' weights once, after FieldNetwork has built them all (with `layers`, which an activation needing
    other layers overrides, as WIRE's complex ones). An activation is built before its network, so its
    hyperparameters are set before anything reads them, and it belongs to that one network. Numbers the forward
    reads are 0-d buffers (`register_scalars`), so members of model=many stacked with torch.func each carry their own.
    """

    # The paper feeds raw coordinates c in [-1, 1] (SIREN, WIRE, Gauss, FINER): on encoding=none the field hands
    # it c = 2u - 1 of nfields' u in [0, 1], so the optimiser sees the paper's parameters, not a reparameterisation
    # that is equal only at initialisation (Adam is not invariant to it). Encoded features are passed as they are.
    centered: ClassVar[bool] = False

    def register_scalars(self, **values: float) -> None:
        """Hyperparameters the forward reads, as 0-d buffers: not saved (the config rebuilds them), but tensors, so
        stacked members (model=many) can each carry their own (members.sweep.network.<key>); a Python float
        would be one value for every member."""
        for name, v in values.items():
            self.register_buffer(name, torch.tensor(float(v)), persistent=False)

    def width(self, n_neurons: int) -> int:
        """The hidden layers' width for network.n_neurons (FieldNetwork.n_neurons)."""
        return n_neurons

    def layers(self, dims: list[int], out_dim: int) -> tuple[list[nn.Linear], nn.Linear]:
        """The hidden layers dims[i] -> dims[i + 1] and the head dims[-1] -> out_dim, with nn.Linear's init."""
        return [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)], nn.Linear(dims[-1], out_dim)

    def init_(self, layers: list[nn.Linear], coord_dim: int) -> None:
        """Draw the weights of the hidden layers and the head (`layers`) whose first coord_dim inputs are
        coordinate features; called once by FieldNetwork. The default keeps nn.Linear's init."""

    def forward(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """Hidden layer i's pre-activation h (..., N, width) -> its output."""
        raise NotImplementedError


class FieldNetwork(nn.Module):
    """in_dim -> [n_hidden_layers x n_neurons] -> out_dim, an Activation after each hidden layer, its init on all.

    A network option is a subclass that builds its `Activation` from its own config keys and passes it first:
    `super().__init__(Sine(w0, w0_initial), *args, **kwargs)`. The activation is positional-only, not a config key.
    Without one (None) the network has no hidden layer: one affine map (network=linear).

    The first `coord_dim` inputs are the encoded coordinates and the remaining in_dim - coord_dim a
    latent code (cond=concat, hypernet's local codes); None: all inputs are coordinates. NeuralField
    passes both widths, so an init can treat the two kinds of input apart (SIREN does).
    """

    budget_key: ClassVar[str | None] = "n_neurons"  # what budget.params sizes (run/budget.py)

    def __init__(
        self,
        activation: Activation | None,
        /,
        in_dim: int,
        out_dim: int = 3,
        n_neurons: int = 256,
        n_hidden_layers: int = 3,
        output_activation: str = "sigmoid",
        coord_dim: int | None = None,
    ) -> None:
        super().__init__()
        check_arg("network.in_dim", in_dim, POSITIVE_INT)
        check_arg("network.out_dim", out_dim, POSITIVE_INT)
        check_arg("network.n_neurons", n_neurons, POSITIVE_INT)
        depth = POSITIVE_INT if activation is not None else integer(lo=0, hi=0)  # no activation: no hidden layer
        check_arg("network.n_hidden_layers", n_hidden_layers, depth)
        check_arg("network.output_activation", output_activation, one_of(*OUTPUT_ACTIVATIONS))
        check_arg("network.coord_dim", coord_dim, nullable(integer(lo=1, hi=in_dim)))
        self.in_dim, self.out_dim, self.output_activation = in_dim, out_dim, output_activation
        self.coord_dim = in_dim if coord_dim is None else coord_dim
        if activation is None:
            self.n_neurons = 0  # no hidden width
            self.hidden, self.head, self.activation = nn.ModuleList(), nn.Linear(in_dim, out_dim), None
            return
        self.n_neurons = activation.width(n_neurons)
        hidden, head = activation.layers([in_dim] + [self.n_neurons] * n_hidden_layers, out_dim)
        self.hidden, self.head, self.activation = nn.ModuleList(hidden), head, activation
        activation.init_(self.layers, self.coord_dim)

    @property
    def centered(self) -> bool:
        """Whether the field hands this network c = 2u - 1 on encoding=none (Activation.centered)."""
        return self.activation is not None and self.activation.centered

    @property
    def layers(self) -> list[nn.Linear]:
        return [*self.hidden, self.head]

    def param_shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        """(W, b) shapes of every layer, for hypernetworks that predict them."""
        return [((lin.out_features, lin.in_features), (lin.out_features,)) for lin in self.layers]

    def first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., N, in_dim) -> hidden layer 0's pre-activation (..., N, n_neurons), before any hook: what
        forward(..., first_done=True) takes in place of x (cond=film computes it once for every pass on the same
        points, since it does not depend on the code)."""
        lin = self.hidden[0]
        return linear(x, lin.weight, lin.bias)

    def forward(
        self, x: torch.Tensor, hook: Hook | None = None, params: Params | None = None, first_done: bool = False
    ) -> torch.Tensor:
        """x (..., N, in_dim) -> (..., N, out_dim); first_done: x is already hidden layer 0's pre-activation
        (..., N, n_neurons): first_layer(x), or cond=concat's sum of its products by columns."""
        weights = params if params is not None else [(lin.weight, lin.bias) for lin in self.layers]
        h = x
        for i, (W, b) in enumerate(weights[:-1]):
            h = h if i == 0 and first_done else linear(h, W, b)  # (..., N, n_neurons)
            if hook is not None:
                h = hook(i, h)
            h = self.activation(h, i)
        W, b = weights[-1]
        return OUTPUT_ACTIVATIONS[self.output_activation](linear(h, W, b))
