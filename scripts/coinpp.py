"""COIN++ with a meta-learned run: compress an image into an .nfm file, decompress it, or draw a curve.

    python scripts/coinpp.py compress RUN IMAGE --out kodim01.nfm --bits 5            # the run's inner steps
    python scripts/coinpp.py compress RUN IMAGE --out kodim01.nfm --bits 5 --steps 10 --size 96
    python scripts/coinpp.py decompress RUN kodim01.nfm --out kodim01.png [--reference IMAGE --size 96]
    python scripts/coinpp.py rd --runs RUN16 RUN32 RUN64 --images ../shared/data/kodak --limit 2 --size 96 \
        --bits 4 5 6 --out coinpp_rd [--with rd/rd.json]

RUN is a `model.latent_source=meta` run on `data=patches` (its dir, or a .ckpt). The file holds only the
quantised codes of the image's patches (nfields/analysis/codec/coinpp_file.py: the format); the shared network is
the run's checkpoint and the prior (quantiser range, symbol counts) is measured on the run's training patches by
the first compress at a (steps, bits) and kept beside the checkpoint (nfields/analysis/codec/coinpp.py), so
decompress needs the same run. `--size S` resizes the image first (its longer side, area averaging, as
`data.size` does for whole images). bpp = 8 x file bytes / pixels; COIN++'s own rate (the symbols' information
under the prior, no header) is printed beside it. A truncated, corrupted or foreign file is refused in one line
(exit 2) and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: figures go to files
import imageio.v3 as iio  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from nfields.analysis.codec.classical import mean_curve, rate_distortion  # noqa: E402
from nfields.analysis.codec.coinpp import MetaRun, load_meta_run  # noqa: E402
from nfields.analysis.codec.coinpp_file import Fitted, decode_file, encode_image  # noqa: E402
from nfields.analysis.codec.container import read_file  # noqa: E402
from nfields.analysis.codec.published import PUBLISHED  # noqa: E402
from nfields.core.errors import ConfigError  # noqa: E402
from nfields.core.files import atomic_path  # noqa: E402
from nfields.core.io import load_image, whole_resize  # noqa: E402
from nfields.core.media import as_float, quantize, to_uint8  # noqa: E402
from nfields.core.metrics import psnr  # noqa: E402
from nfields.run.exits import report_errors  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compress", help="an image -> .nfm")
    c.add_argument("run", type=Path, help="a meta-learned run dir or .ckpt")
    c.add_argument("image", type=Path)
    c.add_argument("--out", type=Path, required=True)
    d = sub.add_parser("decompress", help=".nfm -> PNG")
    d.add_argument("run", type=Path, help="the run the file was compressed with")
    d.add_argument("file", type=Path)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--reference", type=Path, default=None, help="score the decoded image against this one")
    r = sub.add_parser("rd", help="a curve: every run at every --bits on every image")
    r.add_argument("--runs", type=Path, nargs="+", required=True, help="meta-learned runs (e.g. one per latent size)")
    r.add_argument("--images", type=Path, required=True, help="a folder of PNG images")
    r.add_argument("--limit", type=int, default=None, help="only the first N images")
    r.add_argument("--out", type=Path, required=True, help="folder for files, coinpp_rd.json/.md/.png")
    r.add_argument("--classical", nargs="*", default=["jpeg", "webp"], help="classical codecs on the same pixels")
    r.add_argument("--with", dest="others", type=Path, default=None, help="an rd.json of scripts/rd.py to draw too")
    for q in (c, d, r):
        q.add_argument("--size", type=int, default=None, help="resize each image to this longer side first")
    for q in (c, r):
        q.add_argument("--bits", type=int, nargs="+" if q is r else None, default=[5] if q is r else 5)
        q.add_argument("--steps", type=int, default=None, help="meta-SGD steps per patch (default: the run's)")
    return p.parse_args(argv)


def read_image(path: Path, size: int | None) -> torch.Tensor:
    """(H, W, 3) uint8: the image, its longer side resized to `size` (area averaging), in 8-bit levels."""
    return quantize(whole_resize(load_image(path), size, name=str(path)))


def compress(
    run: MetaRun, image: torch.Tensor, out: Path, bits: int, steps: int | None, fitted: Fitted | None = None
) -> tuple[dict[str, Any], Fitted]:
    """The report of one file written, and the image's fitted codes (for another --bits of the same image)."""
    coded = encode_image(run, image, bits, steps, fitted)
    with atomic_path(out) as tmp:
        tmp.write_bytes(coded.data)
    pixels = image.shape[0] * image.shape[1]
    return {"file": str(out), "bytes": len(coded.data), "pixels": pixels, "bpp": 8 * len(coded.data) / pixels,
            "bpp_coinpp": coded.info_bits / pixels, "psnr": coded.psnr, "bits": bits, "steps": coded.prior.steps,
            "code_dim": run.code_dim, "encode_s": coded.encode_s}, coded.fitted  # fmt: skip


def decompress(run: MetaRun, file: Path, out: Path) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    levels = decode_file(run, read_file(file), str(file))  # every check before any write
    seconds = time.perf_counter() - start
    with atomic_path(out) as tmp:
        iio.imwrite(tmp, to_uint8(levels))
    return levels, seconds


def rd_run(a: argparse.Namespace, run_path: Path, images: list[Path]) -> list[dict[str, Any]]:
    """One run at every --bits over the images, one point per --bits: each image's codes fitted once and
    quantised at every --bits (each encode time counts the fit), every file written, decoded from its bytes and
    scored."""
    run = load_meta_run(run_path)  # once for every image and --bits
    members: dict[int, list[dict[str, Any]]] = {bits: [] for bits in a.bits}
    for path in images:
        image = read_image(path, a.size)
        iio.imwrite(a.out / "images" / f"{path.stem}.png", to_uint8(image))  # the classical codecs' inputs
        fitted = None
        for bits in a.bits:
            folder = a.out / "files" / f"{run_path.name}-b{bits}"
            m, fitted = compress(run, image, folder / f"{path.stem}.nfm", bits, a.steps, fitted)
            levels, m["decode_s"] = decompress(run, Path(m["file"]), folder / f"{path.stem}.png")
            m["psnr_decoded"] = psnr(as_float(levels), as_float(image))
            members[bits].append({"image": path.name, **m})
    return [summary(run_path, bits, ms) for bits, ms in members.items()]


def summary(run_path: Path, bits: int, members: list[dict[str, Any]]) -> dict[str, Any]:
    """One point: the means over the images of bpp and PSNR (per image, then averaged: COIN's and COIN++'s
    mean) and of the bytes and times."""
    keys = ("bpp", "bpp_coinpp", "psnr", "psnr_decoded", "bytes", "encode_s", "decode_s")
    mean = {k: float(np.mean([m[k] for m in members])) for k in keys}
    out = {"run": str(run_path), "code_dim": members[0]["code_dim"], "bits": bits, "steps": members[0]["steps"]}
    print(
        f"{run_path.name} {bits} bits: {mean['bpp']:.4f} bpp ({mean['bpp_coinpp']:.4f} COIN++'s), {mean['psnr']:.2f} dB"
    )
    return {**out, "images": len(members), **mean, "members": members}


def table(points: list[dict[str, Any]]) -> str:
    lines = ["| run | latent | bits | steps | images | file bytes | bpp | COIN++'s bpp | PSNR (dB) | encode (s) | "
             "decode (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in points:
        lines.append(
            f"| {Path(p['run']).name} | {p['code_dim']} | {p['bits']} | {p['steps']} | {p['images']} | "
            f"{p['bytes']:.1f} | {p['bpp']:.4f} | {p['bpp_coinpp']:.4f} | {p['psnr']:.2f} | {p['encode_s']:.2f} | "
            f"{p['decode_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(
    points: list[dict[str, Any]], classical: list[dict[str, Any]], others: list[dict[str, Any]], path: Path
) -> None:
    fig, ax = plt.subplots(figsize=(7, 5))
    for bits in dict.fromkeys(p["bits"] for p in points):
        at = sorted((p["bpp"], p["psnr"]) for p in points if p["bits"] == bits)
        ax.plot(*zip(*at, strict=True), "o-", lw=2, label=f"nfields COIN++, {bits} bits (latent sizes)")
    for rep in dict.fromkeys(p["rep"] for p in others):
        at = sorted((p["bpp"], p["psnr"]) for p in others if p["rep"] == rep)
        ax.plot(*zip(*at, strict=True), ".:", lw=1, label=f"nfields {rep} (scripts/rd.py)")
    for codec in dict.fromkeys(c["codec"] for c in classical):
        at = sorted((c["bpp"], c["psnr"]) for c in classical if c["codec"] == codec)
        ax.plot(*zip(*at, strict=True), "--", lw=1, label=f"{codec} (Pillow, same images)")
    for (label, pts), marker in zip(PUBLISHED.items(), "sD^v", strict=False):  # grey: not measured here
        ax.scatter(pts["bpp"], pts["psnr"], marker=marker, s=18, c="0.45", label=f"{label}, published (Kodak)")
    ax.set(xlabel="bits per pixel (file size, header included)", ylabel="PSNR (dB)", xscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def rd(a: argparse.Namespace) -> dict[str, Any]:
    found = a.images.iterdir() if a.images.is_dir() else []
    images = sorted(f for f in found if f.suffix.lower() == ".png")[: a.limit]
    if not images:
        raise ConfigError("--images", str(a.images), "is not a folder of .png images")
    (a.out / "images").mkdir(parents=True, exist_ok=True)
    points = [point for run in a.runs for point in rd_run(a, run, images)]
    refs = [a.out / "images" / f"{p.stem}.png" for p in images]
    classical = [row for c in a.classical for row in mean_curve(rate_distortion(refs, c))]
    others = json.loads(a.others.read_text())["points"] if a.others else []
    result = {"images": [p.name for p in images], "size": a.size, "points": points, "classical": classical}
    (a.out / "coinpp_rd.json").write_text(json.dumps(result, indent=1))
    (a.out / "coinpp_rd.md").write_text(table(points))
    plot(points, classical, others, a.out / "coinpp_rd.png")
    print(table(points) + f"wrote {a.out / 'coinpp_rd.json'}, .md, .png")
    return result


def main(argv: list[str] | None = None) -> Any:
    a = parse_args(argv)
    if a.cmd == "rd":
        return rd(a)
    if a.cmd == "compress":
        image = read_image(a.image, a.size)
        m, _ = compress(load_meta_run(a.run), image, a.out, a.bits, a.steps)
        print(f"{a.out}: {m['bytes']} bytes, {m['bpp']:.4f} bpp (COIN++'s rate {m['bpp_coinpp']:.4f}: the codes' "
              f"information, no header), {m['psnr']:.2f} dB, encoded in {m['encode_s']:.2f} s")  # fmt: skip
        return m
    levels, seconds = decompress(load_meta_run(a.run), a.file, a.out)
    score = f", {psnr(as_float(levels), as_float(read_image(a.reference, a.size))):.2f} dB" if a.reference else ""
    print(f"decoded {levels.shape[0]}x{levels.shape[1]} in {seconds:.2f} s{score} -> {a.out}")
    return levels


if __name__ == "__main__":
    report_errors(main)
