"""Audio: reading a WAV file (any sample rate, mono or multi-channel) and the generated default signal.

Samples come out as float32 (T, C), T samples in time by C channels, scaled to [-1, 1] by the file's sample type:

    uint8 (offset binary)      (x - 128) / 128
    int16                      x / 2**15
    24-bit                     x / 2**31   (scipy reads 24-bit PCM left-justified into int32)
    int32                      x / 2**31
    float32, float64           as stored   (float PCM may hold overs beyond +-1; they are kept, not clipped)

The sample rate is in Hz; sample i sits at time i / rate seconds. Audio is a 1-D grid (T,) of coordinate t
(nfields.core.coords), so sample i is at the cell centre (i + 0.5) / T of the clip.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.io import wavfile

from nfields.core.audio_io import write_wav
from nfields.core.checks import POSITIVE, POSITIVE_INT, check_arg, is_number, nullable, string
from nfields.core.errors import DataError
from nfields.data.grid import GridDataModule, resample
from nfields.tasks.base import Task

# The divisor that maps each integer sample type onto [-1, 1] (the type's full scale); uint8 is offset by 128.
INT_SCALE = {np.dtype(np.uint8): 2.0**7, np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31}
FORMATS = "8-, 16-, 24- or 32-bit integer PCM, or 32/64-bit float PCM"
DEFAULT_RATE, DEFAULT_SECONDS = 4000, 0.5  # data=audio without a path: a chirp 100 Hz -> 1 kHz, 2000 samples


def decode(path: Path, mmap: bool) -> tuple[int, np.ndarray]:
    """scipy's read, naming the file in one line on failure. Returns (rate in Hz, (T,) or (T, C) samples)."""
    try:
        rate, a = wavfile.read(path, mmap=mmap)
    except (ValueError, struct.error, EOFError, OSError) as e:
        why = (str(e).splitlines() or [type(e).__name__])[0]
        if "Unknown wave file format" in why or "Unsupported" in why:
            raise DataError(f"{path}: unsupported WAV sample format ({why}); use {FORMATS}") from e
        raise DataError(f"{path}: not a readable WAV file ({why}); is it a complete .wav file?") from e
    return int(rate), a


def sample_index(seconds: float, rate: int) -> int:
    """Seconds -> the nearest sample index (halves round up), so a crop's count is round(duration * rate)."""
    return math.floor(seconds * rate + 0.5)


def read_wav(path: str | Path, offset: float = 0.0, duration: float | None = None) -> tuple[torch.Tensor, int]:
    """A WAV file -> (samples (T, C) float32 in [-1, 1] (float PCM: as stored), sample rate in Hz).

    `offset` and `duration` (seconds) crop it to samples [s, s + n), s = round(offset * rate) and
    n = round(duration * rate): exactly n samples, fewer only where the clip ends first (None: to the end).
    Only the crop is converted to float32."""
    check_crop(offset, duration)  # before the file is opened
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"audio file not found: {path} (set data.path to a .wav file)")
    if path.is_dir():
        raise DataError(f"data.path={path} is a folder; set it to a .wav file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes), not a WAV file")
    try:  # memory-mapped: a long file is not read whole to take a short crop
        rate, a = decode(path, mmap=True)
    except DataError:  # 24-bit and some malformed headers cannot be mapped; a plain read decides
        rate, a = decode(path, mmap=False)
    if rate <= 0:
        raise DataError(f"{path}: not a readable WAV file (sample rate {rate} Hz); is it a complete .wav file?")
    a = a[:, None] if a.ndim == 1 else a  # (T, C)
    t = a.shape[0]
    if t == 0 or a.shape[1] == 0:
        raise DataError(f"{path}: the WAV file holds no samples (shape {a.shape})")
    return to_float(crop(a, rate, offset, duration, path), path), rate


def check_crop(offset: float, duration: float | None) -> None:
    """data.offset >= 0 and data.duration > 0 (or null), in seconds; one line otherwise."""
    if not is_number(offset) or offset < 0:
        raise DataError(f"data.offset={offset}: the crop's start in seconds must be a number >= 0")
    if duration is not None and (not is_number(duration) or duration <= 0):
        raise DataError(f"data.duration={duration}: the crop's length in seconds must be a number > 0 (or null)")


def crop(a: np.ndarray | torch.Tensor, rate: int, offset: float, duration: float | None, name: object) -> Any:
    """Samples (T, C) of `name` at `rate` Hz -> samples [s, s + n), s = round(offset * rate), n = round(duration *
    rate), fewer only where the clip ends first (None: to the end); one line when the crop holds no sample."""
    t = a.shape[0]
    start = sample_index(offset, rate)
    if start >= t:
        raise DataError(
            f"data.offset={offset}: past the end of {name} ({t / rate:.3f} s long, {t} samples at {rate} Hz); "
            "use a smaller data.offset"
        )
    stop = t if duration is None else min(t, start + sample_index(duration, rate))
    if stop <= start:
        raise DataError(
            f"data.duration={duration}: the crop holds no sample at {rate} Hz (one sample is {1 / rate:.3g} s); "
            f"use a duration of at least {1 / rate:.3g}"
        )
    return a[start:stop]


def to_float(a: np.ndarray, path: Path) -> torch.Tensor:
    """(T, C) samples of the file's type -> float32 (T, C), scaled by the type (module docstring)."""
    if a.dtype in INT_SCALE:
        x = a.astype(np.float32)
        if a.dtype == np.uint8:
            x -= 128.0
        x /= np.float32(INT_SCALE[a.dtype])  # exact: a power of two
    elif a.dtype in (np.float32, np.float64):
        x = np.array(a, dtype=np.float32)  # a copy: the mapped file is released
        if not np.isfinite(x).all():
            raise DataError(f"{path}: the WAV file holds NaN or inf samples; repair or re-export it")
    else:
        raise DataError(f"{path}: unsupported WAV sample format {a.dtype} ({a.itemsize * 8}-bit); use {FORMATS}")
    return torch.from_numpy(np.ascontiguousarray(x))


def chirp(rate: int = 8000, seconds: float = 1.0, channels: int = 1) -> torch.Tensor:
    """A generated test signal (T, C) float32 in [-1, 1], T = round(rate * seconds): a linear chirp from 100 Hz
    to rate / 4 (half of Nyquist) under a slow amplitude envelope, so a field must fit both low and high
    frequencies and a varying loudness. Channel c is the same chirp with its envelope delayed by c / C of a
    period, so the channels differ. Deterministic (no randomness)."""
    check_arg("rate", rate, POSITIVE_INT)
    check_arg("seconds", seconds, POSITIVE)
    check_arg("channels", channels, POSITIVE_INT)
    n = sample_index(seconds, rate)
    if n < 1:
        raise DataError(f"chirp: {seconds} s at {rate} Hz holds no sample; use seconds >= {1 / rate:.3g}")
    t = np.arange(n, dtype=np.float64) / rate  # (T,) seconds
    f0, f1 = 100.0, rate / 4
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))  # instantaneous frequency f0 -> f1
    c = np.arange(channels, dtype=np.float64)[None, :]  # (1, C)
    envelope = 0.55 + 0.35 * np.sin(2 * np.pi * (1.5 * t[:, None] / seconds + c / channels))  # (T, C) in [0.2, 0.9]
    return torch.from_numpy((envelope * np.sin(phase)[:, None]).astype(np.float32))  # (T, C)


class AudioDataModule(GridDataModule):
    """data=audio: one clip (T, C), fitted in [0, 1] as (x + 1) / 2 of its [-1, 1] samples (float PCM beyond
    +-1 is clipped); `to_units` maps a render back. `path: null` is the generated chirp (nothing downloaded)."""

    domain = "audio"
    axis_names = ("time",)
    scores = ("snr",)

    def __init__(
        self,
        path: str | None = None,
        offset: float = 0.0,
        duration: float | None = None,
        size: int | None = None,
        batch_size: int | None = None,
        task: Task | None = None,
    ) -> None:
        super().__init__(batch_size, task)
        check_arg("data.path", path, nullable(string()))
        check_arg("data.size", size, nullable(POSITIVE_INT))
        self.path, self.offset, self.duration, self.size = path, offset, duration, size

    def load(self) -> torch.Tensor:
        if self.path is None:  # the generated chirp, cropped as a file would be
            check_crop(self.offset, self.duration)
            samples, self.rate = chirp(DEFAULT_RATE, DEFAULT_SECONDS), DEFAULT_RATE
            samples = crop(samples, DEFAULT_RATE, self.offset, self.duration, "the generated chirp")
        else:
            samples, self.rate = read_wav(self.path, self.offset, self.duration)
        if self.size is not None:  # resampled to data.size samples over the same time: the rate follows
            t = samples.shape[0]
            samples, self.rate = resample(samples, self.size, "the clip"), self.rate * self.size / t
        return ((samples + 1) / 2).clamp_(0, 1)  # (T, C) in [0, 1]

    def to_units(self, values: torch.Tensor) -> torch.Tensor:
        return values * 2 - 1

    def write(self, values: torch.Tensor, stem: Path) -> Path:
        return write_wav(stem.with_suffix(".wav"), self.to_units(values.float()).cpu(), round(self.rate))

    def describe(self) -> str:
        return f"{self.shape[0]} samples at {self.rate:g} Hz" + (
            f", {self.channels} channels" if self.channels > 1 else ""
        )
