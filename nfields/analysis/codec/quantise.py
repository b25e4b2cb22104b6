"""Per-tensor quantisers: a parameter tensor -> integer symbol streams, and back.

`--bits b` for 2 <= b <= 15 is uniform on a clipped range: the tensor is clamped to [lo, hi] and rounded to
2^b evenly spaced levels; [lo, hi] is the one among a few candidates (mean +- k std, and the full range) that
gives the smallest squared error on this tensor, so a few outliers do not widen every step. `--bits 16` is
fp16, as COIN stores its weights: each value's half-precision bit pattern, split into its high byte (sign,
exponent, 2 mantissa bits: few distinct values) and its low byte (near uniform), two streams an entropy
coder can model apart. Dequantisation is plain float64 numpy arithmetic on both sides, so the decoder
recomputes exactly the weights the encoder measured.

A tensor may have a quantiser of its own instead (a `Spec`, schemes.py: GaussianImage's attributes): fp16,
uniform at its own bit width, or residual vector quantisation of its rows (vq.py: codebooks as fp16, then one
index stream per stage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nfields.analysis.codec.vq import rvq, rvq_values
from nfields.core.errors import ConfigError

FP16 = 16
BITS = tuple(range(2, 17))  # 2..15 uniform, 16 fp16
DIGITS = 4  # significant digits of a clipped range's ends: the levels are wherever they say, on both sides
CLIP_STDS = (2.0, 3.0, 4.0, 6.0, 8.0)  # candidate half-widths of the clipped range, in standard deviations


Spec = tuple  # ("fp16",) | ("uniform", bits) | ("rvq", stages, codebook size): a tensor's own quantiser


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


def quantise(t: torch.Tensor, bits: int, name: str = "tensor", spec: Spec | None = None) -> Quantised:
    """A float (or complex) tensor -> its symbol streams at `bits`, or by its own `spec`."""
    w = as_real(t)
    if not np.isfinite(w).all():
        raise ConfigError(name, "non-finite", "the checkpoint holds NaN/inf weights; compress a run that trained")
    kind = spec[0] if spec else ("fp16" if bits == FP16 else "uniform")
    if kind == "fp16":
        return Quantised(fp16_streams(w), [8, 8], {"q": "fp16"})
    if kind == "rvq":
        stages, size = spec[1], spec[2]
        books, idx = rvq(w.reshape(len(w), -1), stages, size)  # (S, K, C), (S, G)
        meta = {"q": "rvq", "stages": stages, "size": size}
        return Quantised([*fp16_streams(books), *idx], stream_bits(meta, bits), meta)
    b = spec[1] if spec else bits
    lo, hi = clip_range(w, b)
    meta = {"q": "uniform", "lo": lo, "hi": hi, **({"bits": b} if spec else {})}
    return Quantised([uniform_levels(w, lo, hi, b).reshape(-1)], [b], meta)


def fp16_streams(w: np.ndarray) -> list[np.ndarray]:
    """Values -> the high and low bytes of their half-precision bit patterns, two (N,) streams."""
    u16 = w.astype(np.float16).view(np.uint16).reshape(-1).astype(np.int64)  # (N,) bit patterns
    return [u16 >> 8, u16 & 0xFF]


def fp16_values(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    return ((high << 8) | low).astype(np.uint16).view(np.float16).astype(np.float64)


def stream_bits(meta: dict[str, Any], bits: int) -> list[int]:
    """The bit widths of the streams a tensor quantised as `meta` has."""
    if meta["q"] == "rvq":
        return [8, 8] + [int(meta["size"]).bit_length() - 1] * int(meta["stages"])
    return [8, 8] if meta["q"] == "fp16" else [int(meta.get("bits", bits))]


def stream_counts(meta: dict[str, Any], like: torch.Tensor) -> list[int]:
    """How many symbols each stream of a tensor like `like` quantised as `meta` holds."""
    n = like.numel() * (2 if like.is_complex() else 1)
    if meta["q"] == "rvq":  # rows of `like`: (G, C)
        rows, stages = like.shape[0], int(meta["stages"])
        return [stages * int(meta["size"]) * (n // max(rows, 1))] * 2 + [rows] * stages
    return [n] * (2 if meta["q"] == "fp16" else 1)


def dequantise(meta: dict[str, Any], bits: int, streams: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    """Symbol streams -> a tensor of `like`'s shape and dtype (complex from its (..., 2) real view)."""
    if meta["q"] == "fp16":
        values = fp16_values(streams[0], streams[1])
    elif meta["q"] == "rvq":
        stages, size = int(meta["stages"]), int(meta["size"])
        books = fp16_values(streams[0], streams[1]).reshape(stages, size, -1)  # (S, K, C)
        values = rvq_values(books, np.stack(streams[2:]))  # (G, C)
    else:
        values = uniform_values(streams[0], float(meta["lo"]), float(meta["hi"]), int(meta.get("bits", bits)))
    real_shape = (*like.shape, 2) if like.is_complex() else tuple(like.shape)
    out = torch.from_numpy(values.reshape(real_shape).astype(np.float32))
    if like.is_complex():
        return torch.view_as_complex(out.contiguous()).to(like.dtype)
    return out.to(like.dtype)
