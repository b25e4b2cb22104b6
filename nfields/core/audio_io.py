"""Writing audio: samples (T, C) in [-1, 1] -> a 16-bit PCM WAV file, written atomically.

16-bit PCM is what every player reads. A sample x becomes round(x * 2**15) clipped to [-2**15, 2**15 - 1]: the
inverse of the reader's int16 scale (x / 2**15, nfields.data.audio), so a read-back differs from the clipped
samples by at most half a quantisation step (2**-16), one step at exactly +1.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import torch

from nfields.core.files import atomic_path

PCM16_SCALE = 2.0**15


def to_pcm16(samples: torch.Tensor | np.ndarray) -> np.ndarray:
    """(T,) or (T, C) float samples -> (T, C) int16, clipped to the int16 range (a field's output may overshoot)."""
    # float32 is exact here: scaling by a power of two and rounding to 16-bit levels lose nothing to its precision
    x = samples.detach().float().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples, np.float32)
    x = x[:, None] if x.ndim == 1 else x  # (T, C)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"audio samples are (T,) or (T, C) with C >= 1, got shape {tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise ValueError("audio samples hold NaN or inf; a WAV file cannot store them")
    q = np.rint(x * PCM16_SCALE)  # (T, C) integer levels; clipping them clips x to [-1, 1 - 2**-15]
    return np.clip(q, -PCM16_SCALE, PCM16_SCALE - 1).astype(np.int16)


def write_wav(path: str | Path, samples: torch.Tensor | np.ndarray, rate: int) -> Path:
    """Write samples (T, C) (or (T,): mono) float in [-1, 1] at `rate` Hz as a 16-bit PCM WAV; returns the path.

    Atomic: the file is written beside `path` under a temporary name, then renamed over it, so a reader (or a
    run killed mid-write) never sees a half-written WAV."""
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate < 1:
        raise ValueError(f"a sample rate is a positive integer in Hz, got {rate!r}")
    pcm = to_pcm16(samples)  # (T, C) int16
    with atomic_path(path) as tmp, open(tmp, "wb") as f, wave.open(f, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.astype("<i2").tobytes())  # C-order (T, C): frames of interleaved channels
    return Path(path)
