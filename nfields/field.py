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
    fn: Callable[[torch.Tensor], torch.Tensor],
    h: int,
    w: int,
    chunk: int = 65536,
    device: torch.device | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Evaluate a field on an h x w pixel grid in chunks -> (h, w, C) on the field's device.

    Coordinates are generated chunk by chunk and written into one preallocated output,
    so memory beyond the (h, w, C) result is bounded by `chunk` coordinates: a 2048^2
    render needs no more activation memory than a 256^2 one. `progress` shows a bar.
    """
    if chunk < 1:
        raise ValueError(f"render chunk must be >= 1, got {chunk} (model.render_chunk / --chunk)")
    n = h * w
    starts = range(0, n, chunk)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"render {h}x{w}", unit="chunk")
    out = None
    for s in starts:
        idx = torch.arange(s, min(s + chunk, n), device=device)  # (B,) row-major pixel indices
        coords = torch.stack([(idx % w + 0.5) / w, (idx // w + 0.5) / h], -1).float()  # (B, 2) pixel centres (u, v)
        y = fn(coords)  # (B, C)
        if out is None:
            out = torch.empty(n, y.shape[-1], dtype=y.dtype, device=y.device)
        out[s : s + y.shape[0]] = y
    return out.reshape(h, w, -1)
