"""Tancik et al. 2020, Table 1 (2-D images), by hand: plain PyTorch, numpy and Pillow; no nfields import.

Written to be checked line by line against the cell of the paper's notebook that produced Table 1:

    x_test = linspace(0, 1, RES, endpoint=False); grid (RES, RES, 2)   # here: one image of RES^2
    train:  x[::2, ::2], y[::2, ::2]      test: x[1::2, 1::2], y[1::2, 1::2]
    input_mapping(x, B) = [sin(2 pi x B^T), cos(2 pi x B^T)]  (none: x itself)
      basic       B = I (2 x 2)
      positional  B = (2^linspace(0, s, m) - 1) on each axis (m = embedding_size // 2 per axis)
      gaussian    B = sigma * N(0, 1) of shape (m, 2), one draw shared by every image
    network  [Dense(256), Relu] * 3 + [Dense(3), Sigmoid]; stax's Dense: W glorot-normal, b ~ N(0, 1e-2)
    loss = 0.5 * mean((f(x) - y)^2); Adam(lr), full batch, 2000 steps; PSNR = -10 log10(2 * loss)

The reduced CPU mode area-downsamples each 512^2 image to --size first (block means). Prints, per
encoding, mean +- std test PSNR over the images, and writes --json for scripts/ffn_table.py.

    python scripts/baselines/ffn_reference.py --root /path/to/ffn/div2k --size 128 --steps 500 --limit 4 \\
        --lr none=1e-2,basic=1e-2 --scale 6 --sigma 10
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

ENCODINGS = ("none", "basic", "positional", "fourier")


def load_set(root: Path, split: str, limit: int, size: int | None) -> list[np.ndarray]:
    """The first `limit` images of root/split/*.png as float32 (H, W, 3) in [0, 1], block-mean downsampled."""
    files = sorted((root / split).glob("*.png"))[:limit]
    out = []
    for f in files:
        a = np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
        if size is not None and size != a.shape[0]:
            k = a.shape[0] // size  # an integer factor: 512 -> 256, 128, 64
            a = a[: size * k, : size * k].reshape(size, k, size, k, 3).mean(axis=(1, 3))
        out.append(a)
    return out


def b_matrix(encoding: str, m: int, scale: float, sigma: float, seed: int) -> torch.Tensor | None:
    """The notebook's B for one encoding: (rows, 2), or None for raw coordinates."""
    if encoding == "none":
        return None
    if encoding == "basic":
        return torch.eye(2)
    if encoding == "positional":
        freqs = 2.0 ** torch.linspace(0, scale, m // 2) - 1  # (m/2,) per axis, a constant term first
        zero = torch.zeros_like(freqs)
        return torch.cat([torch.stack([freqs, zero], 1), torch.stack([zero, freqs], 1)])  # (m, 2)
    gen = torch.Generator().manual_seed(seed)
    return sigma * torch.randn(m, 2, generator=gen)  # (m, 2)


class Net(nn.Module):
    """[Dense(256), ReLU] x 3 + [Dense(3), Sigmoid] with stax's initialisation."""

    def __init__(self, d_in: int, width: int = 256, depth: int = 4) -> None:
        super().__init__()
        dims = [d_in] + [width] * (depth - 1) + [3]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        for lin in self.layers:
            nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0 / (lin.in_features + lin.out_features)))  # glorot normal
            nn.init.normal_(lin.bias, 0.0, 1e-2)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for lin in self.layers[:-1]:
            h = torch.relu(lin(h))
        return torch.sigmoid(self.layers[-1](h))


def fit(img: np.ndarray, B: torch.Tensor | None, lr: float, steps: int, seed: int) -> float:
    """Train on the even grid of img, return test PSNR on the odd grid (dB)."""
    torch.manual_seed(seed)
    res = img.shape[0]
    t = torch.linspace(0, 1, res + 1)[:-1]  # linspace(0, 1, RES, endpoint=False)
    x = torch.stack(torch.meshgrid(t, t, indexing="xy"), -1)  # (RES, RES, 2)
    y = torch.from_numpy(img)

    def gamma(v: torch.Tensor) -> torch.Tensor:  # input_mapping
        return (
            v if B is None else torch.cat([torch.sin(2 * math.pi * v @ B.t()), torch.cos(2 * math.pi * v @ B.t())], -1)
        )

    x_train, y_train = gamma(x[::2, ::2].reshape(-1, 2)), y[::2, ::2].reshape(-1, 3)
    x_test, y_test = gamma(x[1::2, 1::2].reshape(-1, 2)), y[1::2, 1::2].reshape(-1, 3)
    net = Net(x_train.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = 0.5 * ((net(x_train) - y_train) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return -10 * math.log10(2 * 0.5 * ((net(x_test) - y_test) ** 2).mean().item())


def table(images: list[np.ndarray], lrs: dict[str, float], scale: float, sigma: float, steps: int, seed: int) -> dict:
    """{encoding: {"mean", "std", "psnr": per image}} over the images (std: numpy's, ddof 0, as the notebook)."""
    out = {}
    for enc in ENCODINGS:
        B = b_matrix(enc, 256, scale, sigma, seed)  # 256 rows: 512 features (positional: 128 per axis)
        psnrs = [fit(img, B, lrs[enc], steps, seed) for img in images]
        out[enc] = {"mean": float(np.mean(psnrs)), "std": float(np.std(psnrs)), "psnr": psnrs}
    return out


def parse_lrs(text: str, default: float) -> dict[str, float]:
    lrs = dict.fromkeys(ENCODINGS, default)
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        if key not in lrs:
            raise SystemExit(f"--lr {item}: unknown encoding {key!r}; choose from {', '.join(ENCODINGS)}")
        lrs[key] = float(value)
    return lrs


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, required=True, help="a set folder with train/ and test/ (e.g. ffn/div2k)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--size", type=int, default=None, help="area-downsample to this side (reduced mode)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", default="", help="per-encoding lr, e.g. none=1e-2,basic=1e-2 (others: --base-lr)")
    ap.add_argument("--base-lr", type=float, default=1e-3)
    ap.add_argument("--scale", type=float, default=6.0, help="positional: log2 of the top frequency")
    ap.add_argument("--sigma", type=float, default=10.0, help="gaussian: the std of B")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    images = load_set(a.root, a.split, a.limit, a.size)
    if not images:
        raise SystemExit(f"--root {a.root}: no {a.split}/*.png images")
    t = time.perf_counter()
    res = table(images, parse_lrs(a.lr, a.base_lr), a.scale, a.sigma, a.steps, a.seed)
    for enc, r in res.items():
        print(f"{enc:>10}: {r['mean']:.2f} +- {r['std']:.2f} dB")
    print(f"{len(images)} images, {time.perf_counter() - t:.0f} s")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
