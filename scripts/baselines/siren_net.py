"""SIREN as the papers' code writes it, shared by the hand-written references (plain PyTorch, no nfields import).

vsitzmann/siren (commit 4df34ba) modules.py: FCBlock L37-87 (a first sine layer, num_hidden_layers more, a linear
head), Sine L28-34 (sin(30 x) on every layer), sine_init L622-628 (every weight, the head's too,
U(-sqrt(6 / n) / 30, +...)), first_layer_sine_init L631-636 (the first layer's weight U(-1 / n, 1 / n)); biases
keep nn.Linear's U(-1 / sqrt(n), +...). explore_siren.ipynb's SineLayer (cell 3) is the same network with
sin(omega_0 (W x + b)) and omega_0 per layer; voilalab/INR-benchmark models/siren.py copies that cell and ends on
a sine layer instead of the linear head (outermost_linear=False).

SIREN's own baseline, the same file: SingleBVPNet(type='relu', mode='nerf') L119-140, a ReLU FCBlock (L50-51:
init_weights_normal L596-599) on PosEncodingNeRF L222-263; `LogLinear` is nfields' encoding=positional written out,
so that both sides can be run on one encoding.
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


class NerfEncoding(nn.Module):
    """modules.py PosEncodingNeRF L222-263: x (N, d) -> [x, sin(2^i pi x_j), cos(2^i pi x_j)] (N, d + 2 d L), for
    i < L the outer loop and axis j the inner (L250-263). The coordinates are fed as given: SIREN's audio wrapper
    hands it linspace(-100, 100, N) (dataio.py L542), so octave i is 100 2^i cycles over the clip."""

    def __init__(self, in_dim: int, n_frequencies: int) -> None:
        super().__init__()
        self.in_dim, self.n_frequencies = in_dim, n_frequencies
        self.out_dim = in_dim + 2 * in_dim * n_frequencies  # L244

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]  # (N, d): the input itself comes first
        for i in range(self.n_frequencies):
            for j in range(self.in_dim):
                c = x[:, j : j + 1]  # (N, 1)
                feats += [torch.sin((2**i) * math.pi * c), torch.cos((2**i) * math.pi * c)]
        return torch.cat(feats, dim=-1)  # (N, out_dim)


def nerf_frequencies(n_samples: int) -> int:
    """PosEncodingNeRF.get_num_frequencies_nyquist L246-248 for a 1-D signal of n_samples (fn_samples, L238-242):
    floor(log2(n / 4)), computed as the file does."""
    nyquist_rate = 1 / (2 * (2 * 1 / n_samples))
    return int(math.floor(math.log(nyquist_rate, 2)))


class LogLinear(nn.Module):
    """nfields' encoding=positional (Tancik et al.'s log-linear frequencies), written out: u (N, d) in (0, 1) ->
    [cos(2 pi B u), sin(2 pi B u)] (N, 2 k d), B's rows f_j e_a axis-major, f_j = 2^(scale j / (k - 1)) - 1, j < k:
    frequency 0 first (a constant pair) and 2^scale - 1 cycles over the unit interval at the top."""

    def __init__(self, in_dim: int, k: int, scale: float) -> None:
        super().__init__()
        freqs = 2.0 ** torch.linspace(0.0, scale, k, dtype=torch.float64) - 1  # (k,)
        eye = torch.eye(in_dim, dtype=torch.float64)  # (d, d)
        self.register_buffer("B", (freqs[None, :, None] * eye[:, None, :]).reshape(k * in_dim, in_dim).float())
        self.out_dim = 2 * k * in_dim

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        phase = u @ (self.B * (2 * math.pi)).t()  # (N, k d): 2 pi scales B, not the phases, as nfields does
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class ReluMLP(nn.Module):
    """modules.py FCBlock L37-87, nonlinearity='relu', outermost_linear=True: in_dim -> n_relu ReLU layers of
    `width` -> a linear head. init 'paper': init_weights_normal (L596-599, applied to every layer, L83-84), Kaiming
    normal weights N(0, 2 / fan_in), biases as nn.Linear drew them; 'torch': nn.Linear's own (nfields' mlp)."""

    def __init__(self, in_dim: int, width: int, n_relu: int = 4, out_dim: int = 1, init: str = "paper") -> None:
        super().__init__()
        dims = [in_dim] + [width] * n_relu
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.head = nn.Linear(width, out_dim)
        if init == "paper":
            for lin in [*self.layers, self.head]:
                nn.init.kaiming_normal_(lin.weight, a=0.0, nonlinearity="relu", mode="fan_in")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, in_dim) -> (N, out_dim)."""
        h = x
        for lin in self.layers:
            h = torch.relu(lin(h))  # (N, width)
        return self.head(h)


def psnr(mse: float, peak_to_peak: float = 1.0) -> float:
    """PSNR in dB of a mean squared error over a signal whose range is `peak_to_peak` wide."""
    return 10 * math.log10(peak_to_peak**2 / mse)


def pick_device(name: str | None) -> torch.device:
    """The named device, else CUDA when present, else the CPU."""
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
