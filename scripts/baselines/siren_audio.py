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

    python scripts/baselines/siren_audio.py ../shared/data/audio/gt_bach.wav            # the full protocol (GPU)
    python scripts/baselines/siren_audio.py ../shared/data/audio/gt_bach.wav --reduced  # CPU: 0.5 s from 2 s, 100 steps
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.io import wavfile
from siren_net import Siren, pick_device, psnr

REDUCED = {"offset": 2.0, "duration": 0.5, "steps": 100}  # the CPU check: 0.5 s of music (22,050 samples at 44.1 kHz)


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


def fit(
    samples: np.ndarray,
    steps: int,
    lr: float = 1e-4,
    width: int = 256,
    first: str = "script",
    grid: str = "paper",
    device: torch.device | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Fit the clip (N,) in [-1, 1] with full-batch Adam -> final MSE, PSNR (peak-to-peak 2), SNR, steps/s."""
    device = device or torch.device("cpu")
    torch.set_flush_denormal(True)  # a near-perfect fit's tiny gradients are denormal floats: 10x slower on a CPU
    torch.manual_seed(seed)
    x = coordinates(samples.shape[0], grid, first).to(device)  # (N, 1)
    y = torch.from_numpy(samples)[:, None].to(device)  # (N, 1)
    first_omega = 30.0 if first == "script" else 3000.0  # script: 30 on coordinates times 100
    model = Siren(1, width, n_sine=4, out_dim=1, first_omega=first_omega, hidden_omega=30.0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t = time.perf_counter()
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t
    with torch.no_grad():
        mse = ((model(x) - y) ** 2).mean().item()  # the final field, after the last step
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
    ap.add_argument("--first", choices=("script", "notebook"), default="script")
    ap.add_argument("--grid", choices=("paper", "cells"), default="paper")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    a = ap.parse_args()
    offset = a.offset if a.offset is not None else (REDUCED["offset"] if a.reduced else 0.0)
    duration = a.duration if a.duration is not None else (REDUCED["duration"] if a.reduced else None)
    steps = a.steps if a.steps is not None else (REDUCED["steps"] if a.reduced else 9001)
    samples, rate = read_clip(a.wav, offset, duration)
    r = fit(samples, steps, a.lr, a.width, a.first, a.grid, pick_device(a.device), a.seed)
    print(f"{samples.shape[0]} samples at {rate} Hz, {steps} steps, first={a.first}, grid={a.grid}")
    print(f"final MSE {r['mse']:.6g}  PSNR {r['psnr']:.2f} dB  SNR {r['snr']:.2f} dB  ({r['steps_per_s']:.2f} steps/s)")


if __name__ == "__main__":
    main()
