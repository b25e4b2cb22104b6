"""Tancik et al. 2020, Table 1 (2D images): encodings none / basic / positional / fourier on natural and text images.

    python scripts/ffn_table.py                                   # the paper's protocol: 512^2, 2000 steps (a GPU)
    python scripts/ffn_table.py --size 64 --steps 300 --n-natural 3 --n-text 3   # reduced, runnable on a CPU

Each (image set, encoding) is one `python train.py -m experiment=ffn_table ...` multirun over the images,
with the paper's per-cell hyperparameters (HPARAMS). Test PSNR is on the held-out odd grid (task=interpolate).
Writes <out>/ffn_table.md (mean +- std over images beside the paper's figures) and <out>/ffn_table.png
(ground truth and the four reconstructions of the first image of each set). --table-only rebuilds both
from finished runs.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

ENCODINGS = ("none", "basic", "positional", "fourier")
PAPER = {  # Tancik et al. 2020, Table 1, 2D image regression, test PSNR (dB)
    "natural": {"none": 19.32, "basic": 21.72, "positional": 24.95, "fourier": 25.57},
    "text": {"none": 18.40, "basic": 20.48, "positional": 27.57, "fourier": 30.47},
}
HPARAMS = {  # the paper's per-cell settings (for 512^2 images); everything else comes from experiment=ffn_table
    ("natural", "none"): {"model.lr": 1e-2},
    ("natural", "basic"): {"model.lr": 1e-2},
    ("natural", "positional"): {"encoding.scale": 6.0, "encoding.n_features": 256},
    ("natural", "fourier"): {"encoding.sigma": 10.0, "encoding.n_features": 256},
    ("text", "none"): {},
    ("text", "basic"): {},
    ("text", "positional"): {"encoding.scale": 5.0, "encoding.n_features": 256},
    ("text", "fourier"): {"encoding.sigma": 14.0, "encoding.n_features": 256},
}
NATURAL = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512, help="image side (paper: 512; trained on the even half-grid)")
    p.add_argument("--steps", type=int, default=2000, help="full-batch Adam steps (paper: 2000)")
    p.add_argument("--n-natural", type=int, default=4, help=f"natural skimage samples, first N of {NATURAL}")
    p.add_argument("--n-text", type=int, default=4, help="generated text images (data=text data.index=0..N-1)")
    p.add_argument("--sets", default="natural,text", help="comma-separated subset of natural,text")
    p.add_argument("--out", type=Path, default=None, help="output folder (default outputs/ffn_table/<size>px_<steps>)")
    p.add_argument("--logger", default="none", help="logger option for the runs (none, wandb, csv, ...)")
    p.add_argument("--table-only", action="store_true", help="only rebuild the table from finished runs")
    p.add_argument(
        "--no-scale-freqs",
        dest="scale_freqs",
        action="store_false",
        help="keep the paper's sigma / scale at any --size (default: scale them by size/512, see cell_hparams)",
    )
    p.add_argument("overrides", nargs="*", help="extra train.py overrides for every run, e.g. trainer=gpu")
    a = p.parse_args(argv)
    for key in ("size", "steps", "n_natural", "n_text"):
        if getattr(a, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1, got {getattr(a, key)}")
    if a.n_natural > len(NATURAL):
        p.error(f"--n-natural must be <= {len(NATURAL)} (the bundled natural samples), got {a.n_natural}")
    a.sets = [s for s in a.sets.split(",") if s]
    if not a.sets or set(a.sets) - set(PAPER):
        p.error(f"--sets must be a comma-separated subset of natural,text, got {','.join(a.sets)!r}")
    a.out = a.out or ROOT / "outputs" / "ffn_table" / f"{a.size}px_{a.steps}steps"
    return a


def cell_hparams(image_set: str, encoding: str, a: argparse.Namespace) -> list[str]:
    """The paper's settings for one cell as overrides; frequencies scaled to the image size when --size != 512.

    sigma and scale are in cycles per image side, chosen for 256^2 training samples. At a smaller size the
    training grid resolves proportionally lower frequencies, so sigma is multiplied by size/512 and the
    positional top frequency 2^scale likewise (scale + log2(size/512)): the same bandwidth relative to the
    sampling, instead of features far above the Nyquist frequency of a small grid. Measured at 128^2,
    500 steps, natural images (astronaut, coffee): fourier 25.27 dB scaled (sigma 2.5) vs 23.60 dB with
    sigma 10 capped only at the grid's Nyquist (docs/tasks.md).
    """
    hp = dict(HPARAMS[(image_set, encoding)])
    r = a.size / 512
    if a.scale_freqs and r != 1:
        if "encoding.sigma" in hp:
            hp["encoding.sigma"] = round(hp["encoding.sigma"] * r, 4)
        if "encoding.scale" in hp:
            hp["encoding.scale"] = round(max(0.0, hp["encoding.scale"] + math.log2(r)), 4)
    return [f"{k}={v}" for k, v in hp.items()]


def data_overrides(image_set: str, a: argparse.Namespace) -> list[str]:
    if image_set == "natural":
        return ["data=image", "data.image=" + ",".join(NATURAL[: a.n_natural])]
    return ["data=text", "data.index=" + ",".join(str(i) for i in range(a.n_text))]


def run_cell(image_set: str, encoding: str, a: argparse.Namespace) -> None:
    sweep = a.out / image_set / encoding
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", "experiment=ffn_table", f"encoding={encoding}"]
    cmd += cell_hparams(image_set, encoding, a) + data_overrides(image_set, a)
    cmd += [f"data.size={a.size}", f"trainer.max_steps={a.steps}", f"logger={a.logger}", f"hydra.sweep.dir={sweep}"]
    cmd += ["callbacks.progress_bar.refresh_rate=0", *a.overrides]
    print(f"[{image_set}/{encoding}] {' '.join(cmd[2:])}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    for line in proc.stdout.splitlines():
        if line.startswith("PSNR:"):
            print(f"  {line}", flush=True)
    if proc.returncode:
        sys.exit(f"[{image_set}/{encoding}] train.py failed:\n{proc.stderr[-3000:]}")


def collect(a: argparse.Namespace) -> dict[tuple[str, str], list[float]]:
    """(set, encoding) -> test PSNRs of the finished runs under --out."""
    from nfields.analysis.report import find_runs

    out = {}
    for s in a.sets:
        for e in ENCODINGS:
            d = a.out / s / e
            runs = find_runs(d) if d.exists() else []
            out[(s, e)] = [r.metrics["test/psnr"] for r in runs if r.metrics.get("test/psnr") is not None]
    return out


def table(psnrs: dict[tuple[str, str], list[float]], a: argparse.Namespace, command: str) -> str:
    import numpy as np

    def cell(v: list[float]) -> str:
        return f"{np.mean(v):.2f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.2f} (n={len(v)})" if v else "-"

    head = "| encoding | " + " | ".join(f"{s}: ours | {s}: paper" for s in a.sets) + " |"
    lines = [head, "|---|" + "---|---|" * len(a.sets)]
    for e in ENCODINGS:
        lines.append(f"| {e} | " + " | ".join(f"{cell(psnrs[(s, e)])} | {PAPER[s][e]:.2f}" for s in a.sets) + " |")
    notes = []
    for s in a.sets:
        m = [np.mean(psnrs[(s, e)]) if psnrs[(s, e)] else float("nan") for e in ENCODINGS]
        ok = m[0] < m[1] < m[2] <= m[3]
        notes.append(f"{s}: none < basic < positional <= fourier {'holds' if ok else 'does NOT hold'}")
    freqs = "" if a.size == 512 else ", sigma/scale scaled by size/512" if a.scale_freqs else ", paper sigma/scale"
    return (
        f"Test PSNR (dB) on the held-out odd grid, mean ± std over images; {a.size}² images, {a.steps} steps{freqs}.\n"
        f"Command: `{command}`\n\n" + "\n".join(lines) + "\n\n" + "; ".join(notes) + ".\n"
    )


def figure(a: argparse.Namespace) -> Path | None:
    """Ground truth and each encoding's prediction for the first image of each set, one row per set."""
    import imageio.v3 as iio
    import numpy as np

    from nfields.analysis.report import find_runs, montage
    from nfields.core.media import to_uint8
    from nfields.run.build import build_datamodule

    rows = []
    for s in a.sets:
        items = []
        for e in ENCODINGS:
            d = a.out / s / e
            if not d.exists():
                continue
            run = find_runs(d)[0]
            if not items:
                items.append((f"{s}: ground truth", to_uint8(build_datamodule(run.config).image)))
            psnr = run.metrics.get("test/psnr")
            items.append((f"{e} {psnr:.2f} dB" if psnr is not None else e, iio.imread(run.dir / "prediction.png")))
        if items:
            rows.append(montage(items, height=192))
    if not rows:
        return None
    w = max(r.shape[1] for r in rows)
    img = np.concatenate([np.pad(r, ((0, 6), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    path = a.out / "ffn_table.png"
    iio.imwrite(path, img)
    return path


def main(argv: list[str] | None = None) -> Path:
    a = parse_args(argv)
    command = "python scripts/ffn_table.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if not a.table_only:
        for s in a.sets:
            for e in ENCODINGS:
                run_cell(s, e, a)
    md = table(collect(a), a, command.strip())
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "ffn_table.md").write_text(md)
    fig = figure(a)
    print(md + f"\ntable: {a.out / 'ffn_table.md'}" + (f"\nfigure: {fig}" if fig else ""))
    return a.out / "ffn_table.md"


if __name__ == "__main__":
    main()
