"""Rate-distortion curves of the classical codecs (Pillow) on a folder of images, beside published points.

    python scripts/classical.py ../shared/data/kodak                       # JPEG at COIN's ladder, vs its jpeg.json
    python scripts/classical.py ../shared/data/kodak --codec webp avif jpeg2000 --json classical.json

Prints a Markdown table per codec: the quality (JPEG 2000: the compression ratio), mean bpp and PSNR over
the images, mean encode and decode milliseconds; for JPEG on Kodak also COIN's published point at the same
quality (baselines/jpeg.json, Pillow 7.1.2) and the difference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nfields.analysis.codec.classical import CODECS, check_codec, mean_curve, rate_distortion
from nfields.analysis.codec.published import COIN_JPEG
from nfields.core.errors import DataError
from nfields.run.exits import report_errors

SUFFIXES = {".png", ".ppm", ".bmp", ".tif", ".tiff"}  # lossless sources only


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="a folder of lossless images (PNG)")
    p.add_argument("--codec", nargs="+", default=["jpeg"], choices=list(CODECS), help="codecs to run")
    p.add_argument("--qualities", type=int, nargs="+", default=None, help="settings (default: each codec's ladder)")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--json", type=Path, default=None, help="also write every point (per image) here")
    return p.parse_args(argv)


def table(rows: list[dict], with_coin: bool) -> str:
    head = "| codec | quality | bpp | PSNR (dB) | SSIM | encode (ms) | decode (ms) |"
    rule = "|---|---|---|---|---|---|---|"
    if with_coin:
        head, rule = head + " COIN's jpeg.json bpp | its PSNR | difference (dB) |", rule + "---|---|---|"
    lines = [head, rule]
    ladder = list(CODECS["jpeg"][2])
    for r in rows:
        line = f"| {r['codec']} | {r['quality']} | {r['bpp']:.4f} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
        line += f"{1000 * r['encode_s']:.1f} | {1000 * r['decode_s']:.1f} |"
        if with_coin and r["quality"] in ladder:
            i = ladder.index(r["quality"])
            b, p = COIN_JPEG["bpp"][i], COIN_JPEG["psnr"][i]
            line += f" {b:.4f} | {p:.2f} | {r['psnr'] - p:+.2f} |"
        elif with_coin:
            line += " | | |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    a = parse_args(argv)
    for codec in a.codec:
        check_codec(codec)
    if not a.root.is_dir():
        raise DataError(f"{a.root}: not a folder of images (Kodak: ../shared/data/kodak from the repository root)")
    paths = sorted(p for p in a.root.glob("*") if p.suffix.lower() in SUFFIXES)[: a.limit]
    if not paths:
        raise DataError(f"{a.root}: no PNG/PPM/BMP/TIFF images there (a lossless source is needed to score codecs)")
    kodak = len(paths) == 24 and all(p.name.startswith("kodim") for p in paths)
    curves, points = {}, []
    for codec in a.codec:
        per_image = rate_distortion(paths, codec, a.qualities)
        points += [vars(p) for p in per_image]
        curves[codec] = mean_curve(per_image)
        print(f"\n{codec}, {len(paths)} images of {a.root}:\n")
        print(table(curves[codec], with_coin=kodak and codec == "jpeg"))
    if a.json:
        a.json.write_text(json.dumps({"curves": curves, "points": points}, indent=1))
    return curves


if __name__ == "__main__":
    report_errors(main)
