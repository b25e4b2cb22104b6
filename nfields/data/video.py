"""Reading videos: a file (.mp4, .avi, .mov, .mkv, .webm, .gif; decoded with PyAV) or a folder of frames
(.png/.jpg/.jpeg, in the order of their names: zero-pad the numbers, frame_0009.png before frame_0010.png),
and a generated default clip.

Frames come out as (T, H, W, C) uint8 levels: C = 3 from a file (decoded to RGB), 1 or 3 from a folder
(each frame converted as data=image converts an image). Memory stays bounded by the output: frames are
decoded one at a time, those the stride drops are not converted, decoding stops after the last frame
asked for, and each kept frame is resized on its own and written into one preallocated uint8 tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import av
import torch

from nfields.core.checks import check_arg, nullable, string
from nfields.core.errors import DataError
from nfields.core.io import read_file, square_resize, to_float_image
from nfields.core.media import quantize
from nfields.core.video_io import write_video, write_video_frames
from nfields.data.grid import GridDataModule
from nfields.tasks.base import Task

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
FOLDER_FPS = 25.0  # a folder of frames carries no rate: this is its rate unless `fps` says otherwise


def read_video(
    path: str | Path, frames: int | None = None, stride: int = 1, size: int | None = None, fps: float | None = None
) -> tuple[torch.Tensor, float]:
    """A video file or a folder of frames -> ((T, H, W, C) uint8, frames per second of the returned clip).

    stride: keep every stride-th frame (0, stride, 2 stride, ...); the returned rate is the source's / stride.
    frames: keep the first `frames` of those (None: all of them).
    size: each frame as data.size does an image: centre-cropped to a square, resized to (size, size) by area
        averaging, rounded to uint8 levels; a size above the shorter side is refused. None keeps the whole
        frames, not square (the image convention crops even then; video benchmarks use whole frames).
    fps: the source's frame rate: a folder's (None: FOLDER_FPS), or a number that overrides a file's own."""
    check_count("data.frames", frames, ", or null for every frame")
    check_count("data.stride", stride, " (1 keeps every frame)")
    check_count("data.size", size, ", or null for the frames' whole size")
    if fps is not None and not (isinstance(fps, int | float) and not isinstance(fps, bool) and 0 < fps < math.inf):
        raise DataError(f"fps={fps!r}: must be a positive number (the source's frames per second), or null")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"video not found: {path} (set data.path to a video file or a folder of frames)")
    if path.is_dir():
        return read_folder(path, frames, stride, size, FOLDER_FPS if fps is None else float(fps))
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise DataError(
            f"{path}: unsupported video type {path.suffix or '(no suffix)'!r}; use {', '.join(VIDEO_SUFFIXES)} "
            f"or a folder of {'/'.join(FRAME_SUFFIXES)} frames"
        )
    try:
        return read_file_frames(path, frames, stride, size, fps)
    except (av.FFmpegError, OSError) as e:  # FFmpeg's own errors (invalid data, unsupported codec, ...)
        reason = " ".join(str(getattr(e, "strerror", None) or e).split())  # FFmpeg's reason, on one line
        raise DataError(f"cannot decode video {path}: {reason} (is it a valid, complete video file?)") from e


def check_count(key: str, value: int | None, otherwise: str) -> None:
    """`value` must be None or an integer >= 1 (bool is not a count)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise DataError(f"{key}={value}: must be an integer >= 1{otherwise}")


def kept_count(name: str, available: int, frames: int | None, stride: int) -> int:
    """How many frames (first `frames`, every `stride`-th) a source of `available` frames gives, or the error."""
    n = math.ceil(available / stride)
    if frames is not None and frames > n:
        raise DataError(
            f"data.frames={frames} with data.stride={stride}: {name} has {available} frames, which give {n} at "
            f"stride {stride}; use data.frames<={n} or null, or a smaller data.stride"
        )
    return n if frames is None else frames


def check_size(name: str, size: int | None, h: int, w: int) -> tuple[int, int]:
    """The (H, W) of a returned frame; a size above the shorter side (an upsampled ground truth) is refused."""
    if size is None:
        return h, w
    if size > min(h, w):
        raise DataError(
            f"data.size={size} is larger than the frames of {name} ({h}x{w}); use data.size<={min(h, w)} or null"
        )
    return size, size


def prepare(frame: torch.Tensor, size: int | None) -> torch.Tensor:
    """One frame (H, W, C) uint8 -> as data=image prepares an image at data.size, back to uint8 levels;
    size None keeps the whole frame (an image crops itself square even then; a video's frame is kept whole)."""
    return frame if size is None else quantize(square_resize(frame, size))


def read_file_frames(
    path: Path, frames: int | None, stride: int, size: int | None, fps: float | None
) -> tuple[torch.Tensor, float]:
    """Decode a video file with PyAV (see read_video)."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise DataError(f"{path}: the file has no video stream; set data.path to a video")
        stream = container.streams.video[0]
        available = stream.frames or count_packets(path)  # 0: the container does not record its frame count
        if available == 0:
            raise DataError(f"{path}: the video has no frames")
        n = kept_count(str(path), available, frames, stride)
        h, w = stream.codec_context.height, stream.codec_context.width
        if h < 1 or w < 1:
            raise DataError(f"{path}: the video stream records no frame size (is it a valid, complete video file?)")
        oh, ow = check_size(str(path), size, h, w)
        rate = float(fps) if fps is not None else file_rate(stream, available)
        stream.thread_type = "AUTO"  # decode on several threads; frame order is kept
        out = torch.empty((n, oh, ow, 3), dtype=torch.uint8)  # the only clip-sized allocation
        k, i = 0, -1  # frames kept, index of the last frame decoded
        for i, frame in enumerate(container.decode(stream)):
            if i % stride:
                continue  # decoded (later frames depend on it), never converted
            rgb = frame.to_ndarray(format="rgb24", width=w, height=h)  # (H, W, 3): one frame at a time
            out[k] = prepare(torch.from_numpy(rgb), size)
            k += 1
            if k == n:
                break
    if k < n:  # the header promised more frames than the stream holds
        if k == 0:
            raise DataError(f"{path}: no frame could be decoded (is it a valid, complete video file?)")
        kept_count(str(path), i + 1, frames, stride)  # raises when data.frames asked for more than there are
        out = out[:k].clone()
    return out, rate / stride


def count_packets(path: Path) -> int:
    """The number of video frames, from the packets alone (no decoding): one packet holds one frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def file_rate(stream: av.video.stream.VideoStream, available: int) -> float:
    """Frames per second: frames / duration when the container knows both, else the average rate ffmpeg reports."""
    if stream.duration and stream.time_base and available:
        return available / float(stream.duration * stream.time_base)
    if stream.average_rate:
        return float(stream.average_rate)
    raise DataError("the video records no frame rate; pass fps (the source's frames per second)")


def read_folder(
    folder: Path, frames: int | None, stride: int, size: int | None, fps: float
) -> tuple[torch.Tensor, float]:
    """Read a folder of frames, sorted by name (see read_video)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise DataError(f"{folder}: no frames ({', '.join(FRAME_SUFFIXES)} files) in this folder")
    n = kept_count(str(folder), len(files), frames, stride)
    out: torch.Tensor | None = None
    for k, file in enumerate(files[::stride][:n]):  # the files the stride drops are never opened
        frame = frame_levels(file)  # (H, W, C) uint8
        if out is None:
            first, (h, w) = file, frame.shape[:2]
            oh, ow = check_size(str(folder), size, h, w)
            out = torch.empty((n, oh, ow, frame.shape[2]), dtype=torch.uint8)
        if frame.shape != (h, w, out.shape[3]):
            raise DataError(
                f"frames of different sizes in {folder}: {first.name} is {h}x{w}x{out.shape[3]}, {file.name} is "
                f"{'x'.join(map(str, frame.shape))}; every frame of a video must have the same size and channels"
            )
        out[k] = prepare(frame, size)
    return out, fps / stride


def frame_levels(file: Path) -> torch.Tensor:
    """One frame file -> (H, W, C) uint8, C in {1, 3}, converted as data=image converts an image."""
    return quantize(to_float_image(read_file(file), str(file), keep_uint8=True))


def moving_shapes(frames: int = 16, size: int = 32, channels: int = 3) -> torch.Tensor:
    """A generated clip (T, H, W, C) = (frames, size, size, channels) uint8: a disc circling and a square
    crossing left to right over a colour gradient, with soft (one-pixel) edges. Deterministic, no download."""
    check_count("frames", frames, " (the clip's length)")
    check_count("size", size, " (the frames' side in pixels)")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise DataError(f"channels={channels}: must be 1 (grayscale) or 3 (RGB)")
    t = torch.arange(frames, dtype=torch.float64)[:, None, None] / frames  # (T, 1, 1) in [0, 1)
    yx = (torch.arange(size, dtype=torch.float64) + 0.5) / size  # pixel centres in (0, 1)
    y, x = yx[None, :, None], yx[None, None, :]  # (1, H, 1), (1, 1, W)
    px = 1.0 / size  # one pixel, the width of the soft edges

    def inside(signed: torch.Tensor) -> torch.Tensor:  # signed distance (negative inside) -> coverage in [0, 1]
        return (0.5 - signed / px).clamp(0, 1)

    angle = 2 * math.pi * t
    disc = inside(torch.hypot(x - 0.5 - 0.25 * torch.cos(angle), y - 0.5 - 0.25 * torch.sin(angle)) - 0.18)
    cx = 0.15 + 0.7 * t  # the square's centre moves across the frame
    square = inside(torch.maximum((x - cx).abs(), (y - 0.7).abs()) - 0.12)
    background = torch.stack(torch.broadcast_tensors(0.2 + 0.6 * x, 0.2 + 0.6 * y, 0.5 + 0 * t), -1)  # (T, H, W, 3)
    colour = background * (1 - disc[..., None]) + torch.tensor([0.95, 0.85, 0.1], dtype=torch.float64) * disc[..., None]
    colour = colour * (1 - square[..., None]) + torch.tensor([0.1, 0.2, 0.9], dtype=torch.float64) * square[..., None]
    if channels == 1:  # luma (ITU-R BT.601 weights)
        colour = colour @ torch.tensor([[0.299], [0.587], [0.114]], dtype=torch.float64)
    return quantize(colour.float()).contiguous()


class VideoDataModule(GridDataModule):
    """data=video: one clip (T, H, W, C) as uint8 levels; `path: null` is the generated moving_shapes clip."""

    domain = "video"
    axis_names = ("frame", "row", "column")
    ssim_frames = True
    default_axes = {"interpolate": [0], "superres": [1, 2]}  # frame-rate up-conversion; spatial super-resolution

    def __init__(
        self,
        path: str | None = None,
        frames: int | None = None,
        stride: int = 1,
        size: int | None = None,
        batch_size: int | None = None,
        task: Task | None = None,
    ) -> None:
        super().__init__(batch_size, task)
        check_arg("data.path", path, nullable(string()))
        self.path, self.frames, self.stride, self.size = path, frames, stride, size

    def load(self) -> torch.Tensor:
        if self.path is None:
            check_count("data.frames", self.frames, ", or null for every frame")
            check_count("data.stride", self.stride, " (1 keeps every frame)")
            clip = moving_shapes()
            n = kept_count("the generated clip", clip.shape[0], self.frames, self.stride)
            clip = clip[:: self.stride][:n]  # (T, H, W, C) at FOLDER_FPS / stride
            self.rate = FOLDER_FPS / self.stride
            check_size("the generated clip", self.size, *clip.shape[1:3])
            return clip if self.size is None else torch.stack([prepare(f, self.size) for f in clip])
        clip, self.rate = read_video(self.path, self.frames, self.stride, self.size)
        return clip

    def write(self, values: torch.Tensor, stem: Path) -> Path:
        frames = values if values.dtype == torch.uint8 else quantize(values)  # (T, H, W, C) uint8
        return write_video(stem.with_suffix(".mp4"), frames.cpu(), float(self.rate))

    def write_slabs(self, slabs: Iterable[torch.Tensor], stem: Path) -> Path:
        """Encoded as the slabs come: memory is one slab of frames, not the clip."""
        frames = (f for slab in slabs for f in quantize(slab).cpu().numpy())  # (H, W, C) uint8, one at a time
        return write_video_frames(stem.with_suffix(".mp4"), frames, self.shape[1:], self.channels, float(self.rate))

    def describe(self) -> str:
        t, h, w = self.shape
        return f"{t} frames of {h}x{w} at {self.rate:g} fps"
