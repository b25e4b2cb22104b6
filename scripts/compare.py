"""Compare the runs of a multirun (or any folder of runs) from their run directories alone, no server.

    python scripts/compare.py multirun/2026-11-24/12-00-00_000000 [--out DIR] [--metric test/psnr]

Writes into DIR (default: the multirun directory):
  compare.md         a markdown table: the config keys that differ between runs, and final metrics
  curves.png         val/psnr against step for every run (from each run's history.json)
  montage.png        every run's prediction side by side, captioned with its options and PSNR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nfields.analysis.report import Run, differing_keys, find_runs, markdown_table, montage, run_value  # noqa: E402

METRICS = ("test/psnr", "test/ssim", "val/psnr", "perf/steps_per_s", "step")


def curves(runs: list[Run], labels: list[str], out: Path, key: str = "val/psnr") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for run, label in zip(runs, labels, strict=True):
        path = run.dir / "history.json"
        if not path.exists():
            continue
        rows = [r for r in json.loads(path.read_text())["val"] if r.get(key) is not None]
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="o", ms=3, label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel(key + (" (dB)" if "psnr" in key else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="a multirun directory (or any folder containing run directories)")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default: ROOT)")
    ap.add_argument("--metric", default="test/psnr", help="metric shown in captions and used to sort the table")
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
    labels = [" ".join(f"{k}={run_value(r, k)}" for k in keys) or r.dir.name for r in runs]
    rows = [[r.dir.name, *[run_value(r, k) for k in keys], *[fmt(r.metrics.get(m)) for m in METRICS]] for r in runs]
    order = sorted(range(len(runs)), key=lambda i: -(runs[i].metrics.get(a.metric) or float("-inf")))
    table = markdown_table(["run", *keys, *METRICS], [rows[i] for i in order])
    (out / "compare.md").write_text(f"# {a.root}\n\n{table}\n")
    curves(runs, labels, out / "curves.png")
    items = []
    for r, label in zip(runs, labels, strict=True):
        pred = r.dir / "prediction.png"
        if pred.exists():
            import imageio.v3 as iio

            items.append((f"{label}  {fmt(r.metrics.get(a.metric))}", iio.imread(pred)))
    if items:
        import imageio.v3 as iio

        iio.imwrite(out / "montage.png", montage(items))
    print(table)
    print(f"\nwrote {out / 'compare.md'}, {out / 'curves.png'}" + (f", {out / 'montage.png'}" if items else ""))


def fmt(v: float | None) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


if __name__ == "__main__":
    main()
