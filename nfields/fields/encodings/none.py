"""encoding=none: raw coordinates, the baseline that shows the spectral bias of ReLU MLPs."""

from __future__ import annotations

import torch

from nfields.fields.encodings.base import Encoding


class Identity(Encoding):
    """Passes (u, v) through unchanged: out_dim == in_dim."""

    raw = True

    @property
    def out_dim(self) -> int:
        return self.in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return x
