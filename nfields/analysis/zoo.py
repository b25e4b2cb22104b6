"""The representation zoo's methods, and its table and figure from finished runs (scripts/zoo.py runs them).

Every method is a set of overrides on experiment=zoo plus the hyperparameters its search may choose
(Optuna, on the train images); the budget sizes it (budget.params). Each method's run is a model=many
run whose members are the set's images, so one run gives the mean and std over images.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

TARGET_DB = 30.0  # "training time to 30 dB"


@dataclass(frozen=True)
class Method:
    over: list[str]
    search: dict[str, tuple[float, float]]  # key -> (low, high), searched log-uniformly
    source: str


METHODS: dict[str, Method] = {
    "relu+fourier": Method(
        ["encoding=fourier", "network=mlp"], {"model.lr": (1e-4, 1e-2), "encoding.sigma": (1.0, 30.0)}, "Tancik 2020"
    ),
    "siren": Method(
        ["encoding=none", "network=siren", "~model.scheduler.T_max"],  # the zoo's decay, not siren.yaml's cosine
        {"model.lr": (1e-5, 1e-3), "network.w0": (5.0, 60.0)},
        "Sitzmann 2020",
    ),
    "wire": Method(
        ["encoding=none", "network=wire"],
        {"model.lr": (1e-4, 1e-2), "network.omega_0": (5.0, 40.0), "network.s_0": (2.0, 20.0)},
        "Saragadam 2023",
    ),
    "gauss": Method(
        ["encoding=none", "network=gauss"], {"model.lr": (1e-4, 1e-2), "network.s": (3.0, 30.0)}, "Ramasinghe 2022"
    ),
    "finer": Method(
        ["encoding=none", "network=finer"], {"model.lr": (1e-5, 1e-3), "network.w0": (5.0, 60.0)}, "Liu 2024"
    ),
    "hashgrid": Method(
        ["encoding=hashgrid", "network=mlp", "network.n_neurons=64", "network.n_hidden_layers=2"],  # Instant-NGP's
        {"model.lr": (1e-3, 1e-1)},
        "Mueller 2022",
    ),
    "grid": Method(["encoding=grid", "network=linear"], {"model.lr": (1e-2, 1.0)}, "INR benchmark 2025"),
    "gaussians": Method(["field=gaussians", "~model.scheduler.T_max"], {"model.lr": (1e-3, 1e-1)}, "Zhang 2024"),
}  # fmt: skip


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
    render_s: float | None = None  # seconds to render a 512^2 image
    best: dict[str, float] = field(default_factory=dict)  # the searched hyperparameters

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


def markdown(results: list[Result]) -> str:
    lines = [
        "| task | budget | method | params | test PSNR (dB) | SSIM | steps/s | to 30 dB | render 512² | searched |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(results, key=lambda r: (r.task, r.budget, -float(np.mean(r.psnr))))
    for r in order:
        t = r.time_to_target
        best = ", ".join(f"{k.split('.')[-1]} {v:.3g}" for k, v in r.best.items())
        render = "-" if r.render_s is None else f"{r.render_s * 1e3:.0f} ms"
        psnr, ssim = f"{np.mean(r.psnr):.2f} ± {np.std(r.psnr):.2f}", f"{np.mean(r.ssim):.3f} ± {np.std(r.ssim):.3f}"
        lines.append(
            f"| {r.task} | {r.budget:,} | {r.method} | {r.params:,.0f} | {psnr} | {ssim} | {r.steps_per_s:.1f} | "
            f"{'not reached' if t is None else f'{t:.1f} s'} | {render} | {best} |"
        )
    return "\n".join(lines) + "\n"


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
