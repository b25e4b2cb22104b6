"""Lossless coders for a stream of integer symbols in [0, 2^bits): every candidate, and the decoder of each.

The candidates, all on the same symbols:

* `raw`: the symbols bit-packed, `bits` bits each (what a plain quantised file costs);
* `zlib` and `lzma` (LZMA2, raw format: no container bytes): the symbols as uint8 (bits <= 8) or uint16 LE;
* `ans-laplace`, `ans-gauss`: rANS (constriction's AnsCoder) under a Laplace or Gaussian quantised to the
  integers of [min, max], its two parameters fitted to the stream and kept in the header;
* `ans-hist`: rANS under the stream's own histogram over [min, max], the counts stored before the code as
  LEB128 varints (pays off for long streams whose shape is neither Laplace nor Gaussian).

`encode_all` returns every candidate; the codec keeps the smallest per stream (`cost`: its bytes plus an
estimate of its parameters' share of the compressed header). Decoders take the expected symbol count, and
refuse data that does not decode to exactly that many symbols inside the stream's range (a crafted file
must not crash or over-allocate them).
"""

from __future__ import annotations

import json
import lzma
import zlib
from collections.abc import Callable
from typing import Any

import constriction
import numpy as np

CODERS = ("raw", "zlib", "lzma", "ans-laplace", "ans-gauss", "ans-hist")
FAMILIES = {"raw": "raw", "zlib": "zlib", "lzma": "lzma", "ans-laplace": "ans", "ans-gauss": "ans", "ans-hist": "ans"}
LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
MIN_SCALE = 1e-3  # a Laplace or Gaussian narrower than this is a point mass: clamped so the model stays valid

Params = dict[str, Any]


class StreamError(ValueError):
    """A stream's bytes do not decode to what its header says (the codec names the file and the tensor)."""


def byte_width(bits: int) -> int:
    return 1 if bits <= 8 else 2


def as_bytes(sym: np.ndarray, bits: int) -> bytes:
    return sym.astype(np.uint8 if bits <= 8 else "<u2").tobytes()


def from_bytes(data: bytes, n: int, bits: int) -> np.ndarray:
    if len(data) != n * byte_width(bits):
        raise StreamError(f"{len(data)} bytes, expected {n * byte_width(bits)}")
    return np.frombuffer(data, dtype=np.uint8 if bits <= 8 else "<u2").astype(np.int64)


def pack(sym: np.ndarray, bits: int) -> bytes:
    """Symbols -> `bits` bits each, most significant first, zero-padded to a byte."""
    planes = np.unpackbits(sym.astype(">u2").view(np.uint8)).reshape(-1, 16)[:, 16 - bits :]  # (N, bits)
    return np.packbits(planes.reshape(-1)).tobytes()


def unpack(data: bytes, n: int, bits: int) -> np.ndarray:
    if len(data) != (n * bits + 7) // 8:
        raise StreamError(f"{len(data)} bytes, expected {(n * bits + 7) // 8}")
    planes = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: n * bits].reshape(n, bits)
    return (planes.astype(np.int64) << np.arange(bits - 1, -1, -1)).sum(axis=1)


def inflate(data: bytes, limit: int, decompress: Callable[[bytes, int], bytes]) -> bytes:
    """Decompress at most `limit + 1` bytes (a crafted stream cannot expand without bound)."""
    try:
        return decompress(data, limit + 1)
    except (zlib.error, lzma.LZMAError, EOFError) as e:
        raise StreamError(f"does not decompress ({e})") from None


def zlib_bounded(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, limit)
    if not d.eof or d.unconsumed_tail or d.unused_data:
        raise StreamError("zlib data is longer or shorter than its symbols")
    return out


def lzma_bounded(data: bytes, limit: int) -> bytes:
    d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)
    return d.decompress(data, max_length=limit)


def ans_model(kind: str, p: Params) -> Any:
    m = constriction.stream.model
    if kind == "ans-laplace":
        return m.QuantizedLaplace(p["min"], p["max"], p["mean"], p["scale"])
    if kind == "ans-gauss":
        return m.QuantizedGaussian(p["min"], p["max"], p["mean"], p["scale"])
    return m.Categorical(np.asarray(p["counts"], dtype=np.float64), perfect=False)


def varints(values: np.ndarray) -> bytes:
    """Non-negative integers as LEB128: 7 bits a byte, the high bit set on every byte but a number's last."""
    out = bytearray()
    for v in values.tolist():
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def read_varints(data: bytes, k: int) -> tuple[np.ndarray, int]:
    """The first `k` LEB128 integers of `data` and the bytes they took."""
    values, v, shift, i = [], 0, 0, 0
    while len(values) < k:
        if i >= len(data) or shift > 35:
            raise StreamError("histogram ends early")
        b = data[i]
        v, shift, i = v | (b & 0x7F) << shift, shift + 7, i + 1
        if b < 0x80:
            values.append(v)
            v, shift = 0, 0
    return np.asarray(values, dtype=np.int64), i


def ans_encode(kind: str, sym: np.ndarray) -> tuple[Params, bytes]:
    lo, hi = int(sym.min()), int(sym.max())
    p: Params = {"min": lo, "max": hi}
    if lo == hi:  # one symbol: zero bits
        return p, b""
    prefix = b""
    if kind == "ans-hist":
        counts = np.bincount(sym - lo, minlength=hi - lo + 1)
        prefix, model = varints(counts), ans_model(kind, {"counts": counts})
        data_sym = sym - lo
    else:
        spread = sym.std() if kind == "ans-gauss" else np.abs(sym - sym.mean()).mean()
        p |= {"mean": round(float(sym.mean()), 2), "scale": float(f"{max(float(spread), MIN_SCALE):.3g}")}  # short text
        model, data_sym = ans_model(kind, p), sym
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(data_sym.astype(np.int32), model)
    return p, prefix + coder.get_compressed().astype("<u4").tobytes()


def ans_decode(kind: str, p: Params, data: bytes, n: int) -> np.ndarray:
    lo, hi = int(p["min"]), int(p["max"])
    if lo == hi:
        return np.full(n, lo, dtype=np.int64)
    offset = 0
    if kind == "ans-hist":
        counts, offset = read_varints(data, hi - lo + 1)
        model = ans_model(kind, {"counts": counts})
    else:
        model = ans_model(kind, p)
    words = data[offset:]
    if len(words) % 4:
        raise StreamError("rANS words are not whole 32-bit words")
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(words, dtype="<u4").astype(np.uint32))
        sym = np.asarray(coder.decode(model, n), dtype=np.int64)
    except Exception as e:  # constriction raises its own errors on data it did not write
        raise StreamError(f"rANS data does not decode ({e})") from None
    return sym + lo if kind == "ans-hist" else sym


def encode_all(sym: np.ndarray, bits: int) -> dict[str, tuple[Params, bytes]]:
    """Every coder's (parameters, bytes) for the symbols `sym` (N,) in [0, 2^bits)."""
    out: dict[str, tuple[Params, bytes]] = {
        "raw": ({}, pack(sym, bits)),
        "zlib": ({}, zlib.compress(as_bytes(sym, bits), 9)),
        "lzma": ({}, lzma.compress(as_bytes(sym, bits), format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)),
    }
    for kind in ("ans-laplace", "ans-gauss", "ans-hist"):
        out[kind] = ans_encode(kind, sym)
    return out


def cost(params: Params, data: bytes) -> int:
    """Bytes a choice is estimated to cost: its data, and its parameters' JSON text at half its length (the
    header is deflate-compressed; digits take about 4 bits each there)."""
    return len(data) + len(json.dumps(params, separators=(",", ":"))) // 2


def decode(coder: str, params: Params, data: bytes, n: int, bits: int) -> np.ndarray:
    """Bytes -> the `n` symbols (n,) they encode, each checked to lie in [0, 2^bits)."""
    if coder == "raw":
        sym = unpack(data, n, bits)
    elif coder == "zlib":
        sym = from_bytes(inflate(data, n * byte_width(bits), zlib_bounded), n, bits)
    elif coder == "lzma":
        sym = from_bytes(inflate(data, n * byte_width(bits), lzma_bounded), n, bits)
    elif coder in ("ans-laplace", "ans-gauss", "ans-hist"):
        lo, hi = params.get("min"), params.get("max")
        ok = all(isinstance(v, int) and 0 <= v < 1 << bits for v in (lo, hi)) and lo <= hi
        scale = params.get("scale", 1.0)
        if not ok or not (isinstance(scale, float | int) and scale > 0):
            raise StreamError(f"{coder} parameters {params} are out of range")
        sym = ans_decode(coder, params, data, n)
    else:
        raise StreamError(f"unknown coder {coder!r} (known: {', '.join(CODERS)})")
    if sym.shape != (n,) or (n and (sym.min() < 0 or sym.max() >= 1 << bits)):
        raise StreamError(f"decodes to {sym.shape[0]} symbols or out of range, expected {n} in [0, {1 << bits})")
    return sym
