"""The representation zoo: every representation, at equal parameter budgets, tuned on train, reported on test.

    python scripts/zoo.py --root /path/to/ffn/div2k                          # reduced CPU mode (the defaults)
    python scripts/zoo.py --root /path/to/ffn/div2k --size 512 --steps 5000 --images 16 \\
        --budgets 200000,800000 trainer=gpu                                   # the full protocols (a GPU)

For each task (fit: every pixel observed, the FINER protocol; interpolate: Tancik et al.'s even/odd
grid), each budget (budget.params) and each method of nfields/analysis/zoo.py: a grid search of its
learning rate and bandwidth parameter (every combination x the first --images *train* images are the
members of one model=many run; the point with the best mean val PSNR wins; a point at the grid's edge is
marked), then one run with the best values on the *test* images. Writes
zoo.md (PSNR and SSIM mean ± std over images, parameters, steps/s, training time to 30 dB, render time
of a 512² image, the chosen values), zoo.json and zoo.png (mean val PSNR against training time) into --out.
This script is the command line and the run loop; the methods, their grids, the table and the figure are
nfields/analysis/zoo.py's.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from nfields.analysis.zoo import (
    METHODS,
    Method,
    Result,
    best_of_grid,
    figure,
    from_json,
    grid_overrides,
    markdown,
    on_edge,
    read_result,
    search_description,
    to_json,
)
from nfields.core.errors import ConfigError
from nfields.fields.field import render
from nfields.run.build import load_checkpoint
from nfields.run.compose import compose_run_config
from nfields.run.train import train


def run(
    a: argparse.Namespace, method: Method, task: str, budget: int, split: str, values: dict, out: Path, extra=()
) -> dict:
    over = ["experiment=zoo", f"data.root={a.root}", f"data.split={split}", f"data.limit={a.images}", f"task={task}"]
    over += [
        f"budget.params={budget}",
        f"trainer.max_steps={a.steps}",
        f"log.val_every_n_steps={max(1, a.steps // 10)}",
        f"members.chunk={a.chunk if method.stacks else 1}",
    ]
    over += ([f"data.size={a.size}"] if a.size else []) + method.over + [f"{k}={v:.6g}" for k, v in values.items()]
    train(compose_run_config([*over, *extra, *a.overrides], out))
    return json.loads((out / "metrics.json").read_text())


def search(a: argparse.Namespace, name: str, task: str, budget: int, out: Path) -> tuple[dict[str, float], list]:
    """The method's grid on the first --images *train* images, every combination a member of one model=many run;
    -> (the point with the best mean val PSNR, every point's mean)."""
    method = METHODS[name]
    run(a, method, task, budget, "train", {}, out, grid_overrides(method))
    with (out / "members.csv").open(newline="") as f:
        best, scores = best_of_grid(list(csv.DictReader(f)), method)
    edge = on_edge(best, method)
    note = f" (at the grid's edge: {', '.join(edge)})" if edge else ""
    top = max(s["val/psnr"] for s in scores)
    print(f"[zoo] {task} {budget} {name}: best train val PSNR {top:.2f} with {best}{note}", flush=True)
    return best, scores


def render_seconds(ckpt: Path, size: int = 512) -> tuple[float, float]:
    """(seconds to render member 0 at size^2, trainable parameters per member) from a model=many checkpoint."""
    module = load_checkpoint(ckpt)
    field = module.field[0].member(0)
    render(field, 16, 16)  # warm-up
    t = time.perf_counter()
    render(field, size, size)
    params = module.field_params()  # real numbers per member (a complex entry is two)
    return time.perf_counter() - t, params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="a set with train/ and test/ (e.g. ffn/div2k)")
    ap.add_argument("--size", type=int, default=64, help="image side (null = 512: --size 0)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--images", type=int, default=4, help="the first N images of each split")
    ap.add_argument("--budgets", default="3000,12000", help="parameter budgets (comma-separated)")
    ap.add_argument("--tasks", default="fit,interpolate")
    ap.add_argument(
        "--chunk", type=int, default=16, help="members per vectorised step (members.chunk; 16: 10x the CPU default)"
    )
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", type=Path, default=Path("multirun/zoo"))
    ap.add_argument("--resume", action="store_true", help="keep the results already in --out/zoo.json, run the rest")
    ap.add_argument("overrides", nargs="*", help="extra train.py overrides for every run, e.g. trainer=gpu")
    a = ap.parse_args()
    a.size = a.size or None
    methods = [m for m in a.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        ap.error(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if not (a.root / "train").is_dir() or not (a.root / "test").is_dir():
        ap.error(f"--root {a.root}: needs train/ and test/ folders (your copy of the Fourier-features set)")
    t0, results, skipped = time.perf_counter(), [], []
    if a.resume and (a.out / "zoo.json").exists():
        results = from_json(json.loads((a.out / "zoo.json").read_text()))
    done = {(r.task, r.budget, r.method) for r in results}
    for task in a.tasks.split(","):
        for budget in [int(b) for b in a.budgets.split(",")]:
            for name in methods:
                if (task, budget, name) in done:
                    continue
                where = a.out / task / str(budget) / name
                try:
                    best, scores = search(a, name, task, budget, where / "search")
                except ConfigError as e:  # e.g. a budget below the method's smallest field
                    print(f"[zoo] {task} {budget} {name}: skipped ({e})", flush=True)
                    skipped.append(f"{task}, {budget:,} params, {name}: {e}")
                    continue
                run(a, METHODS[name], task, budget, "test", best, where / "test")
                seconds, params = render_seconds(where / "test" / "checkpoints" / "last.ckpt")
                r: Result = read_result(where / "test", name, budget, task, params)
                r.render_s, r.best, r.grid = seconds, best, scores
                results.append(r)
                a.out.mkdir(parents=True, exist_ok=True)  # written after every method: a long run shows progress
                size = a.size or 512
                minutes = (time.perf_counter() - t0) / 60
                head = f"Command: `python scripts/zoo.py {' '.join(sys.argv[1:])}` ({minutes:.1f} min)"
                head += f"; {size}² images, {a.steps} steps, {a.images} test images.\n\n"
                notes = "".join(f"\n- skipped: {s}" for s in skipped)
                grids = "\n\nSearched (every combination, on the train images, by mean val PSNR):\n"
                grids += search_description(methods)
                (a.out / "zoo.md").write_text(head + markdown(results) + notes + grids + "\n")
                (a.out / "zoo.json").write_text(json.dumps(to_json(results), indent=1))
                figure(results).savefig(a.out / "zoo.png")
    print((a.out / "zoo.md").read_text())


if __name__ == "__main__":
    main()
