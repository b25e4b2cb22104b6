"""network=linear: no hidden layer, encoded features -> colours by one affine map (+ output activation).

The head of a feature grid (encoding=grid, encoding=hashgrid): the features carry the signal, the map only
mixes them into colours. It is a FieldNetwork with no activation, so with no hidden layer: its interface
(layers, param_shapes, forward with hook/params) is every network's, so concat and hypernet conditioning
work as for any network, and a FiLM hook has no hidden pre-activation to modulate.

n_neurons and n_hidden_layers are accepted and unused: presets that size every network (debug=fast) then
compose with network=linear; configs/network/linear.yaml does not list them, so the command line cannot set
them by mistake.
"""

from __future__ import annotations

from typing import Any

from nfields.fields.networks.base import FieldNetwork


class Linear(FieldNetwork):
    budget_key = None  # one affine map of the encoding's features: nothing of its own to size

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 3,
        output_activation: str = "sigmoid",
        coord_dim: int | None = None,
        n_neurons: Any = None,  # unused: see the module docstring
        n_hidden_layers: Any = None,  # unused
    ) -> None:
        super().__init__(
            None, in_dim, out_dim, n_hidden_layers=0, output_activation=output_activation, coord_dim=coord_dim
        )
