"""NeuralField: encoding -> network (-> optional conditioning on a latent code z)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nfields.encodings.base import Encoding
from nfields.networks.base import FieldNetwork


class NeuralField(nn.Module):
    """f(coords) -> colours. The network's in_dim is read from the encoding, never typed.

    `network` is a partial (Hydra `_partial_: true`) completed here with
    in_dim = encoding.out_dim and out_dim = the data's channel count.
    """

    def __init__(
        self,
        encoding: Encoding,
        network: Callable[..., FieldNetwork],
        out_dim: int,
    ) -> None:
        super().__init__()
        self.encoding = encoding
        self.network = network(in_dim=encoding.out_dim, out_dim=out_dim)
        self.out_dim = out_dim

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (..., N, 2) in [0, 1]^2 -> colours (..., N, out_dim)."""
        return self.network(self.encoding(coords))


@torch.no_grad()
def render(
    fn: Callable[[torch.Tensor], torch.Tensor], h: int, w: int, chunk: int = 65536, device: torch.device | None = None
) -> torch.Tensor:
    """Evaluate a field on an h x w pixel grid in chunks -> (h, w, C) on the field's device.

    Memory is bounded by `chunk` coordinates at a time, not by h * w, so a 2048^2
    render needs no more activation memory than a 256^2 one.
    """
    from nfields.tasks.base import pixel_grid

    if chunk < 1:
        raise ValueError(f"render chunk must be >= 1, got {chunk}")
    coords = pixel_grid(h, w, device=device).reshape(-1, 2)  # (h*w, 2)
    out = torch.cat([fn(c) for c in coords.split(chunk)], dim=0)  # (h*w, C)
    return out.reshape(h, w, -1)
