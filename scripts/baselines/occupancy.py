"""The INR benchmark's occupancy experiment (Kim & Fridovich-Keil, "Grids often outperform implicit neural
representations"), by hand: the reference of experiment=occupancy.

The protocol, read from voilalab/INR-benchmark (commit 0463b3f):
  run_dragon.sh: run.py with signal 4 (Voxel_Fitting), dimension 3, sparse 0 (the occupancy volume; 1 is the
      surface shell). bandlimited_signal.py L290-300: target_signals/dragon.npy (146 x 104 x 66 bool) as 0/1.
  run.py L48-49 (3-D models: FourFeat, Siren, Wire, GAPlane, Instant_NGP, BACON, Grid), L55-59 and
      hyperparameters.json ("iters": 1000), L77-80 budgets 1e4, 3e4, 1e5, 3e5, 1e6, 3e6 parameters,
      L113-117 coordinates np.linspace(-1, 1, n, endpoint=False) per axis (cell corners, not centres), stacked
      (axis 1, axis 0, axis 2) by np.meshgrid's xy indexing; L164-176 the whole volume every step (batches of
      4e5 at 3e6 parameters, and for Wire at 1e6 too: then one "iteration" is an epoch); L198 Adam at the model's
      lr (FourFeat 1e-3, Siren 1e-4, Wire 5e-4, Instant_NGP 1e-2); L96 nn.MSELoss on 0/1 targets;
      L205-223 a Grid beside every model, Adam lr 0.1; L287-331 the PSNR -10 log10 MSE of the output clamped
      to [0, 1] at iteration 1, every 100 and the last, the best one's weights saved; L382 records.csv keeps
      the final PSNR.
  evaluate_voxel.py L244-276 and utils.py compute_iou L636-667: IoU of the saved (best-PSNR) output, both
      volumes thresholded at 0.2 (nfields scores IoU at 0.5: both are printed).
  models/: siren.py (omega 90 on every layer, 4 sine layers and a sine output layer, width from
      model_utils.calc_layer_width), fourfeat.py (B = 20 N(0, 1) of 1000 x 3, [sin, cos] of 2 pi x B^T,
      Linear(2000, w), ReLU, Linear(w, w), ReLU, Linear(w, w), Linear(w, 1): no ReLU before the head),
      wire.py (a real first layer, then 2 complex Gabor layers exp(j 15 l - |10 l|^2) of the width for half the
      budget, a complex head, its real part), grid.py (floor(P^(1/3))^3 values initialised to 0.1, trilinear
      F.grid_sample with align_corners=True and border padding).
  Instant_NGP needs tiny-cuda-nn and a config file outside the repository (instant_ngp.py L13): not here.

--size s averages the volume down to s^3 cells and keeps a cell occupied where at least half of it is (nfields'
data.size for occupancy). `--grid cells` feeds nfields' cell centres c = 2 (i + 0.5) / n - 1, ordered
(along W, along H, along D), instead of the benchmark's corners; `--head linear` ends SIREN on nfields' linear head.

    python scripts/baselines/occupancy.py ../shared/data/volume/dragon.npy                  # 1e4, 3e4, 1e5 (GPU)
    python scripts/baselines/occupancy.py ../shared/data/volume/dragon.npy --reduced        # CPU: 32^3, 300 steps
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from siren_net import Siren, pick_device
from torch import nn

LR = {"grid": 0.1, "siren": 1e-4, "fourfeat": 1e-3, "wire": 5e-4}
FULL = {"size": None, "steps": 1000, "budgets": [1e4, 3e4, 1e5]}
REDUCED = {"size": 32, "steps": 300, "budgets": [1e4]}


def calc_layer_width(in_features: int, hidden_layers: int, mapping_size: int, max_params: float) -> int:
    """model_utils.calc_layer_width for one output: the width w solving a w^2 + b w + c = 0."""
    a = hidden_layers
    if mapping_size >= 100:
        in_features = 2 * mapping_size
    b = in_features + 1 + hidden_layers
    c = in_features + 1 - max_params
    return int(math.floor((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)))


class FourFeat(nn.Module):
    def __init__(self, budget: float, sigma: float = 20.0, m: int = 1000) -> None:
        super().__init__()
        w = calc_layer_width(2, 2, m, budget)
        self.register_buffer("B", torch.randn(m, 3) * sigma)  # (m, 3); the benchmark draws it with numpy
        self.net = nn.Sequential(nn.Linear(2 * m, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(), nn.Linear(w, w))
        self.head = nn.Linear(w, 1)
        self.kept: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kept is None or self.kept[0] is not x:  # fixed features of fixed coordinates: computed once
            p = 2 * math.pi * x @ self.B.t()  # (N, m)
            self.kept = (x, torch.cat([torch.sin(p), torch.cos(p)], -1))
        return self.head(self.net(self.kept[1]))


class GaborLayer(nn.Module):
    """exp(j omega l - |sigma l|^2) of l = W h + b (wire.py ComplexGaborLayer); real weights on the first layer."""

    def __init__(self, n_in: int, n_out: int, first: bool, omega: float = 15.0, sigma: float = 10.0) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out, dtype=torch.float if first else torch.cfloat)
        self.omega, self.sigma = omega, sigma

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        lin = self.linear(h)
        return torch.exp(1j * self.omega * lin - (self.sigma * lin).abs().square())


class Wire(nn.Module):
    def __init__(self, budget: float) -> None:
        super().__init__()
        w = calc_layer_width(3, 2, 1, budget // 2)  # complex numbers count twice
        self.net = nn.Sequential(GaborLayer(3, w, True), GaborLayer(w, w, False), GaborLayer(w, w, False))
        self.head = nn.Linear(w, 1, dtype=torch.cfloat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x)).real


class Grid(nn.Module):
    def __init__(self, budget: float) -> None:
        super().__init__()
        r = int(np.floor(budget ** (1 / 3)))
        self.grid = nn.Parameter(torch.full((1, 1, r, r, r), 0.1))  # (1, C, D, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.grid_sample(self.grid, x[None, None, None], mode="bilinear", padding_mode="border", align_corners=True)
        return out.reshape(-1, 1)  # (N, 1)


def siren(budget: float, head: str = "sine") -> nn.Module:
    """siren.py: 4 sine layers, omega 90 on every one, and a sine output layer (`head` linear: nfields' head)."""
    return Siren(3, calc_layer_width(3, 3, 1, budget), 4, 1, 90.0, 90.0, sine_head=head == "sine")


MODELS: dict[str, Callable[[float], nn.Module]] = {"grid": Grid, "siren": siren, "fourfeat": FourFeat, "wire": Wire}


def read_volume(path: str, size: int | None) -> torch.Tensor:
    """The .npy occupancy (D, H, W) -> float 0/1, averaged down to size^3 and thresholded at 0.5 when size is set."""
    v = torch.from_numpy(np.load(path).astype(np.float32))
    if size is not None:
        v = (F.adaptive_avg_pool3d(v[None, None], (size,) * 3)[0, 0] >= 0.5).float()
    return v


def coordinates(shape: tuple[int, int, int], grid: str) -> torch.Tensor:
    """(N, 3) in C order of the (D, H, W) volume: the benchmark's corners in (axis 1, axis 0, axis 2) order, or
    nfields' cell centres in (axis 2, axis 1, axis 0) order."""
    if grid == "paper":
        axes = [torch.from_numpy(np.linspace(-1, 1, n, endpoint=False)).float() for n in shape]
        mesh = torch.meshgrid(*axes, indexing="ij")
        order = (mesh[1], mesh[0], mesh[2])
    else:
        axes = [(torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 - 1 for n in shape]
        order = torch.meshgrid(*axes, indexing="ij")[::-1]
    return torch.stack(order, dim=-1).reshape(-1, 3)


def iou(pred: torch.Tensor, truth: torch.Tensor, threshold: float) -> float:
    p, t = pred > threshold, truth > threshold
    union = (p | t).sum().item()
    return 1.0 if union == 0 else (p & t).sum().item() / union


def fit(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, evaluate_every: int = 100
) -> dict[str, float]:
    """Full-batch Adam on y (N,) 0/1 -> final PSNR, best PSNR (iteration 1, every 100, last), IoU@0.2 of the
    best output (the benchmark's), IoU@0.5 of the final output (nfields'), steps/s."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_out, final = -math.inf, None, None
    t = time.perf_counter()
    for it in range(1, steps + 1):
        loss = F.mse_loss(model(x).squeeze(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % evaluate_every == 0 or it in (1, steps):
            with torch.no_grad():
                out = model(x).squeeze(-1).clamp(0, 1)  # (N,)
            p = -10 * math.log10(F.mse_loss(out, y).item())
            if p > best:
                best, best_out = p, out
            final = (p, out)
    dt = time.perf_counter() - t
    return {"psnr": final[0], "best_psnr": best, "iou_0.2_best": iou(best_out, y, 0.2),
            "iou_0.5": iou(final[1], y, 0.5), "steps_per_s": steps / dt}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("volume", help="an .npy occupancy volume, e.g. ../shared/data/volume/dragon.npy")
    ap.add_argument("--reduced", action="store_true", help=f"the CPU check: {REDUCED} (the flags below win)")
    ap.add_argument("--size", type=int, default=None, help="average down to size^3 cells (default: as stored)")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default 1000)")
    ap.add_argument("--budgets", type=float, nargs="+", default=None, help="parameter budgets (default 1e4 3e4 1e5)")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--grid", choices=("paper", "cells"), default="paper")
    ap.add_argument("--head", choices=("sine", "linear"), default="sine", help="siren's output layer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    a = ap.parse_args()
    base = REDUCED if a.reduced else FULL
    size = a.size if a.size is not None else base["size"]
    steps = a.steps if a.steps is not None else base["steps"]
    budgets = a.budgets if a.budgets is not None else base["budgets"]
    device = pick_device(a.device)
    torch.set_flush_denormal(True)  # denormal gradients late in a fit are 10x slower on a CPU
    y3 = read_volume(a.volume, size)
    x, y = coordinates(tuple(y3.shape), a.grid).to(device), y3.reshape(-1).to(device)
    print(f"volume {tuple(y3.shape)}, occupied {y.mean().item():.4f}, {steps} steps, grid={a.grid}")
    for budget in budgets:
        for name in a.models:
            torch.manual_seed(a.seed)
            model = (siren(budget, a.head) if name == "siren" else MODELS[name](budget)).to(device)
            n = sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
            r = fit(model, x, y, steps, LR[name])
            print(f"budget {budget:.0e} {name:8s} {n:7d} params  " + "  ".join(f"{k} {v:.4f}" for k, v in r.items()))


if __name__ == "__main__":
    main()
