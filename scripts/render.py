"""Render a trained field at any resolution from its checkpoint alone.

    python scripts/render.py outputs/<run>/checkpoints/last.ckpt --size 2048 [--out big.png]

The field is rebuilt from the config stored in the checkpoint (nfields.run.build.load_field; the
training image is not needed) and evaluated in chunks of --chunk coordinates, each band of rows
quantised into the uint8 output, so memory does not grow with the output size beyond the uint8
image itself. --size is the longer side; the aspect ratio of the training
image is kept. Without --out the PNG goes to the run directory as render_<h>x<w>.png.

A checkpoint is data from wherever it came from: its stored config may only name targets that
nfields' configs define, or that your own config dirs named by --searchpath define (nfields/run/trusted.py);
anything else, or a bad or unreadable checkpoint, is one line on stderr and exit code 2 before anything
is built or written (HYDRA_FULL_ERROR=1: traceback). An option kept outside the repository
(docs/extending.md) renders as it trained, with its module on PYTHONPATH and its config dir named:

    PYTHONPATH=~/my_fields python scripts/render.py <ckpt> --searchpath file://$HOME/my_fields/configs
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import torch
from tqdm import tqdm

from nfields.core.media import quantize, to_uint8
from nfields.fields.field import render
from nfields.run.build import load_field
from nfields.run.exits import report_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a .ckpt written by train.py (e.g. <run dir>/checkpoints/last.ckpt)")
    p.add_argument("--size", type=int, default=2048, help="longer side of the output in pixels (default 2048)")
    p.add_argument("--out", type=Path, default=None, help="output PNG (default <run dir>/render_<h>x<w>.png)")
    p.add_argument("--chunk", type=int, default=65536, help="coordinates per forward pass (bounds the memory)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    p.add_argument(
        "--searchpath",
        action="append",
        default=[],
        help="a config dir of your own options (file://DIR, as train.py's hydra.searchpath): the targets its "
        "YAML files name may be built; repeat for several",
    )
    a = p.parse_args(argv)
    if a.size < 1:
        p.error(f"--size must be >= 1, got {a.size}")
    if a.chunk < 1:
        p.error(f"--chunk must be >= 1, got {a.chunk}")
    if not a.checkpoint.is_file():
        p.error(f"checkpoint not found: {a.checkpoint} (train.py writes <run dir>/checkpoints/last.ckpt)")
    return a


def output_size(h: int, w: int, size: int) -> tuple[int, int]:
    """(h, w) scaled so that the longer side is `size`."""
    s = size / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def default_out(ckpt: Path, h: int, w: int) -> Path:
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return run_dir / f"render_{h}x{w}.png"


def main(argv: list[str] | None = None) -> Path:
    a = parse_args(argv)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    field, shape = load_field(a.checkpoint, map_location=device, searchpath=a.searchpath)  # no training data needed
    h, w = output_size(*shape[:2], a.size)
    field = field.to(device)
    # Bands of rows, each quantised into a uint8 image on the host: no float image of the whole output.
    img = torch.empty(h, w, field.out_dim, dtype=torch.uint8)  # (h, w, C)
    bands = range(0, h, max(1, a.chunk // w))
    for r0 in tqdm(bands, desc=f"render {h}x{w}", unit="band", disable=len(bands) == 1):
        r1 = min(h, r0 + bands.step)
        img[r0:r1] = quantize(render(field, h, w, chunk=a.chunk, device=device, rows=(r0, r1))).cpu()
    out = a.out or default_out(a.checkpoint, h, w)
    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, to_uint8(img))
    print(f"rendered {h}x{w} -> {out}")
    return out


if __name__ == "__main__":
    report_errors(main)  # a user error (a refused checkpoint, ...): one line, exit code 2
