"""Per-tensor quantisers: a parameter tensor -> integer symbol streams, and back.

`--bits b` for 2 <= b <= 15 is uniform on a clipped range: the tensor is clamped to [lo, hi] and rounded to
2^b evenly spaced levels; [lo, hi] is the one among a few candidates (mean +- k std, and the full range) that
gives the smallest squared error on this tensor, so a few outliers do not widen every step. `--bits 16` is
fp16, as COIN stores its weights: each value's half-precision bit pattern, split into its high byte (sign,
exponent, 2 mantissa bits: few distinct values) and its low byte (near uniform), two streams an entropy
coder can model apart. Dequantisation is plain float64 numpy arithmetic on both sides, so the decoder
recomputes exactly the weights the encoder measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nfields.core.errors import ConfigError

FP16 = 16
BITS = tuple(range(2, 17))  # 2..15 uniform, 16 fp16
DIGITS = 4  # significant digits of a clipped range's ends: the levels are wherever they say, on both sides
CLIP_STDS = (2.0, 3.0, 4.0, 6.0, 8.0)  # candidate half-widths of the clipped range, in standard deviations


@dataclass
class Quantised:
    """One tensor's symbols: `streams` of integers, stream i in [0, 2^stream_bits[i]); `meta` says how to map
    them back (stored in the file's header)."""

    streams: list[np.ndarray]
    stream_bits: list[int]
    meta: dict[str, Any]


def check_bits(bits: int) -> int:
    if bits not in BITS:
        raise ConfigError("--bits", bits, "must be an integer in 2..15 (uniform levels) or 16 (fp16, as COIN)")
    return bits


def as_real(t: torch.Tensor) -> np.ndarray:
    """A float or complex tensor -> float64 numpy array, complex as (..., 2) (real, imaginary)."""
    t = t.detach().cpu()
    t = torch.view_as_real(t) if t.is_complex() else t
    return t.double().numpy()


def uniform_levels(w: np.ndarray, lo: float, hi: float, bits: int) -> np.ndarray:
    """Symbols in [0, 2^bits): w clamped to [lo, hi] and rounded to the nearest of 2^bits levels."""
    n = (1 << bits) - 1
    if hi <= lo:
        return np.zeros(w.shape, dtype=np.int64)
    return np.rint((np.clip(w, lo, hi) - lo) / (hi - lo) * n).astype(np.int64)


def uniform_values(q: np.ndarray, lo: float, hi: float, bits: int) -> np.ndarray:
    """Symbols -> float64 values: lo + q * (hi - lo) / (2^bits - 1)."""
    n = (1 << bits) - 1
    return lo + q.astype(np.float64) * ((hi - lo) / n if hi > lo else 0.0)


def clip_range(w: np.ndarray, bits: int) -> tuple[float, float]:
    """The [lo, hi] (each DIGITS significant digits, as stored) with the smallest squared quantisation error."""
    flat = w.reshape(-1)
    mean, std = float(flat.mean()), float(flat.std())
    full = (float(flat.min()), float(flat.max()))
    candidates = [full] + [(max(full[0], mean - k * std), min(full[1], mean + k * std)) for k in CLIP_STDS]
    best, best_err = full, np.inf
    for lo, hi in candidates:
        lo, hi = float(f"{lo:.{DIGITS}g}"), float(f"{hi:.{DIGITS}g}")  # short in the header, exact in JSON
        err = float(np.square(uniform_values(uniform_levels(flat, lo, hi, bits), lo, hi, bits) - flat).sum())
        if err < best_err:
            best, best_err = (lo, hi), err
    return best


def quantise(t: torch.Tensor, bits: int, name: str = "tensor") -> Quantised:
    """A float (or complex) tensor -> its symbol streams at `bits`."""
    w = as_real(t)
    if not np.isfinite(w).all():
        raise ConfigError(name, "non-finite", "the checkpoint holds NaN/inf weights; compress a run that trained")
    if bits == FP16:
        u16 = w.astype(np.float16).view(np.uint16).reshape(-1).astype(np.int64)  # (N,) bit patterns
        return Quantised([u16 >> 8, u16 & 0xFF], [8, 8], {"q": "fp16"})
    lo, hi = clip_range(w, bits)
    return Quantised([uniform_levels(w, lo, hi, bits).reshape(-1)], [bits], {"q": "uniform", "lo": lo, "hi": hi})


def stream_bits(meta: dict[str, Any], bits: int) -> list[int]:
    """The bit widths of the streams a tensor quantised as `meta` has."""
    return [8, 8] if meta["q"] == "fp16" else [bits]


def dequantise(meta: dict[str, Any], bits: int, streams: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    """Symbol streams -> a tensor of `like`'s shape and dtype (complex from its (..., 2) real view)."""
    if meta["q"] == "fp16":
        u16 = ((streams[0] << 8) | streams[1]).astype(np.uint16)
        values = u16.view(np.float16).astype(np.float64)
    else:
        values = uniform_values(streams[0], float(meta["lo"]), float(meta["hi"]), bits)
    real_shape = (*like.shape, 2) if like.is_complex() else tuple(like.shape)
    out = torch.from_numpy(values.reshape(real_shape).astype(np.float32))
    if like.is_complex():
        return torch.view_as_complex(out.contiguous()).to(like.dtype)
    return out.to(like.dtype)
