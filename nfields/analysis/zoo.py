"""The representation zoo's methods, and its table and figure from finished runs (scripts/zoo.py runs them).

Every method is a set of overrides on experiment=zoo plus a grid of the hyperparameters its search may choose
(every combination, trained at once as the members of one model=many run on the train images, selected by the
mean validation PSNR); the budget sizes it (budget.params). Each method's run is a model=many
run whose members are the set's images, so one run gives the mean and std over images.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

TARGET_DB = 30.0  # "training time to 30 dB"


@dataclass(frozen=True)
class Method:
    over: list[str]
    grid: dict[str, list[float]]  # key -> the values searched; the search is every combination of them
    source: str
    depth: str  # whose depth the method runs at, and why
    stacks: bool = True  # members vectorised in chunks (members.chunk); False: one by one (field=gaussians)
    dims: tuple[int, ...] = ()  # the coordinate widths d it is defined for (field=gaussians: 2); (): any


LR = "model.lr"
# Protocol depth: FINER's image protocol (train_image.py, hidden_layers=3: four activation layers of 256), which ran
# SIREN, WIRE, Gauss, FINER and a positional-encoding ReLU MLP alike; configs/experiment/zoo.yaml sets 4 for all of
# them. The grids are 3 x 3 (lr x bandwidth), log-spaced around each protocol's own values (FINER's lr, 0.5 decade
# apart; the bandwidth a factor 2 apart); the bandwidth parameter is the one that sets the
# first layer's frequencies: sigma of Fourier features, the first layer's w0 of SIREN and FINER, omega_0 of WIRE
# (s_0 stays at the protocol's 10) and s of Gauss. The grids' and the hash grid's bandwidth is their resolution,
# which the budget sets; the Gaussians' is their count (the budget), so only their lr is searched.
METHODS: dict[str, Method] = {
    "relu+fourier": Method(
        ["encoding=fourier", "network=mlp"], {LR: [3e-4, 1e-3, 3e-3], "encoding.sigma": [3.0, 6.0, 12.0]},
        "Tancik 2020", "FINER's protocol (4 x width)",
    ),
    "siren": Method(
        ["network=siren"], {LR: [1.6e-4, 5e-4, 1.6e-3], "network.w0_initial": [15.0, 30.0, 60.0]},
        "Sitzmann 2020", "FINER's protocol (4 x width)",
    ),
    "wire": Method(
        ["network=wire"], {LR: [1.6e-3, 5e-3, 1.6e-2], "network.omega_0": [10.0, 20.0, 40.0]},
        "Saragadam 2023", "FINER's protocol (4 x width); WIRE's own scripts use 3",
    ),
    "gauss": Method(
        ["network=gauss"], {LR: [1.6e-3, 5e-3, 1.6e-2], "network.s": [7.5, 15.0, 30.0]},
        "Ramasinghe 2022", "FINER's protocol (4 x width)",
    ),
    "finer": Method(
        ["network=finer"], {LR: [1.6e-4, 5e-4, 1.6e-3], "network.w0_initial": [15.0, 30.0, 60.0]},
        "Liu 2024", "FINER's protocol (4 x width)",
    ),
    "hashgrid": Method(
        ["encoding=hashgrid", "network=mlp", "network.n_neurons=64", "network.n_hidden_layers=2"],
        {LR: [3e-3, 1e-2, 3e-2]}, "Mueller 2022", "Instant-NGP's 2 x 64 MLP",
    ),
    "grid": Method(
        ["encoding=grid", "network=linear"], {LR: [0.1, 0.3, 1.0]}, "INR benchmark 2025", "no hidden layer",
    ),
    "gaussians": Method(
        ["field=gaussians"], {LR: [1e-2, 3e-2, 1e-1]}, "Zhang 2024", "no network", stacks=False, dims=(2,),
    ),
}  # fmt: skip


def grid_overrides(method: Method) -> list[str]:
    """The method's search as model=many sweep overrides: every combination of its grid is a member of one run."""
    return [f"++members.sweep.{k}=[{','.join(f'{v:g}' for v in vs)}]" for k, vs in method.grid.items()]


def centred(method: Method) -> Method:
    """The method with each searched key at its grid's middle value: one point, no search (quick looks, tests)."""
    return replace(method, grid={k: [vs[len(vs) // 2]] for k, vs in method.grid.items()})


def best_of_grid(rows: list[dict[str, str]], method: Method, metric: str = "val/psnr") -> tuple[dict, list[dict]]:
    """members.csv rows of a grid run -> (the grid point with the highest mean `metric` over its images, every
    point's mean). A diverged member (NaN or missing) scores -inf, so its point loses."""
    keys = list(method.grid)
    points: dict[tuple[float, ...], list[float]] = {}
    for r in rows:
        v = float(r.get(metric) or "nan")
        points.setdefault(tuple(float(r[k]) for k in keys), []).append(v if math.isfinite(v) else -math.inf)
    scores = [{**dict(zip(keys, p, strict=True)), metric: float(np.mean(v))} for p, v in points.items()]
    best = max(scores, key=lambda s: s[metric])
    return {k: best[k] for k in keys}, scores


def on_edge(best: dict[str, float], method: Method) -> list[str]:
    """The keys whose chosen value is the grid's smallest or largest (the optimum may lie outside the grid)."""
    return [k for k, v in best.items() if len(method.grid[k]) > 2 and v in (min(method.grid[k]), max(method.grid[k]))]


def search_description(methods: list[str]) -> str:
    """What each method's search was, for the table's notes."""
    lines = []
    for name in methods:
        m = METHODS[name]
        grid = " x ".join(f"{k.split('.')[-1]} {{{', '.join(f'{v:g}' for v in vs)}}}" for k, vs in m.grid.items())
        lines.append(f"- {name} ({m.source}; depth: {m.depth}): {grid}")
    return "\n".join(lines)


@dataclass
class Result:
    method: str
    budget: int
    task: str
    params: float  # trainable parameters per field
    psnr: list[float]  # test PSNR per image
    ssim: list[float]
    steps_per_s: float
    curve: list[tuple[float, float]]  # (training seconds, mean val/psnr)
    render_s: float | None = None  # seconds to render a 512^2 image (other domains: a reported signal's grid)
    best: dict[str, float] = field(default_factory=dict)  # the searched hyperparameters
    grid: list[dict[str, float]] = field(default_factory=list)  # every grid point's mean val PSNR on train images
    scores: dict[str, list[float]] = field(default_factory=dict)  # the domain's own test scores per signal (snr, iou)

    @property
    def time_to_target(self) -> float | None:
        return next((t for t, p in self.curve if p >= TARGET_DB), None)


def read_result(run_dir: Path, method: str, budget: int, task: str, params: float) -> Result:
    """A finished model=many run -> its Result (members.csv, members_history.json, metrics.json)."""
    with (run_dir / "members.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rate = float(metrics.get("perf/steps_per_s") or float("nan"))
    hist = json.loads((run_dir / "members_history.json").read_text())["val"]
    curve = [(h["step"] / rate, float(np.mean([m["val/psnr"] for m in h["members"]]))) for h in hist if h["members"]]
    return Result(
        method, budget, task, params, [float(r["test/psnr"]) for r in rows], [float(r["test/ssim"]) for r in rows],
        rate, curve,
    )  # fmt: skip


# the domains' own scores beside PSNR and SSIM (core/metrics): column name, decimals
SCORE_NAMES = {"snr": ("SNR (dB)", 2), "iou": ("IoU", 3)}


def markdown(results: list[Result], render: str = "render 512²") -> str:
    """One row per (task, budget, method), best test PSNR first; an SSIM column where the domain has SSIM (images,
    video frames) and one per domain score (audio's SNR, occupancy's IoU), each mean ± std over the signals."""
    ssim = any(r.ssim for r in results)
    scores = sorted({k for r in results for k in r.scores})
    head = ["task", "budget", "method", "params", "test PSNR (dB)", *(["SSIM"] if ssim else [])]
    head += [SCORE_NAMES.get(k, (k, 3))[0] for k in scores] + ["steps/s", "to 30 dB", render, "searched"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = sorted(results, key=lambda r: (r.task, r.budget, -float(np.mean(r.psnr))))
    for r in order:
        t = r.time_to_target
        edge = on_edge(r.best, METHODS[r.method]) if r.method in METHODS else []
        best = ", ".join(f"{k.split('.')[-1]} {v:.3g}{' (edge)' if k in edge else ''}" for k, v in r.best.items())
        cells = [r.task, f"{r.budget:,}", r.method, f"{r.params:,.0f}", spread(r.psnr, 2)]
        cells += ([spread(r.ssim, 3)] if ssim else []) + [
            spread(r.scores.get(k, []), SCORE_NAMES.get(k, (k, 3))[1]) for k in scores
        ]
        cells += [f"{r.steps_per_s:.1f}", "not reached" if t is None else f"{t:.1f} s"]
        cells += ["-" if r.render_s is None else f"{r.render_s * 1e3:.0f} ms", best]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def spread(values: list[float], digits: int) -> str:
    """'mean ± std' over signals; '-' where the domain has no such score."""
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}" if values else "-"


def figure(results: list[Result]) -> Figure:
    """Mean validation PSNR against training time, one panel per (task, budget), every method a curve."""
    panels = sorted({(r.task, r.budget) for r in results})
    fig = Figure(figsize=(4.2 * len(panels), 3.6), dpi=120, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    names = list(METHODS)
    for ax, (task, budget) in zip(axes, panels, strict=True):
        for r in results:
            if (r.task, r.budget) == (task, budget) and r.curve:
                t, p = zip(*r.curve, strict=True)
                ax.plot(t, p, marker="o", ms=3, color=f"C{names.index(r.method) % 10}", label=r.method)
        ax.axhline(TARGET_DB, color="0.6", lw=0.8, ls="--")
        ax.set_title(f"task={task}, {budget:,} params", fontsize=9)
        ax.set_xlabel("training time (s)")
        ax.set_ylabel("val PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def to_json(results: list[Result]) -> list[dict[str, Any]]:
    return [{**r.__dict__, "time_to_target": r.time_to_target} for r in results]


def from_json(rows: list[dict[str, Any]]) -> list[Result]:
    """zoo.json back to Results (scripts/zoo.py --resume)."""
    out = []
    for row in rows:
        r = {k: v for k, v in row.items() if k != "time_to_target"}
        out.append(Result(**{**r, "curve": [tuple(p) for p in r["curve"]]}))
    return out
