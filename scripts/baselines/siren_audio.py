"""SIREN on a WAV (Sitzmann et al. 2020, Sec. 4.1, audio), by hand: the reference of experiment=siren_audio.

The protocol, read from vsitzmann/siren (commit 4df34ba):
  experiment_scripts/train_audio.py L19-25, L40-47, L58-63: --wav_path gt_bach.wav (or gt_counting.wav),
      SingleBVPNet(type='sine', mode='mlp', in_features=1): 256 wide, num_hidden_layers=3 (4 sine layers and a
      linear head; modules.py L119-140); Adam lr 1e-4 (its help text and the paper say 5e-5), betas as torch's
      (training.py L17); 9001 steps ("epochs" of a one-item dataset: the whole clip every step, batch_size 1).
  dataio.py AudioFile L560-575: scipy's wavfile.read, a stereo file averaged to mono, float32 as read (no
      scaling by the sample type). ImplicitAudioWrapper L539-558: coordinates np.linspace(-100, 100, N); the
      samples divided by their max |x|.
  modules.py L28-34: sin(30 x) on every layer, so the first layer computes sin(30 (W 100 c + b)), c in [-1, 1]:
      a first-layer frequency of 3000 on c whose bias is still scaled by 30. explore_siren.ipynb (cells 22-28)
      writes the same network as first_omega_0 = 3000 on linspace(-1, 1, N), which scales the bias by 3000
      too, and fits 1000 steps at lr 1e-4: `--first notebook`, nfields' parameterisation (network.w0_initial).
  loss_functions.py L80-81: MSE on the [-1, 1] waveform (the head is linear).
Metric: PSNR with peak-to-peak 2 over [-1, 1], i.e. -10 log10(MSE / 4); nfields fits (x + 1) / 2 in [0, 1], where
its PSNR is the same number. Also the SNR 10 log10(mean x^2 / MSE).

Coordinates: `--grid paper` is the paper's linspace(-1, 1, N) (times 100 with --first script); `--grid cells` is
nfields' c = 2 (i + 0.5) / N - 1 (cell centres), which is the paper's grid times (N - 1) / N.

`--model relu_pe`, SIREN's baseline (train_audio.py --model_type nerf, L48-49): SingleBVPNet(type='relu',
mode='nerf', fn_samples=len(audio), in_features=1): a ReLU MLP of the same size (4 ReLU layers of 256 and a linear
head) on PosEncodingNeRF of the wrapper's coordinates 100 c, with L = floor(log2(N / 4)) octaves (siren_net.py).
`--pe tancik` replaces that encoding by nfields' encoding=positional on u = (c + 1) / 2: k = --n-features
frequencies up to 2^--scale - 1 cycles; by default k = L + 1 (the same width, 2L + 2 against 2L + 1) and the
same top frequency 100 2^(L - 1) (`tancik_settings`). `--init torch` draws the layers as nn.Linear does (nfields'
network.init=torch) instead of the paper's Kaiming normal.

    python scripts/baselines/siren_audio.py ../shared/data/audio/gt_bach.wav            # the full protocol (GPU)
    python scripts/baselines/siren_audio.py ../shared/data/audio/gt_bach.wav --reduced  # CPU: 0.5 s from 2 s, 100 steps
    python scripts/baselines/siren_audio.py ../shared/data/audio/gt_counting.wav --reduced --offset 0.3
    python scripts/baselines/siren_audio.py ../shared/data/audio/gt_bach.wav --reduced --model relu_pe  # the baseline
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy.io import wavfile
from siren_net import LogLinear, NerfEncoding, ReluMLP, Siren, nerf_frequencies, pick_device, psnr
from torch import nn

REDUCED = {"offset": 2.0, "duration": 0.5, "steps": 100}  # the CPU check: 0.5 s of music (22,050 samples at 44.1 kHz)
COUNTING_OFFSET = 0.3  # gt_counting.wav's reduced crop: 0.3 s to 0.8 s holds its first word, "one"


def read_clip(path: str, offset: float = 0.0, duration: float | None = None) -> tuple[np.ndarray, int]:
    """The WAV as the paper reads it, cropped to [offset, offset + duration) seconds -> ((N,) float32, rate).

    The clip is divided by the max |x| of the whole file (the paper fits the whole file, so that is its scale);
    a crop is not rescaled on its own, so the reduced run fits the same waveform nfields reads."""
    rate, a = wavfile.read(path)
    a = a.astype(np.float32)
    a = a.mean(axis=1) if a.ndim > 1 else a  # dataio.AudioFile averages stereo
    a = a / np.abs(a).max()
    start = int(np.floor(offset * rate + 0.5))
    stop = a.shape[0] if duration is None else start + int(np.floor(duration * rate + 0.5))
    return a[start:stop], int(rate)


def coordinates(n: int, grid: str, first: str) -> torch.Tensor:
    """The network's input (n, 1): the paper's linspace or nfields' cell centres, times 100 for --first script."""
    if grid == "paper":
        c = torch.linspace(-1, 1, n)
    else:
        c = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 - 1
    return (c * (100.0 if first == "script" else 1.0))[:, None]


def tancik_settings(n_samples: int) -> tuple[int, float]:
    """--pe tancik's default (k, scale) for a clip of n_samples: NeRF's L octaves plus one (k = L + 1, so 2k
    features against NeRF's 2L + 1) up to NeRF's top frequency, 100 2^(L - 1) cycles over the clip (2^scale - 1,
    scale rounded to 3 decimals so that a command can type it)."""
    n_freq = nerf_frequencies(n_samples)
    return n_freq + 1, round(math.log2(100 * 2 ** (n_freq - 1) + 1), 3)


def build(
    n: int,
    model: str = "siren",
    width: int = 256,
    first: str = "script",
    grid: str = "paper",
    pe: str = "nerf",
    init: str = "paper",
    n_features: int | None = None,
    scale: float | None = None,
) -> tuple[nn.Module, torch.Tensor]:
    """The network and its input (n, in) for a clip of n samples (module docstring: --model, --pe, --init)."""
    if model == "siren":
        first_omega = 30.0 if first == "script" else 3000.0  # script: 30 on coordinates times 100
        net = Siren(1, width, n_sine=4, out_dim=1, first_omega=first_omega, hidden_omega=30.0)
        return net, coordinates(n, grid, first)
    if pe == "nerf":  # train_audio.py L49, on the wrapper's coordinates in [-100, 100]
        enc: nn.Module = NerfEncoding(1, nerf_frequencies(n))
        x = coordinates(n, grid, "script")
    else:  # nfields' encoding=positional on its u in (0, 1) (cell_grid's formula for --grid cells)
        k, s = tancik_settings(n)
        enc = LogLinear(1, n_features or k, s if scale is None else scale)
        x = (torch.arange(n, dtype=torch.float32) + 0.5) / n if grid == "cells" else torch.linspace(0, 1, n)
        x = x[:, None]
    return nn.Sequential(enc, ReluMLP(enc.out_dim, width, n_relu=4, out_dim=1, init=init)), x


def fit(
    samples: np.ndarray,
    steps: int,
    lr: float = 1e-4,
    device: torch.device | None = None,
    seed: int = 0,
    **model: object,
) -> dict[str, float]:
    """Fit the clip (N,) in [-1, 1] with full-batch Adam -> final MSE, PSNR (peak-to-peak 2), SNR, steps/s.
    `model`: build()'s keywords (model, width, first, grid, pe, init, n_features, scale)."""
    device = device or torch.device("cpu")
    torch.set_flush_denormal(True)  # a near-perfect fit's tiny gradients are denormal floats: 10x slower on a CPU
    torch.manual_seed(seed)
    net, x = build(samples.shape[0], **model)  # type: ignore[arg-type]
    net, x = net.to(device), x.to(device)  # x (N, 1)
    y = torch.from_numpy(samples)[:, None].to(device)  # (N, 1)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    t = time.perf_counter()
    for _ in range(steps):
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t
    with torch.no_grad():
        mse = ((net(x) - y) ** 2).mean().item()  # the final field, after the last step
    snr = 10 * np.log10((y**2).mean().item() / mse)
    return {"mse": mse, "psnr": psnr(mse, 2.0), "snr": float(snr), "steps_per_s": steps / dt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav", help="a WAV file, e.g. ../shared/data/audio/gt_bach.wav")
    ap.add_argument("--reduced", action="store_true", help=f"the CPU check: {REDUCED} (the flags below win)")
    ap.add_argument("--offset", type=float, default=None, help="crop start in seconds (default 0)")
    ap.add_argument("--duration", type=float, default=None, help="crop length in seconds (default: the whole clip)")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default 9001)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--model", choices=("siren", "relu_pe"), default="siren")
    ap.add_argument("--first", choices=("script", "notebook"), default=None, help="siren: default script")
    ap.add_argument("--grid", choices=("paper", "cells"), default="paper")
    ap.add_argument("--pe", choices=("nerf", "tancik"), default=None, help="relu_pe: default nerf")
    ap.add_argument("--init", choices=("paper", "torch"), default=None, help="relu_pe: default paper")
    ap.add_argument("--n-features", type=int, default=None, help="relu_pe --pe tancik: k (default L + 1)")
    ap.add_argument("--scale", type=float, default=None, help="relu_pe --pe tancik: log2(1 + top frequency)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    a = ap.parse_args()
    own = {"siren": ("first",), "relu_pe": ("pe", "init", "n_features", "scale")}
    for name in own["relu_pe" if a.model == "siren" else "siren"]:
        if getattr(a, name) is not None:
            ap.error(f"--{name.replace('_', '-')} does not apply to --model {a.model}: drop it")
    if (a.n_features is not None or a.scale is not None) and a.pe != "tancik":
        ap.error("--n-features and --scale size --pe tancik: add --pe tancik or drop them")
    offset = a.offset if a.offset is not None else (REDUCED["offset"] if a.reduced else 0.0)
    duration = a.duration if a.duration is not None else (REDUCED["duration"] if a.reduced else None)
    steps = a.steps if a.steps is not None else (REDUCED["steps"] if a.reduced else 9001)
    samples, rate = read_clip(a.wav, offset, duration)
    if a.model == "siren":
        model = {"model": "siren", "first": a.first or "script"}
    else:
        model = {"model": "relu_pe", "pe": a.pe or "nerf", "init": a.init or "paper"}
        if a.pe == "tancik":
            k, scale = tancik_settings(samples.shape[0])
            model |= {"n_features": a.n_features or k, "scale": scale if a.scale is None else a.scale}
    r = fit(samples, steps, a.lr, pick_device(a.device), a.seed, width=a.width, grid=a.grid, **model)
    setting = ", ".join(f"{k}={v}" for k, v in {**model, "grid": a.grid}.items())
    print(f"{samples.shape[0]} samples at {rate} Hz, {steps} steps, {setting}")
    print(f"final MSE {r['mse']:.6g}  PSNR {r['psnr']:.2f} dB  SNR {r['snr']:.2f} dB  ({r['steps_per_s']:.2f} steps/s)")


if __name__ == "__main__":
    main()
