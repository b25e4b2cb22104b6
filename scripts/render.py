"""Render a trained field at any resolution, sample rate or frame rate from its checkpoint alone.

    python scripts/render.py outputs/<run>/checkpoints/last.ckpt --size 2048 [--out big.png]    # an image
    python scripts/render.py <audio run>/checkpoints/last.ckpt --sample-rate 16000             # -> .wav
    python scripts/render.py <video run>/checkpoints/last.ckpt --fps 50 --size 256 [--out x.gif]  # -> .mp4
    python scripts/render.py <volume run>/checkpoints/last.ckpt --size 256                     # -> a .ply mesh
    python scripts/render.py <shape run>/checkpoints/last.ckpt --size 512                      # -> a .ply mesh
    python scripts/render.py <shape run>/checkpoints/last.ckpt --views --image-size 512        # -> shaded views
    python scripts/render.py <shape set run>/checkpoints/last.ckpt --shape 3 --size 256          # -> training shape 3

Audio, video and volumes are rendered on the denser (or coarser) grid of the same field: --sample-rate and
--fps default to the training signal's, --size to its own frame or volume size (the longer side); a volume's
surface is the 0.5 level of the render (marching cubes), written as a binary PLY; a shape's (data=shape) is the
zero level of its signed distance at --size^3 (default data.size), extracted slab by slab (core/sdf_mesh.py) and
written in the input file's units. --views writes the shape's surface instead as shaded pictures from three
views around it, traced from the field itself (sphere tracing a distance, marching an occupancy's logit; normals
from autograd: nfields/fields/trace.py), --image-size pixels a side, side by side in one PNG, with --up (y or z;
default the run's data.up) up in the pictures. A set of shapes'
conditional field (model=shape_set) is rendered, either way, at one code: --shape i, the i-th training shape's
(named in the output file), or --shape mean (the default), the mean of the trained codes; in the cube's units.

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
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
from tqdm import tqdm

from nfields.core.audio_io import write_wav
from nfields.core.errors import UserError
from nfields.core.media import quantize, to_uint8
from nfields.core.mesh_io import surface, write_ply
from nfields.core.sdf_mesh import extract_surface, torch_fn
from nfields.core.video_io import write_video
from nfields.core.views import strip
from nfields.data.shape_io import Normalisation
from nfields.data.shape_views import UP, orbit_up
from nfields.fields.field import render_grid
from nfields.fields.trace import render_views
from nfields.lit.shape_set import MAX_STEP
from nfields.run.build import load_field
from nfields.run.exits import report_errors
from nfields.run.resume import read_checkpoint
from nfields.tasks.base import size as grid_size


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path, help="a .ckpt written by train.py (e.g. <run dir>/checkpoints/last.ckpt)")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="longer side of an image (default 2048), a video's frames or a volume (default: the training signal's)",
    )
    p.add_argument("--sample-rate", type=float, default=None, help="audio: samples per second (default the clip's)")
    p.add_argument("--fps", type=float, default=None, help="video: frames per second (default the clip's)")
    p.add_argument("--views", action="store_true", help="shape: shaded views of the surface instead of its mesh")
    p.add_argument("--image-size", type=int, default=256, help="--views: each view's side in pixels (default 256)")
    p.add_argument(
        "--up", choices=UP, default=None, help="--views: the axis up in the pictures (default: the run's data.up)"
    )
    p.add_argument(
        "--shape",
        default="mean",
        help="model=shape_set: a trained shape's code by its index in the training split, or mean (the default: the "
        "mean of the trained codes)",
    )
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
    for key in ("size", "sample_rate", "fps", "image_size"):
        value = getattr(a, key)
        if value is not None and value <= 0:
            p.error(f"--{key.replace('_', '-')} must be > 0, got {value}")
    if a.shape != "mean" and not (a.shape.isdigit()):
        p.error(f"--shape must be a trained shape's index (0, 1, ...) or mean, got {a.shape}")
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


def render_slabs(
    field: torch.nn.Module, grid: tuple[int, ...], chunk: int, device: torch.device, dtype: torch.dtype = torch.uint8
) -> torch.Tensor:
    """The field on a grid (n_1, ..., n_d), slab by slab along axis 0, each quantised into a uint8 (*grid, C)
    tensor on the host: no float copy of the whole output. dtype=torch.float32: values in [0, 1] (audio, whose
    samples 8 bits would coarsen)."""
    out = torch.empty(*grid, field.out_dim, dtype=dtype)
    step = max(1, chunk // max(1, math.prod(grid[1:])))
    slabs = range(0, grid[0], step)
    for r0 in tqdm(slabs, desc=f"render {grid_size(grid)}", unit="slab", disable=len(slabs) == 1):
        r1 = min(grid[0], r0 + step)
        values = render_grid(field, grid, chunk=chunk, device=device, rows=(r0, r1))
        out[r0:r1] = (quantize(values) if dtype == torch.uint8 else values.float().clamp(0, 1)).cpu()
    return out


def scaled(shape: tuple[int, ...], size: int | None) -> tuple[int, ...]:
    """`shape` scaled so that its longer side is `size` (None: as it is)."""
    s = 1.0 if size is None else size / max(shape)
    return tuple(max(1, round(n * s)) for n in shape)


def write_shape(
    a: argparse.Namespace,
    meta: dict[str, Any],
    value: Callable[[torch.Tensor], torch.Tensor],
    run_dir: Path,
    name: str,
    to_input: Callable[[np.ndarray], np.ndarray] | None,
    device: torch.device,
    max_step: float | None = None,
) -> Path:
    """A shape's field `value`, points (N, 3) -> (N, 1) negative inside, as shaded views (--views) or as its zero
    level at --size^3 (default data.size) written as a PLY, moved by `to_input` (None: the cube's units). `name`
    goes into the default file name; `max_step` clamps the value the views trace (a clamped objective's values are
    no safe step beyond its clamp)."""
    tag = f"{name}_" if name else ""
    if a.views:  # traced from the field, shaded, from three views (sphere tracing a distance, marching a logit)
        bound = math.inf if max_step is None else max_step
        trace = lambda x: value(x)[..., 0].clamp(-bound, bound)  # noqa: E731  (N, 3) -> (N,)
        distance = bool(meta.get("nfields_shape_distance", True))
        up = a.up or meta.get("nfields_shape_up", "y")  # the run's data.up unless --up says otherwise
        views = orbit_up(3, up)
        imgs = render_views(trace, views, a.image_size, distance=distance, chunk=min(a.chunk, 16384), device=device)
        path = a.out or run_dir / f"views_{tag}{a.image_size}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(path, to_uint8(strip(list(imgs))))
        print(f"rendered {name or 'the shape'}: {len(imgs)} views of {a.image_size}x{a.image_size} -> {path}")
        return path
    n = a.size or meta["nfields_image_shape"][0]
    verts, faces = extract_surface(torch_fn(value, device, a.chunk), n)  # slab by slab: bounded memory
    if not len(faces):
        raise UserError(f"checkpoint {a.checkpoint}: the field has no zero level; train longer or check the data")
    verts = verts.astype("float64") if to_input is None else to_input(verts.astype("float64"))
    path = write_ply(a.out or run_dir / f"render_{tag}{n}.ply", verts, faces)
    print(f"rendered {name or 'the shape'} at {n}^3: {len(verts)} vertices, {len(faces)} triangles -> {path}")
    return path


def render_shape_set(a: argparse.Namespace, meta: dict[str, Any], device: torch.device) -> Path:
    """model=shape_set: the conditional field at one trained shape's code (--shape i, i in the training split's
    code order) or at the mean of the trained codes (--shape mean); meshes in the cube's units (each shape of the
    set was normalised on its own)."""
    where = f"checkpoint {a.checkpoint}"
    field, _ = load_field(a.checkpoint, searchpath=a.searchpath, own_code=False, ckpt=meta)  # codes: its table
    codes = meta["state_dict"].get("source.codes.weight")  # (n_train, code_dim): one per training shape
    if codes is None:
        raise UserError(f"{where}: no trained codes (source.codes.weight); is it a model=shape_set checkpoint?")
    names = meta.get("nfields_shape_names") or [str(i) for i in range(len(codes))]
    if a.shape == "mean":
        code, name = codes.mean(0), "mean"
    elif int(a.shape) < len(codes):
        code, name = codes[int(a.shape)], f"shape{a.shape}_{Path(names[int(a.shape)]).stem}"
    else:
        raise UserError(f"--shape {a.shape}: the checkpoint has {len(codes)} trained shapes (0 to {len(codes) - 1}); "
                        "or --shape mean")  # fmt: skip
    sign = float(meta.get("nfields_shape_sign", 1.0))  # -1: an occupancy logit, high inside
    field, code = field.to(device), code.to(device)
    value = lambda x: sign * field(x, code[None])[0]  # noqa: E731  (N, 3) -> (N, 1), negative inside
    run_dir = a.checkpoint.parent.parent if a.checkpoint.parent.name == "checkpoints" else a.checkpoint.parent
    return write_shape(a, meta, value, run_dir, name, None, device, max_step=MAX_STEP)


def render_other(
    a: argparse.Namespace, meta: dict[str, Any], field: torch.nn.Module, shape: tuple[int, ...], device: torch.device
) -> Path:
    """Audio, video, a volume or a shape: rendered on its grid at the asked density and written in its format."""
    domain, rate = meta.get("nfields_domain"), meta.get("nfields_rate")
    run_dir = a.checkpoint.parent.parent if a.checkpoint.parent.name == "checkpoints" else a.checkpoint.parent
    grid = shape[:-1]
    if domain == "audio":
        out_rate = a.sample_rate or rate
        n = max(1, round(grid[0] * out_rate / rate))
        samples = render_slabs(field, (n,), a.chunk, device, torch.float32) * 2 - 1  # (n, C) in [-1, 1]
        path = write_wav(a.out or run_dir / f"render_{out_rate:g}Hz.wav", samples, round(out_rate))
        print(f"rendered {n} samples at {out_rate:g} Hz -> {path}")
    elif domain == "video":
        out_fps = a.fps or rate
        h, w = scaled(grid[1:], a.size)
        frames = render_slabs(field, (max(1, round(grid[0] * out_fps / rate)), h, w), a.chunk, device)
        path = write_video(a.out or run_dir / f"render_{h}x{w}_{out_fps:g}fps.mp4", frames, out_fps)
        print(f"rendered {frames.shape[0]} frames of {h}x{w} at {out_fps:g} fps -> {path}")
    elif domain == "shape":  # a signed distance or occupancy logit, in the input's units
        sign = float(meta.get("nfields_shape_sign", 1.0))  # -1: an occupancy logit, high inside
        norm = Normalisation(tuple(meta["nfields_shape_centre"]), float(meta["nfields_shape_scale"]))
        path = write_shape(a, meta, lambda x: sign * field(x), run_dir, "", norm.to_input, device)
    else:  # a volume: its 0.5 level as a mesh
        size = scaled(grid, a.size)
        volume = render_slabs(field, size, a.chunk, device)[..., 0].numpy()  # (D, H, W) uint8
        try:
            verts, faces = surface(volume, level=127.5)
        except ValueError as e:  # a field that never reaches 0.5 (or is 0.5 everywhere): no surface to write
            raise UserError(f"checkpoint {a.checkpoint}: {e}; train longer or check the data") from None
        path = write_ply(a.out or run_dir / f"render_{grid_size(size)}.ply", verts, faces)
        print(f"rendered {grid_size(size)}: {len(verts)} vertices, {len(faces)} triangles -> {path}")
    return path


def main(argv: list[str] | None = None) -> Path:
    a = parse_args(argv)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    meta = read_checkpoint(a.checkpoint)  # weights_only; the domain and what train.py stored to render it
    if meta.get("nfields_domain") == "shape_set":  # a conditional field: rendered at one of its codes
        return render_shape_set(a, meta, device)
    field, shape = load_field(a.checkpoint, searchpath=a.searchpath, ckpt=meta)  # no training data needed
    if len(shape) != 3:  # audio (T, C), video (T, H, W, C), a volume or a shape (D, H, W, C)
        return render_other(a, meta, field.to(device), tuple(shape), device)
    h, w = output_size(*shape[:2], a.size or 2048)
    img = render_slabs(field.to(device), (h, w), a.chunk, device)  # (h, w, C) uint8: bands of rows
    out = a.out or default_out(a.checkpoint, h, w)
    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, to_uint8(img))
    print(f"rendered {h}x{w} -> {out}")
    return out


if __name__ == "__main__":
    report_errors(main)  # a user error (a refused checkpoint, ...): one line, exit code 2
