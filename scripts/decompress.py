"""Rebuild a field from an .nfc file alone and render it, at the signal's own size or any other.

    python scripts/decompress.py kodim01.nfc --out kodim01.png               # the size it was fitted at
    python scripts/decompress.py kodim01.nfc --out big.png --size 1024x1536  # H x W, or one number: the longer side
    python scripts/decompress.py clip.nfc --out clip.wav      # audio at its own rate; a video -> .mp4 or .gif,
    python scripts/decompress.py vol.nfc --out vol.ply --size 128             # a volume -> its 0.5 surface as a mesh

Nothing but the file is read: the header's config (checked against the allowlist checkpoints use, plus your own
config dirs named by --searchpath) builds the field, the payload fills its weights. A truncated, corrupted
(CRC-32) or crafted file (a target outside the allowlist, tensor sizes that do not match the field its config
builds, absurd dimensions) is refused with one line on stderr and exit code 2, and nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio

from nfields.analysis.codec.codec import decode_field
from nfields.analysis.codec.container import MAX_SIDE, CodecFileError, read_file
from nfields.analysis.codec.runs import render_levels
from nfields.core.audio_io import write_wav
from nfields.core.errors import UserError
from nfields.core.files import atomic_path
from nfields.core.media import to_uint8
from nfields.core.mesh_io import surface, write_ply
from nfields.core.video_io import write_video
from nfields.run.exits import report_errors

SUFFIXES = {"image": (".png",), "audio": (".wav",), "video": (".mp4", ".gif"), "volume": (".ply",)}


def parse_size(text: str) -> tuple[int, ...]:
    """'HxW' (or 'DxHxW') -> those sides; 'N' -> (N,), the longer side."""
    try:
        sides = tuple(int(s) for s in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW or a number") from None
    if not all(0 < s <= MAX_SIDE for s in sides):
        raise argparse.ArgumentTypeError(f"{text!r}: every side must be in 1..{MAX_SIDE}")
    return sides


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", type=Path, help="an .nfc file written by scripts/compress.py")
    p.add_argument("--out", type=Path, required=True, help="image .png, audio .wav, video .mp4/.gif, volume .ply")
    p.add_argument("--size", type=parse_size, default=None, help="HxW, or the longer side (default: the signal's)")
    p.add_argument("--chunk", type=int, default=65536, help="coordinates per forward pass (bounds the memory)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    p.add_argument("--searchpath", action="append", default=[], help="your own config dir (file://DIR), as render.py")
    a = p.parse_args(argv)
    if a.chunk < 1:
        p.error(f"--chunk must be >= 1, got {a.chunk}")
    return a


def out_grid(grid: tuple[int, ...], size: tuple[int, ...] | None, domain: str) -> tuple[int, ...]:
    """The grid to render: the signal's, scaled to a longer side, or the sides given (images, volumes)."""
    if size is None:
        return grid
    if len(size) == 1:
        scaled_axes = grid[1:] if domain == "video" else grid  # a video keeps its frame count
        s = size[0] / max(scaled_axes)
        scaled = tuple(max(1, round(n * s)) for n in scaled_axes)
        return (grid[0], *scaled) if domain == "video" else scaled
    axes = len(grid) - (1 if domain == "video" else 0)
    if len(size) != axes:
        raise UserError(f"--size {'x'.join(map(str, size))}: this {domain} has {axes} axes to size")
    return (grid[0], *size) if domain == "video" else size


def main(argv: list[str] | None = None) -> Path:
    a = parse_args(argv)
    field, header = decode_field(read_file(a.file), str(a.file), a.searchpath)  # every check before any write
    domain, grid = header["domain"], tuple(header["shape"][:-1])
    if domain not in SUFFIXES or a.out.suffix.lower() not in SUFFIXES[domain]:
        raise CodecFileError(f"--out {a.out}: a {domain} is written as {' or '.join(SUFFIXES.get(domain, ('?',)))}")
    grid = out_grid(grid, a.size, domain)
    values = render_levels(field, grid, a.chunk, a.device)  # (*grid, C) uint8
    if domain == "image":
        with atomic_path(a.out) as tmp:
            iio.imwrite(tmp, to_uint8(values))
    elif domain == "audio":
        write_wav(a.out, values.float() / 255 * 2 - 1, round(header["rate"]))
    elif domain == "video":
        write_video(a.out, values, header["rate"])
    else:
        try:
            verts, faces = surface(values[..., 0].numpy(), level=127.5)
        except ValueError as e:
            raise UserError(f"{a.file}: {e}") from None
        write_ply(a.out, verts, faces)
    print(f"rendered {'x'.join(map(str, grid))} -> {a.out}")
    return a.out


if __name__ == "__main__":
    report_errors(main)
