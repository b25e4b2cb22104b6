"""Compare the runs of a multirun (or any folder of runs) from their run directories alone, no server.

    python train.py -m encoding=none,fourier network=mlp,siren
    python scripts/compare.py multirun/<date>/<time> [--out DIR] [--metric test/psnr] [--curve val/psnr]

Runs are labelled by the overrides you typed that differ between them ("encoding=fourier
network=siren", from each job's .hydra/overrides.yaml); a run with no overrides by its directory name.
Writes into DIR (default: the multirun directory):
  compare.md    a markdown table: one column per override key that differs, then the final metrics the runs
                logged (test/psnr, test/ssim where the domain has it, the domain's own: test/snr for audio,
                test/iou for occupancy; val/psnr, steps/s, step)
  curves.png    val/psnr against step for every run, train/psnr (every trainer.log_every_n_steps) thin beside
                it (history.json, else the CSV logger's metrics.csv)
  montage.png   every run's prediction.png (each domain's picture: an image, a waveform, frames, slices),
                captioned with its label and --metric
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import imageio.v3 as iio

from nfields.analysis.report import (
    captioned_predictions,
    curves_figure,
    differing_keys,
    find_runs,
    markdown_table,
    metric_columns,
    run_labels,
    run_value,
)
from nfields.core.media import montage

MONTAGE_COLS = 6  # tiles per row: a 12-run sweep is two rows, not one very wide strip


def fmt(v: float | None) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="a multirun directory (or any folder containing run directories)")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default: ROOT)")
    ap.add_argument("--metric", default="test/psnr", help="metric shown in captions and used to sort the table")
    ap.add_argument("--curve", default="val/psnr", help="metric plotted against step in curves.png")
    a = ap.parse_args()
    if not a.root.exists():
        sys.exit(f"error: {a.root} does not exist (pass a multirun directory such as multirun/<date>/<time>)")
    try:
        runs = find_runs(a.root)
    except FileNotFoundError as e:
        sys.exit(f"error: {e}")
    out = a.out or a.root
    out.mkdir(parents=True, exist_ok=True)

    keys = differing_keys(runs)
    labels = run_labels(runs)
    metrics = metric_columns(runs)
    rows = [[r.name, *[run_value(r, k) for k in keys], *[fmt(r.metrics.get(m)) for m in metrics]] for r in runs]
    order = sorted(range(len(runs)), key=lambda i: -(runs[i].metrics.get(a.metric) or float("-inf")))
    table = markdown_table(["run", *keys, *metrics], [rows[i] for i in order])
    (out / "compare.md").write_text(f"# {a.root}\n\n{table}\n")
    written = [out / "compare.md", out / "curves.png"]
    curves_figure(runs, labels, a.curve).savefig(out / "curves.png")
    items = captioned_predictions(runs, labels, a.metric)
    if items:
        iio.imwrite(out / "montage.png", montage(items, height=256, cols=MONTAGE_COLS))
        written.append(out / "montage.png")
    print(table)
    print("\nwrote " + ", ".join(map(str, written)))


if __name__ == "__main__":
    main()
