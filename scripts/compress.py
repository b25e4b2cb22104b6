"""Compress a trained field into one .nfc file: quantised, entropy-coded weights and a header that rebuilds it.

    python scripts/compress.py outputs/<run> --out kodim01.nfc [--bits 8]        # 2..15: uniform levels
    python scripts/compress.py outputs/<run>/checkpoints/last.ckpt --out x.nfc --bits 16   # fp16, as COIN
    python scripts/compress.py outputs/<run> --out x.nfc --bits 6 --qat-steps 300   # quantisation-aware fine-tuning

The file is decoded again after it is written (nothing of the float weights is reused), rendered on the
signal's grid in 8-bit levels and scored against the run's own data (or --reference IMAGE). Printed: the
file's size and what each coder (raw, zlib, lzma, rANS) would have cost, the decoded PSNR, bits per pixel
= 8 x file bytes / pixels (header included), and COIN's convention 16 x parameters / pixels beside it.
--qat-steps N first fine-tunes the field for N Adam steps with its weights quantised in the forward pass
(straight-through, nfields/analysis/codec/qat.py) on the reference signal; without it the weights are
quantised as trained (post-training quantisation). The format: docs/compression.md. Bad input is one line
on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from nfields.analysis.codec.codec import decode_field, encode_field
from nfields.analysis.codec.container import EXTENSION
from nfields.analysis.codec.qat import finetune
from nfields.analysis.codec.quantise import BITS
from nfields.analysis.codec.runs import levels_psnr, load_run, n_parameters, reference
from nfields.analysis.codec.schemes import SCHEMES
from nfields.core.files import atomic_path
from nfields.run.exits import report_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run directory or a .ckpt written by train.py")
    p.add_argument("--out", type=Path, required=True, help=f"the file to write ({EXTENSION})")
    p.add_argument("--bits", type=int, default=8, choices=BITS, help="2..15: uniform levels per tensor; 16: fp16")
    p.add_argument(
        "--scheme", default="auto", choices=SCHEMES, help="auto: 2-D Gaussians as GaussianImage quantises them"
    )
    p.add_argument("--reference", type=Path, default=None, help="score against this image (default: the run's data)")
    p.add_argument("--qat-steps", type=int, default=0, help="quantisation-aware fine-tuning steps (0: none)")
    p.add_argument("--qat-lr", type=float, default=1e-3, help="its Adam learning rate")
    p.add_argument("--chunk", type=int, default=65536, help="coordinates per forward pass when scoring")
    p.add_argument("--searchpath", action="append", default=[], help="your own config dir (file://DIR), as render.py")
    a = p.parse_args(argv)
    if a.out.suffix != EXTENSION:
        p.error(f"--out {a.out}: the file's extension must be {EXTENSION}")
    if not a.run.exists():
        p.error(f"{a.run}: not found (a run directory, or <run dir>/checkpoints/last.ckpt)")
    if a.chunk < 1:
        p.error(f"--chunk must be >= 1, got {a.chunk}")
    if a.qat_steps < 0 or a.qat_lr <= 0:
        p.error(f"--qat-steps must be >= 0 and --qat-lr > 0, got {a.qat_steps} and {a.qat_lr}")
    return a


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse_args(argv)
    run = load_run(a.run, a.searchpath)
    target = reference(run, a.reference, a.searchpath)  # read before anything is written: a missing image fails here
    psnr_float = levels_psnr(run.field, target, a.chunk)
    if a.qat_steps:
        finetune(run.field, target, a.bits, a.qat_steps, a.qat_lr, a.scheme)
    enc = encode_field(run.field, run.config, run.shape, a.bits, run.domain, run.rate, a.scheme)
    with atomic_path(a.out) as tmp:
        tmp.write_bytes(enc.data)
    field, _ = decode_field(a.out.read_bytes(), str(a.out), a.searchpath)  # what was written, not the float weights
    pixels, params = math.prod(run.shape[:-1]), n_parameters(run.field)
    result = {
        "file": str(a.out),
        "bytes": len(enc.data),
        "header_bytes": enc.header_bytes,
        "pixels": pixels,
        "parameters": params,
        "bits": a.bits,
        "scheme": a.scheme,
        "psnr": levels_psnr(field, target, a.chunk),
        "psnr_float": psnr_float,
        "qat_steps": a.qat_steps,
        "bpp": 8 * len(enc.data) / pixels,
        "bpp_coin": 16 * params / pixels,
        "coder_bytes": enc.family_bytes,
        "chosen": enc.chosen,
    }
    families = ", ".join(f"{k} {v}" for k, v in enc.family_bytes.items())
    chosen = ", ".join(f"{k} x{v}" for k, v in sorted(enc.chosen.items()))
    print(f"wrote {a.out}: {len(enc.data)} bytes ({enc.header_bytes} header) at --bits {a.bits}")
    print(f"payload if every stream used one coder: {families}; kept the smallest per stream ({chosen})")
    qat = f", then {a.qat_steps} QAT steps" if a.qat_steps else ""
    print(f"decoded PSNR {result['psnr']:.2f} dB (the trained float weights: {psnr_float:.2f} dB{qat})")
    print(
        f"bpp {result['bpp']:.4f} (8 x {len(enc.data)} bytes / {pixels} pixels, header included); "
        f"COIN's convention 16 x {params} parameters / {pixels} pixels = {result['bpp_coin']:.4f}"
    )
    return result


if __name__ == "__main__":
    report_errors(main)
