"""Writing videos: (T, H, W, C) uint8 frames -> an .mp4 (H.264, or MPEG-4 Part 2) or a .gif, with PyAV.

Frames are encoded one at a time, so writing needs no float copy and no second copy of the clip.
The file appears whole or not at all: it is written to a temporary file in the same folder and
moved into place with os.replace.

Formats:
  * .mp4: libx264 (H.264, CRF 18) when the PyAV build has it, else mpeg4 (MPEG-4 Part 2, quantiser 2).
    Both take yuv420p, which halves the chroma resolution and needs an even height and width: an
    odd H or W is padded with one more row or column (a copy of the last), so the file is
    (H + H % 2, W + W % 2) and reads back at that size.
  * .gif: each frame gets its own 256-colour palette (Pillow's median cut, no dithering). A GIF
    stores each frame's delay in whole hundredths of a second: a rate that does not divide 100
    (e.g. 30 fps) gets delays of 3 and 4 hundredths, so it plays at about that rate, not exactly.
Grayscale frames (C = 1) are written as RGB with three equal channels.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from nfields.core.files import atomic_path

MP4_CODECS = ("libx264", "mpeg4")  # preferred first; PyPI's av wheels have shipped libx264, not libopenh264
# High quality rather than the encoders' small defaults: CRF 18; a constant quantiser 2 (ffmpeg's -q:v 2)
# x264's lookahead holds frames: its default (40) took ~200 MB to encode 1280x720 frames, 4 takes ~90 MB (crf 18
# keeps the quality; only the rate control's look ahead is shorter)
MP4_OPTIONS = {"libx264": {"crf": "18", "rc-lookahead": "4"}, "mpeg4": {"qmin": "2", "qmax": "2"}}
GIF_TIME_BASE = Fraction(1, 100)  # GIF delays are whole centiseconds
VIDEO_WRITE_SUFFIXES = (".mp4", ".gif")


def mp4_codec() -> str:
    """The first codec of MP4_CODECS that this PyAV build can encode with."""
    for name in MP4_CODECS:
        if name in av.codecs_available:
            return name
    raise RuntimeError(f"PyAV has none of the encoders {', '.join(MP4_CODECS)}; reinstall av from PyPI")


def write_video(path: str | Path, frames: torch.Tensor | np.ndarray, fps: float, codec: str | None = None) -> Path:
    """Write (T, H, W, C) uint8 frames (C in {1, 3}) at `fps` frames per second to `path` (.mp4 or .gif).

    `codec` (mp4 only) names the encoder; None picks the first available of MP4_CODECS. Returns the path."""
    a = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] not in (1, 3) or 0 in a.shape:
        raise ValueError(
            f"cannot write video {path}: expected (T, H, W, C) uint8 with C 1 or 3, got {a.dtype} {a.shape}"
        )
    return write_video_frames(path, a, a.shape[1:3], a.shape[3], fps, codec)


def write_video_frames(
    path: str | Path,
    frames: Iterable[np.ndarray],
    size: Sequence[int],
    channels: int,
    fps: float,
    codec: str | None = None,
) -> Path:
    """write_video of frames given one at a time, each (H, W, C) uint8 with (H, W) = size: a clip streamed from a
    render is encoded as it comes, never held whole."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_WRITE_SUFFIXES:
        raise ValueError(f"cannot write video {path}: use a name ending in {' or '.join(VIDEO_WRITE_SUFFIXES)}")
    if not isinstance(fps, numbers.Real) or isinstance(fps, bool) or not 0 < fps < float("inf"):
        raise ValueError(f"cannot write video {path}: fps={fps!r} must be a positive number")
    h, w = (int(n) for n in size)
    frames = checked(frames, (h, w, channels), path)
    rate = Fraction(fps).limit_denominator(1001 * 1000)  # 30000/1001 (NTSC) stays exact
    with atomic_path(path) as tmp_path:
        tmp = str(tmp_path)  # with the suffix: PyAV picks the container from it
        if suffix == ".gif":
            encode(tmp, gif_frames(frames), "gif", rate, w, h, "pal8", {}, GIF_TIME_BASE)
        else:
            name = codec if codec is not None else mp4_codec()
            if name not in av.codecs_available:
                raise ValueError(
                    f"cannot write video {path}: codec={name!r} is not in this PyAV build; use "
                    + " or ".join(MP4_CODECS)
                )
            eh, ew = h + h % 2, w + w % 2
            encode(tmp, rgb_frames(frames, eh, ew), name, rate, ew, eh, "yuv420p", MP4_OPTIONS.get(name, {}), None)
    return path


def checked(frames: Iterable[np.ndarray], shape: tuple[int, int, int], path: Path) -> Iterator[np.ndarray]:
    """The frames, each checked to be `shape` (H, W, C) uint8 as it comes; none at all is refused."""
    n = 0
    for f in frames:
        if f.dtype != np.uint8 or f.shape != shape or shape[2] not in (1, 3) or 0 in shape:
            raise ValueError(f"cannot write video {path}: frame {n} is {f.dtype} {f.shape}, expected uint8 {shape}")
        n += 1
        yield f
    if n == 0:
        raise ValueError(f"cannot write video {path}: no frames")


def encode(
    file: str,
    frames: Iterator[av.VideoFrame],
    codec: str,
    rate: Fraction,
    width: int,
    height: int,
    pix_fmt: str,
    options: dict[str, str],
    time_base: Fraction | None,
) -> None:
    """Encode `frames` (one av.VideoFrame at a time) into a new container at `file` (format from its suffix)."""
    with av.open(file, "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            stream.codec_context.time_base = time_base
        tb = time_base if time_base is not None else 1 / rate
        for i, frame in enumerate(frames):
            frame.pts, frame.time_base = round(i / rate / tb), tb  # frame i starts at i / rate seconds
            container.mux(stream.encode(frame))
        container.mux(stream.encode())  # flush the encoder's delayed frames


def rgb_frames(a: Iterable[np.ndarray], height: int, width: int) -> Iterator[av.VideoFrame]:
    """(T, H, W, C) uint8 -> rgb24 frames of (height, width), edge-padded at the bottom/right when larger."""
    for f in a:  # (H, W, C)
        f = np.pad(f, ((0, height - f.shape[0]), (0, width - f.shape[1]), (0, 0)), mode="edge")
        if f.shape[2] == 1:
            f = np.repeat(f, 3, axis=2)
        yield av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")


def gif_frames(a: Iterable[np.ndarray]) -> Iterator[av.VideoFrame]:
    """(T, H, W, C) uint8 -> pal8 frames, each quantised to its own palette of up to 256 colours."""
    for f in a:  # (H, W, C)
        im = Image.fromarray(np.ascontiguousarray(np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f), "RGB")
        p = im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        rgb = np.asarray(p.getpalette("RGB"), dtype=np.uint8).reshape(-1, 3)  # (n, 3), n <= 256
        palette = np.zeros((256, 4), dtype=np.uint8)  # ARGB, as PyAV's pal8 wants
        palette[:, 0], palette[: len(rgb), 1:] = 255, rgb
        yield av.VideoFrame.from_ndarray((np.asarray(p), palette), format="pal8")
