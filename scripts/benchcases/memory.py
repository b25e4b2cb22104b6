"""Benchmark case `memory` of scripts/bench.py: peak memory of `python train.py` on very large images.

    python scripts/bench.py --case memory --device cpu --sizes 2048,4096,8192 --batches 65536

Each size, batch and storage runs `python train.py` in its own process on an 8-bit PNG of astronaut
upscaled to size^2 (a large image as a user would have it), task=fit with random batches of --batches
coordinates, a small field (fourier 16 features, MLP 2x16, so the network's activations are negligible
and what scales is the framework's), validation and test rendering the whole image in chunks of
model.render_chunk. Rows compare model.compact_pixels=false (float32 coordinates and colours) with
true (uint8 colours, coordinates from pixel indices: nfields/lit/pixels.py); "pixel store" is the
device memory those buffers take. Each process reports its peak resident memory (and, on a GPU,
torch.cuda.max_memory_allocated) next to the image's own float32 size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import torch

from nfields.core.io import load_image, square_resize
from nfields.run.build import build_datamodule, build_module
from nfields.run.compose import compose_run_config

from .common import trainer

ROOT = Path(__file__).resolve().parents[2]  # the checkout: train.py runs from here
# The child's peak RSS is VmHWM, the high-water mark of its own address space. getrusage's ru_maxrss
# is not: Linux carries the parent's peak over an exec (subprocess forks a copy of this process),
# so every child would report at least this benchmark's own peak.
PROBE = """
import json, resource, runpy, sys
sys.argv = ["train.py", *json.loads(sys.argv[1])]
runpy.run_path("train.py", run_name="__main__")
try:
    hwm = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    peak = int(hwm.split()[1]) / 1e3  # kB -> MB
except OSError:  # not Linux: ru_maxrss (kB on Linux, bytes on macOS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1e6 if sys.platform == "darwin" else 1e3)
out = {"peak_rss_mb": peak}
import torch
if torch.cuda.is_available():
    out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 1e6
print("MEMORY " + json.dumps(out))
"""

FIELD = ["encoding.n_features=16", "network.n_neurons=16", "network.n_hidden_layers=2", "logger=none"]


def write_image(size: int, folder: str) -> tuple[str, int]:
    """astronaut, bicubic-upscaled to size^2 and saved as an 8-bit PNG -> (path, channels)."""
    img = square_resize(load_image("astronaut"), size, upsample=size > 512)  # astronaut is 512^2
    path = f"{folder}/astronaut_{size}.png"
    iio.imwrite(path, (img * 255).round().clamp(0, 255).to(torch.uint8).numpy())
    return path, img.shape[-1]


def train_args(path: str, batch: int, compact: bool, steps: int, device: str, run_dir: str) -> list[str]:
    """The overrides of `python train.py` for one row."""
    args = [f"data.image={path}", "data.size=null", "validate.allow_large=true", f"data.batch_size={batch}"]
    args += [*FIELD, f"model.compact_pixels={str(compact).lower()}", f"hydra.run.dir={run_dir}"]
    return args + [f"trainer={trainer(device)}", f"trainer.max_steps={steps}"]


def pixel_store_mb(args: list[str]) -> float:
    """Device memory of the observed pixels plus the clean image, as train.py's FieldModule stores them."""
    with tempfile.TemporaryDirectory() as d:
        cfg = compose_run_config(args, f"{d}/run")
        return build_module(cfg, build_datamodule(cfg)).data_nbytes() / 1e6


def peak_memory(args: list[str]) -> dict[str, float]:
    """Peak memory of `python train.py ARGS` in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], cwd=ROOT, capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"train.py {' '.join(args)} failed: {proc.stderr[-2000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MEMORY "))
    return json.loads(line[len("MEMORY ") :])


def run(a: argparse.Namespace) -> None:
    """Case memory: peak memory of each --sizes x --batches x compact_pixels, each in its own process."""
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    sizes, batches, steps, device, extra = ints(a.sizes), ints(a.batches), a.steps or 2000, a.device, a.overrides
    print(f"# memory: fit an 8-bit astronaut upscaled, {steps} steps of random batches, device {device}")
    gpu = device != "cpu"
    cols = "| size | batch | compact_pixels | image float32 (MB) | pixel store (MB) | peak RSS (MB) |"
    print(cols + (" CUDA peak (MB) |" if gpu else "") + "\n" + "|---" * (7 if gpu else 6) + "|")
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path, channels = write_image(size, folder)
            for batch in batches:
                for compact in (False, True):
                    args = train_args(path, batch, compact, steps, device, f"{folder}/run") + extra
                    args.append(f"log.val_every_n_steps={steps}")
                    m = peak_memory(args)
                    row = f"| {size}² | {batch:,} | {str(compact).lower()} | {size * size * channels * 4 / 1e6:.1f} "
                    row += f"| {pixel_store_mb(args):.1f} | {m['peak_rss_mb']:.0f} |"
                    print(row + (f" {m.get('cuda_peak_mb', float('nan')):.0f} |" if gpu else ""), flush=True)
                    shutil.rmtree(f"{folder}/run", ignore_errors=True)
