"""SIREN as the papers' code writes it, shared by the hand-written references (plain PyTorch, no nfields import).

vsitzmann/siren (commit 4df34ba) modules.py: FCBlock L37-87 (a first sine layer, num_hidden_layers more, a linear
head), Sine L28-34 (sin(30 x) on every layer), sine_init L622-628 (every weight, the head's too,
U(-sqrt(6 / n) / 30, +...)), first_layer_sine_init L631-636 (the first layer's weight U(-1 / n, 1 / n)); biases
keep nn.Linear's U(-1 / sqrt(n), +...). explore_siren.ipynb's SineLayer (cell 3) is the same network with
sin(omega_0 (W x + b)) and omega_0 per layer; voilalab/INR-benchmark models/siren.py copies that cell and ends on
a sine layer instead of the linear head (outermost_linear=False).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Siren(nn.Module):
    """in_dim -> n_sine sine layers of `width` -> out_dim: sin(w (W h + b)), w = first_omega on the first layer and
    hidden_omega after; the head is linear (SIREN's) or one more sine layer (`sine_head`, the INR benchmark's)."""

    def __init__(
        self,
        in_dim: int,
        width: int,
        n_sine: int = 4,
        out_dim: int = 1,
        first_omega: float = 30.0,
        hidden_omega: float = 30.0,
        sine_head: bool = False,
    ) -> None:
        super().__init__()
        dims = [in_dim] + [width] * n_sine
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.head = nn.Linear(width, out_dim)
        self.omegas = [first_omega] + [hidden_omega] * (n_sine - 1) + ([hidden_omega] if sine_head else [])
        self.sine_head = sine_head
        with torch.no_grad():
            for lin in [*self.layers, self.head]:  # sine_init: every layer, biases as nn.Linear drew them
                bound = math.sqrt(6 / lin.in_features) / hidden_omega
                lin.weight.uniform_(-bound, bound)
            first = self.layers[0]
            first.weight.uniform_(-1 / first.in_features, 1 / first.in_features)  # first_layer_sine_init

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, in_dim) -> (N, out_dim)."""
        h = x
        for lin, w in zip(self.layers, self.omegas, strict=False):
            h = torch.sin(w * lin(h))  # (N, width)
        out = self.head(h)  # (N, out_dim)
        return torch.sin(self.omegas[-1] * out) if self.sine_head else out


def psnr(mse: float, peak_to_peak: float = 1.0) -> float:
    """PSNR in dB of a mean squared error over a signal whose range is `peak_to_peak` wide."""
    return 10 * math.log10(peak_to_peak**2 / mse)


def pick_device(name: str | None) -> torch.device:
    """The named device, else CUDA when present, else the CPU."""
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
