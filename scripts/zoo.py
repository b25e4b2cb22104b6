"""The representation zoo: every representation, at equal parameter budgets, tuned on train, reported on test.

    python scripts/zoo.py --root /path/to/ffn/div2k                          # reduced CPU mode (the defaults)
    python scripts/zoo.py --root /path/to/ffn/div2k --size 512 --steps 5000 --images 16 \\
        --budgets 200000,800000 trainer=gpu                                   # the full protocols (a GPU)
    python scripts/zoo.py --domain audio                                      # the generated chirp, cut in 8 crops
    python scripts/zoo.py --domain audio --path gt_bach.wav --images 2        # crops of a WAV
    python scripts/zoo.py --domain volume --path dragon.npy --size 64         # slabs of a volume
    python scripts/zoo.py --domain video --root clips/                        # clips/train/*, clips/test/*

For each task (fit: every pixel observed, the FINER protocol; interpolate: Tancik et al.'s even/odd
grid), each budget (budget.params) and each method of nfields/analysis/zoo.py: a grid search of its
learning rate and bandwidth parameter (every combination x the first --images *train* images are the
members of one model=many run; the point with the best mean val PSNR wins; a point at the grid's edge is
marked), then one run with the best values on the *test* images. Writes
zoo.md (PSNR and SSIM mean ± std over images, parameters, steps/s, training time to 30 dB, render time
of a 512² image, the chosen values), zoo.json and zoo.png (mean val PSNR against training time) into --out.

--domain audio|video|volume: the same protocol on signals of that domain (nfields/analysis/zoo_signals.py):
the train/ and test/ files of --root, else 2 x --images pieces cut from --path (or the domain's generated
default) along its first axis (audio crops, video frame ranges, volume slabs), the even ones searched on and
the odd ones reported. Each grid point and signal is one model=single run; the table adds the domain's own
score (audio's SNR, occupancy's IoU; SSIM per frame for video) and the time to render a reported signal's
grid. field=gaussians is 2-D only: on other domains it is left out, and the notes say so.
This script is the command line and the run loop; the methods, their grids, the table and the figure are
nfields/analysis/zoo.py's.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from itertools import product
from pathlib import Path

from nfields.analysis.zoo import (
    METHODS,
    Method,
    Result,
    best_of_grid,
    centred,
    figure,
    from_json,
    grid_overrides,
    markdown,
    on_edge,
    read_result,
    search_description,
    to_json,
)
from nfields.analysis.zoo_signals import DIMS, Signal, read_runs, signals
from nfields.core.errors import ConfigError, TrainingStopped, UserError
from nfields.fields.field import render, render_grid
from nfields.run.build import load_checkpoint
from nfields.run.compose import compose_run_config
from nfields.run.train import train


def method_of(a: argparse.Namespace, name: str) -> Method:
    """The method as --grid asks: its whole grid, or each key at the grid's middle value (one point)."""
    return centred(METHODS[name]) if a.grid == "centre" else METHODS[name]


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
    method = method_of(a, name)
    run(a, method, task, budget, "train", {}, out, grid_overrides(method))
    with (out / "members.csv").open(newline="") as f:
        best, scores = best_of_grid(list(csv.DictReader(f)), method)
    edge = on_edge(best, method)
    note = f" (at the grid's edge: {', '.join(edge)})" if edge else ""
    top = max(s["val/psnr"] for s in scores)
    print(f"[zoo] {task} {budget} {name}: best train val PSNR {top:.2f} with {best}{note}", flush=True)
    return best, scores


def run_single(
    a: argparse.Namespace, method: Method, task: str, budget: int, signal: Signal, values: dict, out: Path
) -> dict:
    """One model=single run of `method` on one signal of another domain -> its metrics.json."""
    over = ["experiment=zoo", "model=single", *signal.over, f"task={task}", f"budget.params={budget}"]
    over += [f"trainer.max_steps={a.steps}", f"log.val_every_n_steps={max(1, a.steps // 10)}"]
    over += method.over + [f"{k}={v:.6g}" for k, v in values.items()]
    train(compose_run_config([*over, *a.overrides], out))
    return json.loads((out / "metrics.json").read_text())


def search_signals(
    a: argparse.Namespace, name: str, task: str, budget: int, tune: list[Signal], out: Path
) -> tuple[dict[str, float], list]:
    """The method's grid, every point a model=single run on each tuning signal; -> (the point with the best mean
    val PSNR over the signals, every point's mean). A run that diverges scores -inf."""
    method = method_of(a, name)
    rows = []
    for i, point in enumerate(product(*method.grid.values())):
        values = dict(zip(method.grid, point, strict=True))
        for j, signal in enumerate(tune):
            try:
                psnr = run_single(a, method, task, budget, signal, values, out / f"{i}-{j}")["val/psnr"]
            except TrainingStopped:
                psnr = float("nan")
            rows.append({**values, "val/psnr": str(psnr)})
    best, scores = best_of_grid(rows, method)
    edge = on_edge(best, method)
    note = f" (at the grid's edge: {', '.join(edge)})" if edge else ""
    top = max(s["val/psnr"] for s in scores)
    print(f"[zoo] {task} {budget} {name}: best tuning val PSNR {top:.2f} with {best}{note}", flush=True)
    return best, scores


def report_signals(
    a: argparse.Namespace, name: str, task: str, budget: int, report: list[Signal], best: dict, out: Path
) -> Result:
    """The chosen point on every reported signal -> the method's Result, with the seconds to render the first
    reported signal's grid from its checkpoint."""
    dirs = [out / str(j) for j in range(len(report))]
    for signal, d in zip(report, dirs, strict=True):
        run_single(a, method_of(a, name), task, budget, signal, best, d)
    r = read_runs(dirs, name, budget, task)
    module = load_checkpoint(dirs[0] / "checkpoints" / "last.ckpt")
    shape = module.data.shape
    render_grid(module.field, (2,) * len(shape))  # warm-up
    t = time.perf_counter()
    render_grid(module.field, shape)
    r.render_s = time.perf_counter() - t
    return r


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
    ap.add_argument("--domain", default="image", choices=list(DIMS), help="the signals' domain (default image)")
    ap.add_argument("--root", type=Path, help="a set with train/ and test/ (e.g. ffn/div2k; required for images)")
    ap.add_argument("--path", help="audio, video, volume: the file cut into pieces (default: the generated signal)")
    ap.add_argument(
        "--size", type=int, help="data.size: image side (default 64; 0: 512), audio samples per crop, video frame "
        "side, volume side (default: as read)"
    )  # fmt: skip
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--images", type=int, default=4, help="the first N images (signals) of each split")
    ap.add_argument("--budgets", default="3000,12000", help="parameter budgets (comma-separated)")
    ap.add_argument("--tasks", default="fit,interpolate")
    ap.add_argument(
        "--chunk", type=int, default=16, help="members per vectorised step (members.chunk; 16: 10x the CPU default)"
    )
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument(
        "--grid", default="full", choices=["full", "centre"],
        help="full: search every combination; centre: each key at its grid's middle value (no search; quick looks)",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("multirun/zoo"))
    ap.add_argument("--resume", action="store_true", help="keep the results already in --out/zoo.json, run the rest")
    ap.add_argument("overrides", nargs="*", help="extra train.py overrides for every run, e.g. trainer=gpu")
    a = ap.parse_args()
    image = a.domain == "image"
    if image:
        a.size = 64 if a.size is None else (a.size or None)
    methods = [m for m in a.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        ap.error(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if image and (a.root is None or a.path):
        ap.error("--domain image: give --root (a set with train/ and test/); --path is for audio, video, volumes")
    if a.root is not None and not ((a.root / "train").is_dir() and (a.root / "test").is_dir()):
        ap.error(f"--root {a.root}: needs train/ and test/ folders (your copy of the set)")
    if a.root is not None and a.path:
        ap.error("--root and --path: give one (a set with train/ and test/, or one file to cut into pieces)")
    notes = []
    for name in [m for m in methods if METHODS[m].dims and DIMS[a.domain] not in METHODS[m].dims]:
        dims = " or ".join(f"{d}-D" for d in METHODS[name].dims)
        notes.append(
            f"left out: {name} ({' '.join(METHODS[name].over)} is {dims} only; {a.domain} is {DIMS[a.domain]}-D)"
        )
        print(f"[zoo] {notes[-1]}", flush=True)
        methods.remove(name)
    tune, report = [], []
    if not image:
        try:
            tune, report = signals(a.domain, a.images, a.out, a.path, a.root, a.size)
        except UserError as e:
            ap.error(str(e))
    t0, results = time.perf_counter(), []
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
                    if image:
                        best, scores = search(a, name, task, budget, where / "search")
                        run(a, method_of(a, name), task, budget, "test", best, where / "test")
                        seconds, params = render_seconds(where / "test" / "checkpoints" / "last.ckpt")
                        r: Result = read_result(where / "test", name, budget, task, params)
                        r.render_s = seconds
                    else:
                        best, scores = search_signals(a, name, task, budget, tune, where / "search")
                        r = report_signals(a, name, task, budget, report, best, where / "test")
                except (ConfigError, TrainingStopped) as e:  # e.g. a budget below the method's smallest field
                    print(f"[zoo] {task} {budget} {name}: skipped ({e})", flush=True)
                    notes.append(f"skipped: {task}, {budget:,} params, {name}: {e}")
                    continue
                r.best, r.grid = best, scores
                results.append(r)
                write(a, results, notes, methods, tune, report, (time.perf_counter() - t0) / 60)  # progress
    write(a, results, notes, methods, tune, report, (time.perf_counter() - t0) / 60)
    print((a.out / "zoo.md").read_text())


def write(
    a: argparse.Namespace,
    results: list[Result],
    notes: list[str],
    methods: list[str],
    tune: list,
    report: list,
    minutes: float,
) -> None:
    """zoo.md, zoo.json and zoo.png (when there are results) into --out."""
    a.out.mkdir(parents=True, exist_ok=True)
    head = f"Command: `python scripts/zoo.py {' '.join(sys.argv[1:])}` ({minutes:.1f} min)"
    if a.domain == "image":
        head += f"; {a.size or 512}² images, {a.steps} steps, {a.images} test images.\n\n"
        render = "render 512²"
    else:
        head += f"; {a.domain}, {a.steps} steps; tuned on {', '.join(s.name for s in tune)}; "
        head += f"reported on {', '.join(s.name for s in report)}; render: the first reported signal's grid.\n\n"
        render = "render"
    grids = f"\n\nSearched (every combination, on the {'train images' if a.domain == 'image' else 'tuning signals'}"
    grids += ", by mean val PSNR):\n" + search_description(methods)
    if a.grid == "centre":
        grids = "\n\nNot searched (--grid centre): each key at the middle value of its grid:\n" + search_description(
            methods
        )
    body = markdown(results, render) + "".join(f"\n- {n}" for n in notes)
    (a.out / "zoo.md").write_text(head + body + grids + "\n")
    (a.out / "zoo.json").write_text(json.dumps(to_json(results), indent=1))
    if results:
        figure(results).savefig(a.out / "zoo.png")


if __name__ == "__main__":
    main()
