"""The hand-written baseline nfields is timed against: the Fourier-features field as a user would write it.

A 4-layer ReLU MLP (sigmoid out) on Gaussian Fourier features (m = 256, sigma = 10) fits one RGB
image with full-batch Adam, lr 1e-3. Split as in Tancik et al. 2020: train on the even grid, test
PSNR on the odd grid. No framework: plain PyTorch (no nfields import), the anchor for overhead and quality.

Levers, so that comparisons stay fair when nfields uses them too:
  eager       the plain loop (zero_grad, forward, backward, step);
  fused       the plain loop with torch's fused Adam (one kernel for the whole update: nfields' default);
  kept        fused, and a full batch's Fourier features computed once, not every step (nfields' default too);
  compile       torch.compile of the model;
  compile_step  torch.compile of the loss (forward, and AOT-compiled backward) and of the Adam update: what
                nfields' model.compile=step does (with mode reduce-overhead, so CUDA graphs, on a GPU);
  cuda_graph    the whole step (forward, backward, fused capturable Adam) captured in one CUDA graph.

--batch B trains on B random pixels of the even grid a step (drawn on the device) instead of all of them.

    python scripts/baselines/ffn_loop.py --size 128 --steps 300             # CPU
    python scripts/baselines/ffn_loop.py --size 512 --mode cuda_graph       # GPU
    python scripts/baselines/ffn_loop.py --size 2048 --batch 1048576 --width 32 --steps 20   # random batches
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("eager", "fused", "kept", "compile", "compile_step", "cuda_graph")


class HandFF(nn.Module):
    """Fourier features (fp32) -> `depth`-layer ReLU MLP -> sigmoid."""

    def __init__(self, m: int = 256, sigma: float = 10.0, width: int = 256, depth: int = 4, out: int = 3) -> None:
        super().__init__()
        self.register_buffer("B", torch.randn(m, 2) * sigma)  # (m, 2)
        layers, d = [], 2 * m
        for _ in range(depth - 1):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        self.net = nn.Sequential(*layers, nn.Linear(d, out))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        p = 2 * math.pi * x @ self.B.t()  # (N, m)
        return torch.cat([torch.cos(p), torch.sin(p)], -1)  # (N, 2m)

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.net(self.features(x) if features is None else features))  # (N, 3)


def astronaut(size: int) -> torch.Tensor:
    """skimage's astronaut (512^2 RGB) at size^2 -> (size, size, 3) in [0, 1]: area-averaged down, bicubic up."""
    import skimage.data

    x = torch.from_numpy(skimage.data.astronaut()).float().div(255).permute(2, 0, 1)[None]  # (1, 3, 512, 512)
    if size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="area" if size < x.shape[-1] else "bicubic").clamp(0, 1)
    return x[0].permute(1, 2, 0).contiguous()


def pixel_grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    """Pixel-centre coordinates (h, w, 2) in (0, 1)^2, last dim (column, row): ((j + 0.5) / w, (i + 0.5) / h)."""
    v = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    u = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv], dim=-1)


def protocol_split(img: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Even-grid training pixels and odd-grid test pixels of img (H, W, 3) -> (x, y, x_test, y_test)."""
    g = pixel_grid(img.shape[0], img.shape[1], device)  # (H, W, 2)
    y = img.float().to(device)
    train = g[::2, ::2].reshape(-1, 2).contiguous(), y[::2, ::2].reshape(-1, 3).contiguous()
    test = g[1::2, 1::2].reshape(-1, 2), y[1::2, 1::2].reshape(-1, 3)
    return (*train, *test)


def time_steps(step: Callable[[], None], steps: int, device: torch.device | str, warmup: int = 5) -> float:
    """Seconds for `steps - warmup` calls of `step` after `warmup` untimed ones (GPU work synchronised)."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(steps - warmup):
        step()
    sync()
    return time.perf_counter() - t


def graph_step(step: Callable[[], None]) -> Callable[[], None]:
    """Capture `step` (after 3 warm-up calls on a side stream, as CUDA graphs require) -> a replay."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        step()
    return g.replay


class HandLoop:
    """The loop's state (data, model, optimiser) and its `step()`: zero_grad, forward, backward, update.
    `batch`: random pixels of the even grid a step, drawn on the device (None: all of them)."""

    def __init__(
        self, img: torch.Tensor, device: torch.device, width: int = 256, mode: str = "eager", batch: int | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: choose one of {', '.join(MODES)}")
        if mode == "cuda_graph" and device.type != "cuda":
            raise ValueError("mode=cuda_graph needs a CUDA device")
        torch.manual_seed(0)
        self.device, self.batch, self.graph = device, batch, mode == "cuda_graph"
        self.x, self.y, self.x_test, self.y_test = protocol_split(img, device)
        self.full = batch is None or batch >= self.x.shape[0]  # every training pixel every step
        self.model = HandFF(width=width).to(device)
        fused = {"fused": True} if mode in ("fused", "kept") else {}
        fused = {"fused": True, "capturable": True} if self.graph else fused
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, **fused)
        fwd = torch.compile(self.model) if mode == "compile" else self.model
        self.gen = torch.Generator(device=device).manual_seed(0)

        kept = self.model.features(self.x) if mode == "kept" and self.full else None  # (N, 2m), fixed: no grad

        def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return ((fwd(x, kept) - y) ** 2).mean()

        self.loss_of, self.update = loss_of, self.opt.step
        if mode == "compile_step":
            cmode = "reduce-overhead" if device.type == "cuda" else None
            self.loss_of, self.update = torch.compile(loss_of, mode=cmode), torch.compile(self.opt.step, mode=cmode)

    @property
    def coords(self) -> int:
        """Coordinates per step."""
        return self.x.shape[0] if self.full else self.batch

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=not self.graph)  # a graph replays into the same gradient buffers
        if self.full:
            x, y = self.x, self.y
        else:
            idx = torch.randint(0, self.x.shape[0], (self.batch,), device=self.device, generator=self.gen)  # (B,)
            x, y = self.x[idx], self.y[idx]
        self.loss_of(x, y).backward()
        self.update()

    def runner(self) -> Callable[[], None]:
        """What one step calls: `step`, or the replay of its CUDA graph (captured here)."""
        return graph_step(self.step) if self.graph else self.step

    @torch.no_grad()
    def psnr(self) -> float:
        """Test PSNR on the odd grid (dB)."""
        return -10 * math.log10(((self.model(self.x_test) - self.y_test) ** 2).mean().item())


def train(
    img: torch.Tensor,
    steps: int,
    device: torch.device,
    width: int = 256,
    mode: str = "eager",
    warmup: int = 5,
    batch: int | None = None,
) -> dict[str, float]:
    """Fit img (H, W, 3) with the protocol -> steps/s (after `warmup` steps), coordinates per step, test PSNR,
    and startup_s (compilation / capture and the warm-up steps)."""
    loop = HandLoop(img, device, width, mode, batch)
    t0 = time.perf_counter()
    run = loop.runner()
    dt = time_steps(run, steps, device, warmup)
    first = time.perf_counter() - t0 - dt  # capture/compile and warm-up: the time to the first timed step
    return {"steps_per_s": (steps - warmup) / dt, "coords": loop.coords, "psnr": loop.psnr(), "startup_s": first}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--mode", choices=MODES, default="eager")
    ap.add_argument("--batch", type=int, default=None, help="random pixels per step (default: all)")
    a = ap.parse_args()
    device = torch.device(a.device)
    r = train(astronaut(a.size), a.steps, device, a.width, a.mode, batch=a.batch)
    print(f"{a.mode}: {r['steps_per_s']:.1f} steps/s, {r['steps_per_s'] * r['coords'] / 1e6:.2f} Mcoord/s, ", end="")
    print(f"test PSNR {r['psnr']:.2f} dB, {r['startup_s']:.1f} s to the first timed step")


if __name__ == "__main__":
    main()
