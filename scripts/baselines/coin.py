"""COIN (Dupont et al. 2021) by hand: one image stored as a SIREN's fp16 weights. Plain PyTorch; no nfields import.

The protocol, read from EmilienDupont/coin (commit a21e507):
  main.py L17-25, L55-67: Adam lr 2e-4, 50,000 iterations, w0 = w0_initial = 30; the image read by imageio and
      torchvision's ToTensor (values / 255 in [0, 1]); Siren(dim_in=2, dim_hidden=layer_size, dim_out=3,
      num_layers, final_activation=Identity). README: the paper's architectures, num_layers x layer_size 5x20,
      5x30, 10x28, 10x40, 13x49.
  siren.py L56-94: num_layers sine layers (the first 2 -> width, then width -> width) and a last linear layer
      width -> 3 with the identity after it: `num_layers` counts the sine layers, as nfields' n_hidden_layers.
      L34-53: sin(w0 (W x + b)); weights AND biases U(-bound, bound), bound 1 / dim_in on the first layer and
      sqrt(6 / dim_in) / w0 on the others (the last layer's too, with w0 = 30).
  util.py L31-46: coordinates (row, column) of every pixel, row-major, index / (H - 1) * 2 - 1: the rows span
      [-1, 1] and, divided by H - 1 too, the columns [-1, 2 (W - 1) / (H - 1) - 1] (2.0 on a landscape Kodak).
  training.py L36-65: the whole image every step; MSE; psnr = -10 log10 MSE of the step's prediction (made
      before the update). get_clamped_psnr(predicted, features) clamps and rounds its second argument, the
      ground truth (util.py L88-97), so the prediction is scored unclamped. When that psnr beats the best so far
      and i > num_iters / 2, the weights are copied: the weights after the update, one step past those scored.
  main.py L92-116: the kept weights; model.half() and half coordinates (CUDA), the render scored with the same
      get_clamped_psnr(img_recon, img): unclamped again. util.py L49-63: bpp = 16 x parameters / pixels.

Printed: the kept weights' PSNR as COIN logs it (fp32, unclamped), then fp16 two ways: COIN's half model
("half compute", unclamped) and the fp16 weights evaluated in fp32 with the render clamped and rounded to 8-bit
levels ("8-bit"), which is what a decoder writes and what scripts/compress.py --bits 16 reports; and bpp.

Settings that differ from nfields, to run nfields' side exactly (the reduced comparison):
  --grid cells   nfields' coordinates: (column, row) at pixel centres, 2 (j + 0.5) / W - 1 and 2 (i + 0.5) / H - 1
  --bias torch   nfields' SIREN biases: nn.Linear's U(-1 / sqrt(fan_in), +...) instead of the weights' bound
  --size N       nfields' data.size: the centre square crop, area-downsampled to N x N (float, not re-rounded)

    python scripts/baselines/coin.py ../shared/data/kodak/kodim15.png --layers 5 --width 20       # COIN (GPU)
    python scripts/baselines/coin.py ../shared/data/kodak/kodim15.png --size 128 --steps 1000 --grid cells --bias torch
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ARCHITECTURES = ((5, 20), (5, 30), (10, 28), (10, 40), (13, 49))  # (num_layers, layer_size): COIN's README


def load_image(path: str, size: int | None = None) -> torch.Tensor:
    """(H, W, 3) float32 in [0, 1]: the file / 255 (ToTensor's); `size`: nfields' data.size (centre square crop,
    then area-downsampled to size x size)."""
    img = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0)
    if size is None:
        return img
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    img = img[top : top + s, left : left + s]
    if size == s:
        return img.contiguous()
    return F.interpolate(img.permute(2, 0, 1)[None], size=(size, size), mode="area")[0].permute(1, 2, 0).contiguous()


def coordinates(h: int, w: int, grid: str = "coin") -> torch.Tensor:
    """The network's input (h w, 2), in the pixels' row-major order (the features' order, util.py L45)."""
    i, j = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    if grid == "coin":  # util.py L39-43: (row, column) / (H - 1), both axes
        return (torch.stack([i, j], -1).reshape(-1, 2) / (h - 1) - 0.5) * 2
    return torch.stack([(j + 0.5) / w, (i + 0.5) / h], -1).reshape(-1, 2) * 2 - 1  # nfields: (u, v) cell centres


class Siren(nn.Module):
    """siren.py: `layers` sine layers of `width` and a linear head to 3; w0 on every layer (w0_initial = w0 = 30
    in COIN). bias 'coin': each bias drawn with its layer's weight bound; 'torch': nn.Linear's 1 / sqrt(fan_in)."""

    def __init__(self, layers: int, width: int, w0: float = 30.0, bias: str = "coin") -> None:
        super().__init__()
        dims = [2] + [width] * layers + [3]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.w0 = w0
        with torch.no_grad():
            for k, lin in enumerate(self.linears):
                n = lin.in_features
                bound = 1 / n if k == 0 else math.sqrt(6 / n) / w0  # siren.py L43
                lin.weight.uniform_(-bound, bound)
                b = bound if bias == "coin" else 1 / math.sqrt(n)
                lin.bias.uniform_(-b, b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 2) -> (N, 3)."""
        for lin in self.linears[:-1]:
            x = torch.sin(self.w0 * lin(x))  # (N, width)
        return self.linears[-1](x)  # the identity after the last layer (main.py L64)


def psnr_db(mse: float) -> float:
    """util.py psnr on [0, 1] values."""
    return -10 * math.log10(mse)


def fit(
    image: torch.Tensor,
    layers: int = 5,
    width: int = 20,
    steps: int = 50_000,
    lr: float = 2e-4,
    seed: int = 0,
    grid: str = "coin",
    bias: str = "coin",
    device: torch.device | None = None,
) -> dict[str, float]:
    """COIN on one image (H, W, 3) in [0, 1] -> PSNRs (dB) of the kept weights (module docstring), bpp, timing."""
    device = device or torch.device("cpu")
    torch.manual_seed(seed)
    net = Siren(layers, width, bias=bias).to(device)
    h, w = image.shape[:2]
    x = coordinates(h, w, grid).to(device)  # (N, 2)
    y = image.reshape(-1, 3).to(device)  # (N, 3), the same row-major order
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    best, kept = 0.0, {k: v.detach().clone() for k, v in net.state_dict().items()}  # training.py L22-25
    t = time.perf_counter()
    for i in range(steps):
        loss = F.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        p = psnr_db(loss.item())  # the prediction before this update, unclamped (training.py L46)
        if p > best:
            best = p
            if i > int(steps / 2.0):  # training.py L63-65: the weights after the update
                kept = {k: v.detach().clone() for k, v in net.state_dict().items()}
    dt = time.perf_counter() - t
    with torch.no_grad():
        last = psnr_db(F.mse_loss(net(x), y).item())  # the final weights, for reference
        net.load_state_dict(kept)
        kept_psnr = psnr_db(F.mse_loss(net(x), y).item())
        net.load_state_dict({k: v.half().float() for k, v in kept.items()})  # fp16 weights, fp32 arithmetic
        levels = (net(x).clamp(0, 1) * 255).round() / 255  # the decoded 8-bit image
        fp16_levels = psnr_db(F.mse_loss(levels, y).item())
        half = net.half()  # main.py L101-115: half weights, half coordinates, half arithmetic
        fp16_half = psnr_db(F.mse_loss(half(x.half()).float(), y).item())
    params = sum(p.numel() for p in net.parameters())
    return {
        "best_train_psnr": best,
        "psnr": kept_psnr,
        "psnr_last": last,
        "psnr_fp16_half": fp16_half,
        "psnr_fp16": fp16_levels,
        "parameters": params,
        "bpp": 16 * params / (h * w),
        "steps_per_s": steps / dt if steps else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", help="an image file, e.g. ../shared/data/kodak/kodim15.png")
    ap.add_argument("--layers", type=int, default=5, help="num_layers: the sine layers (default 5)")
    ap.add_argument("--width", type=int, default=20, help="layer_size (default 20)")
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=None, help="nfields' data.size: square crop, area-downsampled")
    ap.add_argument("--grid", choices=("coin", "cells"), default="coin")
    ap.add_argument("--bias", choices=("coin", "torch"), default="coin")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--device", default=None, help="default: CUDA when present, else the CPU")
    a = ap.parse_args()
    if a.layers < 1 or a.width < 1 or a.steps < 0 or a.lr <= 0 or (a.size is not None and a.size < 2):
        ap.error("--layers, --width >= 1, --steps >= 0, --lr > 0, --size >= 2")
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    image = load_image(a.image, a.size)
    r = fit(image, a.layers, a.width, a.steps, a.lr, a.seed, a.grid, a.bias, device)
    h, w = image.shape[:2]
    print(f"{a.image} {h}x{w}, {a.layers}x{a.width} ({r['parameters']} parameters), {a.steps} steps at lr {a.lr}")
    print(f"  grid={a.grid} bias={a.bias} seed={a.seed} ({r['steps_per_s']:.2f} steps/s)")
    best, last = r["best_train_psnr"], r["psnr_last"]
    print(f"PSNR {r['psnr']:.2f} dB (kept weights, fp32; best train {best:.2f}, last {last:.2f})")
    print(f"fp16: {r['psnr_fp16']:.2f} dB (8-bit render, as decoded); {r['psnr_fp16_half']:.2f} dB (COIN's half model)")
    print(f"bpp {r['bpp']:.4f} (16 x {r['parameters']} / {h * w} pixels)")


if __name__ == "__main__":
    main()
