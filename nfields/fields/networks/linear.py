"""network=linear: no hidden layer, encoded features -> colours by one affine map (+ output activation).

The head of a feature grid (encoding=grid, encoding=hashgrid): the features carry the signal, the map only
mixes them into colours. FieldNetwork builds n_hidden_layers >= 1 hidden layers; this subclass keeps its
interface (layers, param_shapes, forward with hook/params) with none, so concat and hypernet conditioning
work as for any network, and a FiLM hook has no hidden pre-activation to modulate.

n_neurons and n_hidden_layers are accepted and unused: presets that size every network (debug=fast) then
compose with network=linear; configs/network/linear.yaml does not list them, so the command line cannot set
them by mistake.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nfields.core.checks import POSITIVE_INT, check_arg, integer, nullable, one_of
from nfields.fields.networks.base import OUTPUT_ACTIVATIONS, FieldNetwork


class Linear(FieldNetwork):
    budget_key = None  # one affine map of the encoding's features: nothing of its own to size

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 3,
        output_activation: str = "sigmoid",
        coord_dim: int | None = None,
        **unused: Any,  # n_neurons, n_hidden_layers: see the module docstring
    ) -> None:
        nn.Module.__init__(self)  # not FieldNetwork.__init__: it builds hidden layers
        check_arg("network.in_dim", in_dim, POSITIVE_INT)
        check_arg("network.out_dim", out_dim, POSITIVE_INT)
        check_arg("network.output_activation", output_activation, one_of(*OUTPUT_ACTIVATIONS))
        check_arg("network.coord_dim", coord_dim, nullable(integer(lo=1, hi=in_dim)))
        unknown = sorted(set(unused) - {"n_neurons", "n_hidden_layers"})
        if unknown:
            raise TypeError(f"Linear got unexpected arguments {unknown}")
        self.in_dim, self.out_dim, self.n_neurons = in_dim, out_dim, 0  # n_neurons: no hidden width
        self.coord_dim = in_dim if coord_dim is None else coord_dim
        self.hidden = nn.ModuleList()  # (none): forward applies only the head
        self.head = nn.Linear(in_dim, out_dim)
        self.output_activation = output_activation
        self.reset_parameters()
