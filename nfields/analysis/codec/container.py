"""The .nfc file: bytes <-> (header, payload), with every structural check a decoder needs before it builds.

    offset      bytes  what
    0           4      magic b"\\x89NFC" (the high bit catches 7-bit transfers, as PNG's does)
    4           1      format version (2)
    5           2      header length n, uint16 little-endian
    7           n      header: raw-deflated compact JSON, UTF-8 (codec.py writes it; docs/compression.md lists its keys)
    7 + n       m      payload: every stream's bytes, back to back, in header order
    7 + n + m   4      CRC-32 of bytes [0, 7 + n + m), uint32 little-endian

A file is refused in one line, before anything is built or written, when it is short, has another magic or
version, fails its CRC (truncated or corrupted), or its header is not the JSON the codec writes, names
absurd sizes, or lists streams whose lengths do not add up to the payload.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

from nfields.core.errors import UserError

MAGIC = b"\x89NFC"
VERSION = 2  # 1: the whole config and every tensor's name and shape in a zlib stream (no longer read)
EXTENSION = ".nfc"
PREFIX = struct.Struct("<4sBH")  # magic, version, header length
CRC = struct.Struct("<I")
MAX_HEADER = 1 << 20  # bytes of header JSON once inflated: a config is a few KB
MAX_SIDE = 1 << 16  # cells along one axis of the stored signal
MAX_CELLS = 1 << 32  # cells of the stored signal
MAX_VALUES = 1 << 28  # numbers in all stored tensors (a field of 268M parameters)
DOMAINS = ("image", "audio", "video", "volume")
DEFLATE = -15  # zlib's raw deflate: no zlib header or Adler-32 (the file's CRC-32 covers the header)


class CodecFileError(UserError, ValueError):
    """A .nfc file that is missing, truncated, corrupted or not one the codec wrote: one line naming it."""


def write_bytes(header: dict[str, Any], payload: bytes) -> bytes:
    """The file's bytes for `header` (JSON-able) and `payload`."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, DEFLATE)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text = deflate.compress(text) + deflate.flush()
    if len(text) >= 1 << 16:
        raise CodecFileError(f"the header is {len(text)} bytes deflated, over the format's 65535")
    body = PREFIX.pack(MAGIC, VERSION, len(text)) + text + payload
    return body + CRC.pack(zlib.crc32(body))


def read_bytes(data: bytes, where: str) -> tuple[dict[str, Any], bytes]:
    """(header, payload) of a file's bytes, refused (CodecFileError naming `where`) unless well formed."""
    if len(data) < PREFIX.size + CRC.size:
        raise CodecFileError(f"{where}: {len(data)} bytes is too short for an {EXTENSION} file (truncated?)")
    magic, version, n = PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise CodecFileError(f"{where}: not an {EXTENSION} file (magic {magic!r}); write one with scripts/compress.py")
    if version != VERSION:
        raise CodecFileError(
            f"{where}: format version {version}, this nfields reads version {VERSION}; compress it again"
        )
    body, (crc,) = data[: -CRC.size], CRC.unpack(data[-CRC.size :])
    if zlib.crc32(body) != crc:
        raise CodecFileError(f"{where}: checksum mismatch: the file is truncated or corrupted; compress it again")
    if PREFIX.size + n > len(body):
        raise CodecFileError(f"{where}: header length {n} runs past the end of the file")
    d = zlib.decompressobj(DEFLATE)
    try:
        text = d.decompress(body[PREFIX.size : PREFIX.size + n], MAX_HEADER)
        header = json.loads(text.decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CodecFileError(f"{where}: the header is not compressed JSON ({e})") from None
    if d.unconsumed_tail or not d.eof:
        raise CodecFileError(f"{where}: the header is over {MAX_HEADER} bytes or cut short")
    check_header(header, where)
    payload = body[PREFIX.size + n :]
    listed = sum(s[1] for t in header["t"] if t for s in t[1])
    if listed != len(payload):
        raise CodecFileError(f"{where}: the header lists {listed} payload bytes, the file holds {len(payload)}")
    return header, payload


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def is_count(v: Any, lo: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def check_header(h: Any, where: str) -> None:
    """The header's structure and sizes (the config is expanded and judged where the field is built: codec.py).

    Keys: c (the field config, compact.py), k (its CRC-32), s (the signal's shape), d and r (domain and rate;
    absent: an image), b (--bits), n (the numbers all tensors hold), t (per state-dict tensor, in the field's
    order: 0 when its config rebuilds it, else [quantiser, [[coder, bytes, parameters...], ...]])."""
    keys = {"c", "k", "s", "b", "n", "t"}
    if not isinstance(h, dict) or not keys <= h.keys():
        raise CodecFileError(f"{where}: the header lacks {sorted(keys - set(h) if isinstance(h, dict) else keys)}")
    shape = h["s"]
    if not (isinstance(shape, list) and 2 <= len(shape) <= 5 and all(is_count(n, 1) for n in shape)):
        raise CodecFileError(f"{where}: shape={shape} is not a signal's (*grid, C) of positive integers")
    if max(shape[:-1]) > MAX_SIDE or math.prod(shape[:-1]) > MAX_CELLS or shape[-1] > 64:
        raise CodecFileError(
            f"{where}: shape={shape} is absurd (at most {MAX_SIDE} cells an axis, {MAX_CELLS} in all, 64 channels)"
        )
    domain, rate = h.get("d", "image"), h.get("r")
    if domain not in DOMAINS or not (rate is None or is_number(rate) and 0 < rate < 1e9):
        raise CodecFileError(f"{where}: domain={domain}, rate={rate}: not one of {DOMAINS} with a rate > 0")
    if not is_count(h["b"], 2) or h["b"] > 16:
        raise CodecFileError(f"{where}: bits={h['b']} is not in 2..16")
    if not is_count(h["n"]) or h["n"] > MAX_VALUES:
        raise CodecFileError(f"{where}: the tensors hold {h['n']} numbers, absurd for a field (at most {MAX_VALUES})")
    tensors = h["t"]
    if not isinstance(tensors, list) or not tensors:
        raise CodecFileError(f"{where}: the header lists no tensors")
    for i, t in enumerate(tensors):
        ok = t == 0 or isinstance(t, list) and len(t) == 2 and isinstance(t[0], list) and isinstance(t[1], list)
        if not ok or t and not all(isinstance(s, list) and len(s) >= 2 and is_count(s[1]) for s in t[1]):
            raise CodecFileError(f"{where}: tensor {i}'s entry {str(t)[:80]} is not 0 or [quantiser, [streams]]")


def read_file(path: Path) -> bytes:
    if not path.is_file():
        raise CodecFileError(f"{path}: file not found (write one with scripts/compress.py RUN --out {path})")
    return path.read_bytes()
