"""network=mlp: ReLU MLP with a sigmoid output (colours in [0, 1])."""

from __future__ import annotations

import torch

from nfields.fields.networks.base import FieldNetwork


class MLP(FieldNetwork):
    def activation(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return torch.relu(h)
