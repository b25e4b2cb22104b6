"""Case `video` of scripts/bench.py: a video fitted with random batches, nfields' train() against the hand-written
loop (scripts/baselines/video_loop.py) doing the same work, in lock-step (alongside.py).

The clip is nfields' generated moving_shapes at --frames x --size^2 (written as PNG frames, read back by
data=video), or --video FILE (e.g. ../shared/data/video/bikes.mp4, with --frames and --size as data.frames and
data.size). Both sides fit it with --batch random cells a step (2^16 by default) from the uint8 clip: nfields with
`data=video`'s defaults (Fourier features 256, sigma 10, a 3x256 ReLU MLP, fused Adam lr 1e-3, cosine decay).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import imageio.v3 as iio
import torch
from baselines.video_loop import VideoLoop

from nfields.data.video import moving_shapes, read_video

from . import alongside
from .common import train_run, trainer


def clip_for(a: argparse.Namespace, folder: Path) -> tuple[torch.Tensor, list[str]]:
    """The clip (T, H, W, C) uint8 both sides fit, and the data overrides that make nfields read the same one."""
    if a.video:
        over = [f"data.path={a.video}", f"data.frames={a.frames or 'null'}", f"data.size={a.size or 'null'}"]
        return read_video(a.video, a.frames, 1, a.size)[0], over
    clip = moving_shapes(a.frames or 32, a.size or 128)  # (T, S, S, 3)
    for i, frame in enumerate(clip.numpy()):
        iio.imwrite(folder / f"frame_{i:04d}.png", frame)
    return clip, [f"data.path={folder}"]


def one(a: argparse.Namespace, clip: torch.Tensor, data: list[str]) -> tuple[float, float]:
    """One nfields run with the hand loop in lock-step -> (hand steps/s, nfields steps/s)."""
    loop = VideoLoop(clip, torch.device(a.device), a.batch, a.steps, a.width or 256)
    for _ in range(3):  # the hand loop's warm-up (nfields' first call is its own)
        loop.step()
    alongside.PENDING.append(loop.step)
    over = ["data=video", *data, f"data.batch_size={a.batch}", f"trainer={trainer(a.device)}", "logger=none"]
    over += [f"trainer.max_steps={a.steps}", f"log.val_every_n_steps={a.steps}", f"log.gif_every_n_steps={a.steps}"]
    over += [f"network.n_neurons={a.width or 256}", f"+callbacks.alongside._target_={alongside.TARGET}", *a.overrides]
    with tempfile.TemporaryDirectory() as d:
        _, m = train_run(over, Path(d) / "run")
    return alongside.Alongside.last.steps_per_s, m["perf/steps_per_s"]


def run(a: argparse.Namespace) -> None:
    """Case video: --repeat lock-step comparisons; each ratio, and their median."""
    a.steps = a.steps or 30
    with tempfile.TemporaryDirectory() as folder:
        clip, data = clip_for(a, Path(folder))
        t, h, w, c = clip.shape
        print(f"# video: {t} frames of {h}x{w}x{c} uint8 ({a.video or 'generated moving_shapes'}), batch {a.batch}, ")
        print(f"# {a.steps} steps, width {a.width or 256}, device {a.device}, {torch.get_num_threads()} threads")
        print("| run | hand-written steps/s | nfields steps/s | ratio nfields / hand |\n|---|---|---|---|")
        ratios = []
        for i in range(a.repeat):
            hand, ours = one(a, clip, data)
            ratios.append(ours / hand)
            print(f"| {i + 1} | {hand:.3f} | {ours:.3f} | {ratios[-1]:.3f} |", flush=True)
    print(f"\nratio nfields / hand-written steps/s: {', '.join(f'{r:.3f}' for r in ratios)}; ", end="")
    print(f"median {statistics.median(ratios):.3f}")
