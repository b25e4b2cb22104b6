"""Sets of clips: a folder of audio or video clips, each read as data=audio / data=video reads one.

A set is a folder, its clips sorted by name; when it has a `<split>/` subfolder (`train/`, `test/`), `split`
picks it. Audio clips are .wav files; video clips are video files (.mp4, .avi, .gif, ...) or subfolders of
frames. Every clip is cropped and resized with the same keys as a single clip (audio: offset, duration, size;
video: frames, stride, size), and the clips of a set must then share one shape: the field's grid (`check_shapes`).
`root: None` generates a few clips instead (nothing is downloaded): chirps of different frequencies, or the
moving-shapes clip at different speeds and colours
(chirp_clip, shapes_clip).

A clip comes out as data=audio / data=video hold it: audio (T, C) float in [0, 1]; video (T, H, W, C) uint8.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from nfields.core.checks import POSITIVE_INT, check_arg, integer, nullable, string
from nfields.core.errors import DataError
from nfields.data.audio import DEFAULT_RATE, check_crop, crop, read_wav
from nfields.data.grid import resample
from nfields.data.video import FOLDER_FPS, VIDEO_SUFFIXES, check_count, check_size, moving_shapes, prepare, read_video
from nfields.tasks.base import size as grid_size

GENERATED_SECONDS = 0.25  # a generated audio clip: 1000 samples at DEFAULT_RATE


def chirp_clip(k: int, rate: int = DEFAULT_RATE, seconds: float = GENERATED_SECONDS) -> torch.Tensor:
    """Generated audio clip k (T, 1) float32 in [-1, 1]: a linear chirp from 100 (k + 1) Hz up to rate (k + 2) / 16
    (at most 0.45 rate, below Nyquist) under a slow envelope, so each clip has its own frequencies. Deterministic."""
    t = np.arange(round(rate * seconds), dtype=np.float64) / rate  # (T,) seconds
    f0, f1 = 100.0 * (k + 1), min(rate * (k + 2) / 16, 0.45 * rate)
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))  # instantaneous frequency f0 -> f1
    envelope = 0.55 + 0.35 * np.sin(2 * np.pi * (t / seconds + k / 7))  # in [0.2, 0.9], its phase per clip
    return torch.from_numpy((envelope * np.sin(phase)).astype(np.float32)[:, None])


def shapes_clip(k: int, frames: int = 16) -> torch.Tensor:
    """Generated video clip k (frames, 32, 32, 3) uint8: data=video's moving shapes, sampled at k + 1 times the
    speed of a 4 x frames long clip (frame j is its frame (k + 1) j, wrapping round), colour channels rolled by k.
    Deterministic."""
    long = moving_shapes(4 * frames)  # (4 frames, 32, 32, 3)
    index = (torch.arange(frames) * (k + 1)) % long.shape[0]
    return long[index].roll(k, dims=-1).contiguous()


class Clips:
    """The clips of one split of a set, read one at a time: clip(i) -> the prepared clip (module docstring)."""

    noun = "clip"
    fix = "the crop and size keys"  # what makes every clip the same shape, for the error

    def __init__(
        self, root: str | None, split: str | None = None, limit: int | None = None, generated: int = 4
    ) -> None:
        check_arg("data.root", root, nullable(string()))
        check_arg("data.split", split, nullable(string()))
        check_arg("data.limit", limit, nullable(POSITIVE_INT))
        check_arg("data.generated", generated, integer(lo=1))
        self.root, self.split = (None if root is None else Path(root).expanduser()), split
        self.files: list[Path] = [] if self.root is None else self.listing()
        n = generated if self.root is None else len(self.files)
        self.n = min(n, limit) if limit is not None else n
        self.names = [f.name for f in self.files[: self.n]] or [f"generated {self.noun} {i}" for i in range(self.n)]
        self.rate: float | None = None  # the clips' rate (samples or frames per second), set by read()

    def listing(self) -> list[Path]:
        """The set's clips, sorted by name; one line for a missing or empty folder."""
        if not self.root.is_dir():
            raise DataError(f"data.root={self.root}: no such folder; point it at a folder of {self.kinds()}")
        folder = self.root / self.split if self.split and (self.root / self.split).is_dir() else self.root
        files = sorted(p for p in folder.iterdir() if self.is_clip(p) and not p.name.startswith("."))
        if not files:
            raise DataError(f"data.root: {folder} holds no {self.kinds()}")
        return files

    def kinds(self) -> str:
        """The files that count as clips, for messages."""
        raise NotImplementedError

    def is_clip(self, path: Path) -> bool:
        raise NotImplementedError

    def generate(self, i: int) -> torch.Tensor:
        """Generated clip i, before cropping (root None)."""
        raise NotImplementedError

    def read(self, i: int) -> torch.Tensor:
        """Clip i of the set, cropped and resized as a single clip is (sets self.rate)."""
        raise NotImplementedError

    def clip(self, i: int) -> torch.Tensor:
        if not 0 <= i < self.n:
            raise DataError(f"data.index={i}: the set has {self.n} {self.noun}s (0..{self.n - 1})")
        return self.read(i)

    def where(self) -> str:
        return "the generated set" if self.root is None else f"data.root={self.root}"

    def check_shapes(self, clips: dict[int, torch.Tensor]) -> None:
        """Every clip (index -> clip) has the first one's shape; one line naming the odd one and the fix."""
        (i0, first), *rest = clips.items()
        for i, c in rest:
            if c.shape != first.shape:
                raise DataError(
                    f"{self.where()}: {self.names[i]} is {grid_size(c.shape[:-1])}x{c.shape[-1]} but "
                    f"{self.names[i0]} is {grid_size(first.shape[:-1])}x{first.shape[-1]}; every {self.noun} of a "
                    f"set must share one shape: set {self.fix}"
                )


class AudioClips(Clips):
    """A folder of .wav files; each clip cropped to [offset, offset + duration) seconds and resampled to `size`
    samples (data=audio's keys) -> (T, C) float in [0, 1]."""

    fix = "data.duration (and data.size) so that every clip gives as many samples, with as many channels"

    def __init__(
        self,
        root: str | None,
        split: str | None = None,
        limit: int | None = None,
        offset: float = 0.0,
        duration: float | None = None,
        size: int | None = None,
        generated: int = 4,
    ) -> None:
        check_crop(offset, duration)
        check_arg("data.size", size, nullable(POSITIVE_INT))
        super().__init__(root, split, limit, generated)
        self.offset, self.duration, self.size = offset, duration, size

    def kinds(self) -> str:
        return "audio clips (.wav files)"

    def is_clip(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == ".wav"

    def read(self, i: int) -> torch.Tensor:
        if self.root is None:
            rate = DEFAULT_RATE
            samples = crop(chirp_clip(i), rate, self.offset, self.duration, self.names[i])
        else:
            samples, rate = read_wav(self.files[i], self.offset, self.duration)
        if self.size is not None:  # data.size samples over the same time: the rate follows
            t = samples.shape[0]
            samples, rate = resample(samples, self.size, self.names[i]), rate * self.size / t
        self.rate = float(rate)
        return ((samples + 1) / 2).clamp_(0, 1)  # (T, C) in [0, 1], as data=audio fits a clip


class VideoClips(Clips):
    """A folder of videos (files, or subfolders of frames); each clip's first `frames` frames at `stride`, each
    frame resized to size x size (data=video's keys) -> (T, H, W, C) uint8."""

    fix = "data.frames and data.size so that every clip gives as many frames of one size"

    def __init__(
        self,
        root: str | None,
        split: str | None = None,
        limit: int | None = None,
        frames: int | None = None,
        stride: int = 1,
        size: int | None = None,
        generated: int = 4,
    ) -> None:
        check_count("data.frames", frames, ", or null for every frame")
        check_count("data.stride", stride, " (1 keeps every frame)")
        check_count("data.size", size, ", or null for the frames' whole size")
        super().__init__(root, split, limit, generated)
        self.frames, self.stride, self.size = frames, stride, size

    def kinds(self) -> str:
        return f"videos ({', '.join(VIDEO_SUFFIXES)} files or subfolders of frames)"

    def is_clip(self, path: Path) -> bool:
        return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES

    def read(self, i: int) -> torch.Tensor:
        if self.root is not None:
            clip, self.rate = read_video(self.files[i], self.frames, self.stride, self.size)
            return clip
        clip = shapes_clip(i)
        n = math.ceil(clip.shape[0] / self.stride) if self.frames is None else self.frames
        if n > math.ceil(clip.shape[0] / self.stride):
            raise DataError(f"data.frames={self.frames}: the generated clips give {clip.shape[0]} frames; use fewer")
        clip, self.rate = clip[:: self.stride][:n], FOLDER_FPS / self.stride
        check_size(self.names[i], self.size, *clip.shape[1:3])
        return clip if self.size is None else torch.stack([prepare(f, self.size) for f in clip])
