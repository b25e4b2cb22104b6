"""Rate-distortion curves: every representation at several sizes, fitted with model=many, compressed, decoded.

    python scripts/rd.py --images ../shared/data/kodak --limit 4 --size 128 --reps siren,fourier,hashgrid \
        --steps 2000 --bits 8 --out rd
    python scripts/rd.py --images DIR --reps siren --sizes siren=5x20,10x28 --bits 6 --qat-steps 0 100 --out rd
    python scripts/rd.py --images DIR --quick --out rd      # 2 sizes of SIREN, 30 steps: a smoke run

Each (representation, size) is one model=many run over the images (the run train.py would make from the
overrides in rd.json's `command`, run in this process), saved under OUT/runs/<rep>-<size>. Every member is
then written as one .nfc file (OUT/files/<rep>-<size>/<image>.nfc: post-training quantisation; with
--qat-steps N > 0, quantisation-aware fine-tuning of the fitted weights first: OUT/files/<rep>-<size>-qat<N>/;
several values, as `--qat-steps 0 100`, code the same fitted members each way: a curve each), read back
from the file alone, rendered in 8-bit levels (OUT/files/.../<image>.png) and scored against the image as
training read it, in 8-bit levels. Written: rd.json (every point, every member), rd.md (the table), rd.png
(PSNR and SSIM against bpp: one curve per representation and QAT setting, the classical codecs on the same
images, the published Kodak points as markers on the PSNR panel: the papers report no SSIM). SSIM is
nfields.core.metrics.ssim (Gaussian window 11, sigma 1.5, mean over RGB; single-scale at every size: MS-SSIM's
five scales need 161 pixels a side, more than the CPU curves have).
Each image is fitted whole (data.crop=null: COIN's protocol), portrait ones turned a quarter turn to landscape
(data.orient=landscape: model=many's members share one shape); --size is the longer side, --square fits the
centre squares instead.
--logger wandb also logs them to a W&B run (offline, under OUT/wandb: `wandb sync` uploads it). Sizes per
representation: nfields/analysis/codec/rd.py.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: figures go to files
import imageio.v3 as iio  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from nfields.analysis.codec.classical import CODECS, available, mean_curve, rate_distortion  # noqa: E402
from nfields.analysis.codec.codec import decode_field, encode_field  # noqa: E402
from nfields.analysis.codec.members import load_members, member_targets  # noqa: E402
from nfields.analysis.codec.published import PUBLISHED  # noqa: E402
from nfields.analysis.codec.qat import finetune  # noqa: E402
from nfields.analysis.codec.quantise import BITS  # noqa: E402
from nfields.analysis.codec.rd import REPS, parse_sizes, size_overrides, summarise  # noqa: E402
from nfields.analysis.codec.runs import levels_psnr, n_parameters, render_levels  # noqa: E402
from nfields.analysis.codec.schemes import SCHEMES, tensor_specs  # noqa: E402
from nfields.core.errors import ConfigError  # noqa: E402
from nfields.core.media import as_float, quantize, to_uint8  # noqa: E402
from nfields.core.metrics import psnr, ssim  # noqa: E402
from nfields.run.compose import compose_run_config  # noqa: E402
from nfields.run.exits import report_errors  # noqa: E402
from nfields.run.train import train  # noqa: E402

SUFFIXES = {".png", ".ppm", ".bmp", ".tif", ".tiff"}  # lossless sources only
QUICK = {"reps": "siren", "sizes": ["siren=2x8,2x16"], "steps": 30, "classical": ["jpeg"], "qualities": [10, 50]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, required=True, help="a folder of lossless images (PNG)")
    p.add_argument("--out", type=Path, default=Path("outputs/rd"), help="folder for runs, files and rd.*")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--size", type=int, default=None, help="downsample each image to this longer side (data.size)")
    p.add_argument("--square", action="store_true", help="fit each image's centre square (data.crop=square)")
    p.add_argument("--reps", default=",".join(REPS), help=f"comma list of {', '.join(REPS)}")
    p.add_argument("--sizes", nargs="*", default=[], help="REP=S1,S2 per representation (default: its ladder)")
    p.add_argument("--steps", type=int, default=2000, help="training steps of each run")
    p.add_argument("--bits", type=int, default=8, choices=BITS, help="2..15: uniform levels per tensor; 16: fp16")
    p.add_argument("--scheme", default="auto", choices=SCHEMES, help="auto: 2-D Gaussians as GaussianImage quantises")
    p.add_argument("--qat-steps", type=int, nargs="+", default=[0], help="quantisation-aware fine-tuning steps per "
                   "member; several (0 100): each a curve from the same fits")  # fmt: skip
    p.add_argument("--qat-lr", type=float, default=1e-3, help="its Adam learning rate")
    p.add_argument("--classical", nargs="*", default=["jpeg", "webp"], help="classical codecs on the same images")
    p.add_argument("--qualities", type=int, nargs="*", default=None, help="their settings (default: each ladder)")
    p.add_argument("--logger", default="none", choices=["none", "wandb"], help="wandb: log the table and plot")
    p.add_argument("--quick", action="store_true", help="a smoke run: " + json.dumps(QUICK))
    p.add_argument("overrides", nargs="*", help="more train.py overrides for every run (e.g. model.lr=1e-3)")
    a = p.parse_args(argv)
    if a.quick:
        for k, v in QUICK.items():
            setattr(a, k, v)
    if not a.images.is_dir():
        p.error(f"--images {a.images}: not a folder of images")
    a.qat_steps = list(dict.fromkeys(a.qat_steps))  # in the order given, once each
    bad_size = (a.limit is not None and a.limit < 1) or (a.size is not None and a.size < 2)
    if a.steps < 1 or min(a.qat_steps) < 0 or bad_size:
        p.error("--steps and --limit must be >= 1, --qat-steps >= 0, --size >= 2")
    a.reps = [r for r in a.reps.split(",") if r]
    a.ladder = parse_sizes(a.reps, a.sizes)  # every (rep, size) checked before training
    a.paths = sorted(f for f in a.images.iterdir() if f.suffix.lower() in SUFFIXES)[: a.limit]
    if not a.paths:
        p.error(f"--images {a.images}: no {'/'.join(sorted(SUFFIXES))} files")
    unknown = [c for c in a.classical if c not in CODECS]
    if unknown:
        p.error(f"--classical {' '.join(unknown)}: not one of {', '.join(CODECS)}")
    skipped = [c for c in a.classical if c not in available()]
    if skipped:
        print(f"--classical: this Pillow cannot write {', '.join(skipped)}; left out")
    a.classical = [c for c in a.classical if c in available()]
    return a


def fit(a: argparse.Namespace, rep: str, size: str) -> tuple[Path, list[str]]:
    """One model=many run of `rep` at `size` over the images -> (its run dir, its train.py overrides)."""
    run_dir = a.out / "runs" / f"{rep}-{size}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a rerun replaces the point
    overrides = ["model=many", "data=image_set", f"data.root={a.images.resolve()}", f"data.limit={len(a.paths)}"]
    # the whole frame (COIN's protocol), portrait images turned to landscape: model=many's members share one shape
    frame = ["data.crop=square"] if a.square else ["data.crop=null", "data.orient=landscape"]
    overrides += [*frame, f"data.size={a.size if a.size else 'null'}", f"trainer.max_steps={a.steps}", "logger=none"]
    overrides += ["~callbacks.progress_gif", *size_overrides(rep, size), *a.overrides]
    train(compose_run_config(overrides, run_dir))
    GlobalHydra.instance().clear()
    return run_dir, overrides


def code_member(a: argparse.Namespace, run: Any, target: Any, file: Path, qat_steps: int) -> dict[str, Any]:
    """Write one member's .nfc (after `qat_steps` of quantisation-aware fine-tuning of a copy of its fitted
    field), decode the file alone, write its PNG, score it: bytes, bpp, PSNR, times."""
    psnr_float = levels_psnr(run.field, target)
    start = time.perf_counter()
    field = run.field
    if qat_steps:  # a copy: the other --qat-steps values start from the same fitted weights
        field = copy.deepcopy(run.field)
        finetune(field, target, a.bits, qat_steps, a.qat_lr, a.scheme)
    enc = encode_field(field, run.config, run.shape, a.bits, run.domain, run.rate, a.scheme)
    file.write_bytes(enc.data)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    field, header = decode_field(file.read_bytes(), str(file))  # the file alone
    levels = render_levels(field, header["shape"][:-1])  # (H, W, C) uint8
    decode_s = time.perf_counter() - start
    decoded = as_float(levels)
    iio.imwrite(file.with_suffix(".png"), to_uint8(levels))
    pixels, size = math.prod(run.shape[:-1]), file.stat().st_size
    return {
        "file": str(file),
        "bytes": size,
        "pixels": pixels,
        "bpp": 8 * size / pixels,
        "bpp_coin": 16 * n_parameters(field) / pixels,
        "psnr": psnr(decoded, target),
        "ssim": ssim(decoded, target),
        "psnr_float": psnr_float,
        "encode_s": encode_s,
        "decode_s": decode_s,
    }


def point(a: argparse.Namespace, rep: str, size: str) -> list[dict[str, Any]]:
    """One fit of `rep` at `size` over the images -> a point per --qat-steps value (the members coded each way)."""
    start = time.perf_counter()
    run_dir, overrides = fit(a, rep, size)
    fit_s = time.perf_counter() - start  # the one run that fits every image (start-up and validation included)
    runs, rows = load_members(run_dir)
    # the images in 8-bit levels: what the classical codecs code (OUT/images), and the image itself without --size
    targets = [as_float(quantize(t)) for t in member_targets(run_dir, rows)]
    write_references(a, rows, targets)
    points = []
    for q in a.qat_steps:
        folder = a.out / "files" / (f"{rep}-{size}" + (f"-qat{q}" if q else ""))
        folder.mkdir(parents=True, exist_ok=True)
        members = [
            {"image": row["name"], **code_member(a, run, target, folder / f"{Path(row['name']).stem}.nfc", q)}
            for run, row, target in zip(runs, rows, targets, strict=True)
        ]
        p = summarise(rep, size, a.bits, members)
        p["qat_steps"], p["command"] = q, "python train.py " + " ".join(overrides)
        p["scheme"] = a.scheme
        p["own_quantisers"] = bool(tensor_specs(runs[0].field, a.scheme))  # GaussianImage's: --bits sets nothing
        p["fit_s"] = fit_s / len(members)  # per image: the members train together
        qat = f", QAT {q} steps" if q else ""
        print(f"{rep} {size}{qat}: {p['bpp']:.4f} bpp, {p['psnr']:.2f} dB (float {p['psnr_float']:.2f}), "
              f"SSIM {p['ssim']:.4f}")  # fmt: skip
        points.append(p)
    return points


def write_references(a: argparse.Namespace, rows: list[dict[str, Any]], targets: list[Any]) -> None:
    """The images as training read them (turned to landscape, resized; --square: cropped), OUT/images/<name>.png:
    the classical codecs' inputs, so every curve is measured on the same pixels."""
    folder = a.out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for row, target in zip(rows, targets, strict=True):
        iio.imwrite(folder / f"{Path(row['name']).stem}.png", to_uint8(target))


def classical_curves(a: argparse.Namespace) -> list[dict[str, Any]]:
    paths = sorted((a.out / "images").glob("*.png"))
    return [row for c in a.classical for row in mean_curve(rate_distortion(paths, c, a.qualities))]


def table(points: list[dict[str, Any]]) -> str:
    head = (
        "| representation | size | bits | QAT steps | images | bpp | COIN's bpp | PSNR (dB) | float PSNR (dB) | SSIM |"
    )
    lines = [head + " fit (s) | encode (s) | decode (s) |", "|---" * 13 + "|"]
    for p in points:
        bits = "own" if p.get("own_quantisers") else p["bits"]  # own: the representation's scheme (schemes.py)
        lines.append(
            f"| {p['rep']} | {p['size']} | {bits} | {p['qat_steps']} | {p['images']} | {p['bpp']:.4f} | "
            f"{p['bpp_coin']:.4f} | {p['psnr']:.2f} | {p['psnr_float']:.2f} | {p['ssim']:.4f} | "
            f"{p['fit_s']:.1f} | {p['encode_s']:.2f} | {p['decode_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(points: list[dict[str, Any]], classical: list[dict[str, Any]], path: Path) -> Path:
    """Two panels against bpp: PSNR (with the published Kodak points) and SSIM (measured here only)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, key in zip(axes, ("psnr", "ssim"), strict=True):
        for i, rep in enumerate(dict.fromkeys(p["rep"] for p in points)):
            for q in dict.fromkeys(p["qat_steps"] for p in points if p["rep"] == rep):  # PTQ solid, QAT dotted
                at = sorted((p["bpp"], p[key]) for p in points if p["rep"] == rep and p["qat_steps"] == q)
                style, label = ("o:", f"nfields {rep}, QAT {q} steps") if q else ("o-", f"nfields {rep}")
                ax.plot(*zip(*at, strict=True), style, color=f"C{i % 10}", label=label)
        for j, codec in enumerate(dict.fromkeys(c["codec"] for c in classical)):  # greys: the fields have colours
            at = sorted((c["bpp"], c[key]) for c in classical if c["codec"] == codec)
            grey = ("0", "0.5", "0.3", "0.7")[j % 4]
            ax.plot(*zip(*at, strict=True), "--", lw=1, color=grey, label=f"{codec} (Pillow, same images)")
        ax.set(xlabel="bits per pixel (file size, header included)", ylabel=key.upper(), xscale="log")
        ax.grid(alpha=0.3)
    for (label, pts), marker in zip(PUBLISHED.items(), "sD^v", strict=True):  # grey: not measured here
        axes[0].scatter(pts["bpp"], pts["psnr"], marker=marker, s=18, c="0.45", label=f"{label}, published (Kodak)")
    axes[0].set(ylabel="PSNR (dB)")
    axes[1].set(ylabel="SSIM (Gaussian window 11, RGB mean)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def log_to_wandb(points: list[dict[str, Any]], png: Path, out: Path) -> None:
    import wandb  # noqa: PLC0415  (only when asked: its import is slow)

    run = wandb.init(project="nfields", name="rd", job_type="rd", dir=str(out), mode="offline",
                     settings=wandb.Settings(silent=True))  # fmt: skip
    keys = ["rep", "size", "bits", "qat_steps", "images", "bpp", "bpp_coin", "psnr", "psnr_float", "ssim"]
    keys += ["fit_s", "encode_s", "decode_s"]
    run.log(
        {"rd": wandb.Table(columns=keys, data=[[p[k] for k in keys] for p in points]), "rd_png": wandb.Image(str(png))}
    )
    run.finish()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    points = [p for rep in a.reps for size in a.ladder[rep] for p in point(a, rep, size)]
    if not points:
        raise ConfigError("--sizes", a.sizes, "names no (representation, size) to fit")
    classical = classical_curves(a)
    result = {"images": [f.name for f in a.paths], "size": a.size, "square": a.square, "steps": a.steps,
              "points": points, "classical": classical, "published": PUBLISHED}  # fmt: skip
    (a.out / "rd.json").write_text(json.dumps(result, indent=1))
    (a.out / "rd.md").write_text(table(points))
    png = plot(points, classical, a.out / "rd.png")
    if a.logger == "wandb":
        log_to_wandb(points, png, a.out)
    print(table(points) + f"wrote {a.out / 'rd.json'}, {a.out / 'rd.md'}, {png}")
    return result


if __name__ == "__main__":
    report_errors(main)
