"""The hand-written baseline of scripts/bench.py --case video: a video fitted with random batches, in plain PyTorch.

What `python train.py data=video data.batch_size=B` does by default, written as a user would write it (no nfields
import): the clip stays (T, H, W, C) uint8; each step draws B cells with replacement (torch.randint on the
device), rebuilds their cell-centre coordinates from the flat index, ((column + 0.5) / W, (row + 0.5) / H,
(frame + 0.5) / T), converts their colours to float in [0, 1], and takes one Adam step (fused, lr 1e-3, cosine
decay to 0 over the run) on the MSE of Gaussian Fourier features (256, sigma 10, of the coordinates in [0, 1])
into a ReLU MLP of 3 hidden layers of 256 with a sigmoid out.

    python scripts/baselines/video_loop.py --frames 32 --size 128 --batch 65536 --steps 20
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
from torch import nn


class FourierMLP(nn.Module):
    """Gaussian Fourier features (m, d) -> ReLU MLP (`depth` hidden layers of `width`) -> sigmoid."""

    def __init__(self, d: int, out: int, m: int = 256, sigma: float = 10.0, width: int = 256, depth: int = 3) -> None:
        super().__init__()
        self.register_buffer("B", torch.randn(m, d) * sigma)  # (m, d)
        layers, n = [], 2 * m
        for _ in range(depth):
            layers += [nn.Linear(n, width), nn.ReLU()]
            n = width
        self.net = nn.Sequential(*layers, nn.Linear(n, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x @ (2 * math.pi * self.B).t()  # (N, m)
        return torch.sigmoid(self.net(torch.cat([torch.cos(p), torch.sin(p)], -1)))  # (N, out)


class VideoLoop:
    """The clip (T, H, W, C) uint8 on `device`, the field, its optimiser and `step()`."""

    def __init__(
        self, clip: torch.Tensor, device: torch.device, batch: int, steps: int, width: int = 256, lr: float = 1e-3
    ) -> None:
        torch.manual_seed(0)
        self.shape = tuple(clip.shape[:-1])  # (T, H, W)
        self.values = clip.reshape(-1, clip.shape[-1]).to(device)  # (N, C) uint8, C order
        self.device, self.batch = device, batch
        self.model = FourierMLP(3, clip.shape[-1], width=width).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, fused=True)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda t: (1 + math.cos(math.pi * min(t / steps, 1))) / 2
        )
        self.gen = torch.Generator(device=device).manual_seed(0)

    def coords(self, idx: torch.Tensor) -> torch.Tensor:
        """Flat C-order indices (B,) -> cell centres (B, 3) = (u, v, t) in (0, 1)."""
        t, h, w = self.shape
        return torch.stack([(idx % w + 0.5) / w, (idx // w % h + 0.5) / h, (idx // (w * h) + 0.5) / t], -1)

    def step(self) -> None:
        idx = torch.randint(0, self.values.shape[0], (self.batch,), device=self.device, generator=self.gen)  # (B,)
        target = self.values[idx].float() / 255  # (B, C) in [0, 1]
        loss = ((self.model(self.coords(idx)) - target) ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()

    def runner(self) -> Callable[[], None]:
        return self.step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=65536)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    clip = torch.randint(0, 256, (a.frames, a.size, a.size, 3), dtype=torch.uint8)  # speed only: any levels
    loop = VideoLoop(clip, torch.device(a.device), a.batch, a.steps, a.width)
    loop.step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loop.step()
    if loop.device.type == "cuda":
        torch.cuda.synchronize()
    print(f"{a.steps / (time.perf_counter() - t0):.2f} steps/s")


if __name__ == "__main__":
    main()
