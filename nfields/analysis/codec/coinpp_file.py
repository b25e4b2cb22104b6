"""The COIN++ file (.nfm): an image's quantised patch codes, rANS-coded under the run's prior.

    offset   bytes  what
    0        4      magic b"\\x89NFM"
    4        1      format version (1)
    5        2      H, uint16 little-endian (the image's rows)
    7        2      W, uint16 little-endian (its columns)
    9        1      bits: 2^bits uniform levels per code entry
    10       1      steps: the meta-SGD steps the codes were fitted with (which prior codes them)
    11       4      digest: CRC-32 of the run's shared weights, then of its prior's JSON
    15       m      payload: rANS words (uint32 little-endian), the symbols of every patch's code, row by row
    15 + m   4      CRC-32 of all the bytes before it, uint32 little-endian

The network and the prior are not in the file (coinpp.py says where they live); the digest makes a decoder
given another run, or the same run with another prior, refuse the file instead of decoding noise. The
patches' count and the code width follow from (H, W) and the run. A truncated, corrupted or foreign file is
refused in one line (CodecFileError) before anything is decoded.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from nfields.analysis.codec.coinpp import MetaRun, Prior, check_steps_bits, fit_codes, prior_for, render, tile, untile
from nfields.analysis.codec.container import CodecFileError
from nfields.core.media import as_float, quantize
from nfields.core.metrics import psnr

MAGIC = b"\x89NFM"
VERSION = 1
EXTENSION = ".nfm"
HEAD = struct.Struct("<4sBHHBBI")  # magic, version, H, W, bits, steps, digest
CRC = struct.Struct("<I")


@dataclass
class Fitted:
    """An image's codes before quantisation, (n tiles, code_dim) after `steps` meta-SGD steps, and the seconds
    tiling and fitting took: what every --bits of the same image shares (a curve fits each image once)."""

    codes: torch.Tensor
    steps: int
    seconds: float


@dataclass
class Coded:
    """An encoded image: the file's bytes, its decoded render (H, W, C) uint8 and its PSNR against the image,
    the information of its symbols under the prior (COIN++'s rate: bits, no header, no coder overhead), the
    encode time (tiling, fitting, quantising, coding) and the fitted codes it quantised."""

    data: bytes
    levels: torch.Tensor
    psnr: float
    info_bits: float
    prior: Prior
    encode_s: float
    fitted: Fitted


def digest(run: MetaRun, prior: Prior) -> int:
    return zlib.crc32(prior.text().encode(), run.digest())


def model(prior: Prior):  # -> constriction's categorical model over the 2^bits symbols
    return constriction.stream.model.Categorical(prior.probabilities(), perfect=False)


def decode_levels(run: MetaRun, codes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Codes (n, code_dim) of an h x w image's tiles -> the image in 8-bit levels (h, w, C) uint8."""
    return quantize(untile(render(run, codes), h, w))


def encode_image(
    run: MetaRun, image: torch.Tensor, bits: int, steps: int | None = None, fitted: Fitted | None = None
) -> Coded:
    """image (H, W, C) uint8 -> its .nfm bytes at `bits`, the codes fitted with `steps` (default: the run's
    inner steps); the prior for (steps, bits) is read from beside the checkpoint or measured and written there.
    `fitted`: the same image's codes from an earlier call (`Coded.fitted`, another --bits), reused instead of
    fitted again; the encode time still counts their fit."""
    steps = run.source.inner_steps if steps is None else steps
    check_steps_bits(steps, bits)
    h, w, c = image.shape
    if image.dtype != torch.uint8 or c != run.channels or not (1 <= h < 1 << 16 and 1 <= w < 1 << 16):
        raise CodecFileError(f"the image is {tuple(image.shape)} {image.dtype}: COIN++ codes (H, W, 3) uint8 images")
    tiles = -(-h // run.patch) * -(-w // run.patch)
    if fitted is not None and (fitted.steps, tuple(fitted.codes.shape)) != (steps, (tiles, run.code_dim)):
        raise ValueError(f"codes of {fitted.steps} steps {tuple(fitted.codes.shape)} are not this image's")
    prior = prior_for(run, steps, bits)
    start = time.perf_counter()
    if fitted is None:
        patches, _ = tile(image, run.patch)  # (n, p, p, C) uint8
        codes = fit_codes(run, patches, steps)  # (n, code_dim)
        fitted = Fitted(codes, steps, time.perf_counter() - start)
        start = time.perf_counter()
    symbols = prior.symbols(fitted.codes)  # (n * code_dim,)
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(symbols.astype(np.int32), model(prior))
    payload = coder.get_compressed().astype("<u4").tobytes()
    body = HEAD.pack(MAGIC, VERSION, h, w, bits, steps, digest(run, prior)) + payload
    data = body + CRC.pack(zlib.crc32(body))
    encode_s = fitted.seconds + time.perf_counter() - start
    levels = decode_levels(run, prior.codes(symbols, run.code_dim), h, w)  # what the decoder will render
    info = float(-np.log2(prior.probabilities()[symbols]).sum())
    return Coded(data, levels, psnr(as_float(levels), as_float(image)), info, prior, encode_s, fitted)


def read_head(data: bytes, where: str) -> tuple[int, int, int, int, int, bytes]:
    """(H, W, bits, steps, digest, payload) of a file's bytes; refused in one line unless well formed."""
    if len(data) < HEAD.size + CRC.size:
        raise CodecFileError(f"{where}: {len(data)} bytes is too short for an {EXTENSION} file (truncated?)")
    magic, version, h, w, bits, steps, dig = HEAD.unpack_from(data)
    if magic != MAGIC:
        raise CodecFileError(f"{where}: not an {EXTENSION} file (magic {magic!r}); write one with scripts/coinpp.py")
    if version != VERSION:
        raise CodecFileError(f"{where}: format version {version}, this nfields reads version {VERSION}")
    body, (crc,) = data[: -CRC.size], CRC.unpack(data[-CRC.size :])
    if zlib.crc32(body) != crc:
        raise CodecFileError(f"{where}: checksum mismatch: the file is truncated or corrupted; compress it again")
    payload = body[HEAD.size :]
    if h < 1 or w < 1 or not 2 <= bits <= 12 or steps < 1 or len(payload) % 4:
        raise CodecFileError(
            f"{where}: H={h}, W={w}, bits={bits}, steps={steps}, {len(payload)} payload bytes: not a file"
        )
    return h, w, bits, steps, dig, payload


def decode_file(run: MetaRun, data: bytes, where: str) -> torch.Tensor:
    """A file's bytes -> the image (H, W, C) uint8, with the run it was compressed with (its network and prior)."""
    h, w, bits, steps, dig, payload = read_head(data, where)
    prior = prior_for(run, steps, bits, make=False)
    if dig != digest(run, prior):
        raise CodecFileError(
            f"{where}: was compressed with another network or prior than {run.checkpoint}'s (digest {dig:08x}, "
            f"this run's {digest(run, prior):08x}); decode it with the run it was compressed with"
        )
    n = -(-h // run.patch) * -(-w // run.patch) * run.code_dim  # symbols: every tile's code
    # rANS cannot code n symbols in fewer bits than n times the likeliest symbol's information (less its 64-bit
    # state): a header naming a bigger image than the payload holds is refused before anything is allocated
    least = 0.99 * n * -np.log2(prior.probabilities().max()) - 64
    if least > 8 * len(payload):
        raise CodecFileError(
            f"{where}: a {h}x{w} image needs {n} code entries, at least {least / 8:.0f} bytes under the prior; the "
            f"payload holds {len(payload)}"
        )
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
        symbols = np.asarray(coder.decode(model(prior), n), dtype=np.int64)
        left = not coder.is_empty()
    except Exception as e:  # constriction's own errors on words it did not write
        raise CodecFileError(f"{where}: the codes do not decode ({e})") from None
    if left:
        raise CodecFileError(f"{where}: the payload holds more than the {n} codes of a {h}x{w} image")
    return decode_levels(run, prior.codes(symbols, run.code_dim), h, w)
