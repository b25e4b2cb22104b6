"""Reading finished runs back from their run directories, and figures that compare them.

Works on files alone (.hydra/config.yaml, .hydra/overrides.yaml, metrics.json, history.json,
prediction.png, progress.gif), so no W&B server is needed to compare runs. Runs are described by
what the user typed: the command-line overrides that differ between them.
"""

from __future__ import annotations

import csv
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf

from nfields.core.media import montage

IGNORED_PREFIXES = ("hydra.", "hydra/")  # Hydra's own settings (sweep dir, launcher, ...) describe no run
IGNORED_KEYS = ("hydra", "run_dir")


@dataclass
class Run:
    dir: Path
    config: DictConfig
    overrides: list[str]  # as typed, from .hydra/overrides.yaml ("encoding=fourier", "+x=1", "~y")
    metrics: dict[str, float] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)  # config group -> chosen option
    member: int | None = None  # a member of a many-fields run (model=many): its id in members.csv

    @property
    def name(self) -> str:
        """The run's directory name; a member's is "<dir>/member <id>"."""
        return self.dir.name if self.member is None else f"{self.dir.name}/member {self.member}"

    @property
    def prediction(self) -> Path:
        """Its rendered prediction: prediction.png, or a member's members/<id>.png."""
        return self.dir / "prediction.png" if self.member is None else self.dir / "members" / f"{self.member}.png"

    @property
    def typed(self) -> dict[str, tuple[str, str]]:
        """Override key -> (value, the override as typed), e.g. "encoding" -> ("fourier", "encoding=fourier")."""
        out = {}
        for o in self.overrides:
            key, eq, value = o.lstrip("+~").partition("=")
            if key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES):
                continue
            out[key] = (value if eq else "~", o)  # "~key" (no "="): the key was deleted
        return out


def load_run(run_dir: str | Path) -> Run:
    d = Path(run_dir)
    cfg_path = d / ".hydra" / "config.yaml"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{d} is not an nfields run directory (no .hydra/config.yaml)")
    over_path = d / ".hydra" / "overrides.yaml"
    overrides = list(OmegaConf.load(over_path)) if over_path.exists() else []
    metrics_path = d / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    hydra_path = d / ".hydra" / "hydra.yaml"
    choices = {}
    if hydra_path.exists():
        raw = OmegaConf.to_container(OmegaConf.load(hydra_path).hydra.runtime.choices)
        choices = {k: str(v) for k, v in raw.items() if not k.startswith("hydra/")}
    return Run(d, OmegaConf.load(cfg_path), [str(o) for o in overrides], metrics, choices)


def find_runs(root: str | Path) -> list[Run]:
    """Every run under a multirun directory (or the single run at `root`), in job order; a many-fields run
    (model=many) counts as one run per member, so it reads like the multirun it replaces."""
    root = Path(root)
    dirs = sorted({p.parent.parent for p in root.glob("**/.hydra/config.yaml")}, key=_job_order)
    if not dirs:
        raise FileNotFoundError(f"no nfields runs under {root} (looked for */.hydra/config.yaml)")
    return [r for d in dirs for r in member_runs(load_run(d))]


MEMBER_SPEC = ("id", "image", "name", "seed", "lr")  # members.csv's columns before the swept keys


def member_runs(run: Run) -> list[Run]:
    """A many-fields run's members as runs of their own (members.csv), each typed as the single run it stands
    for: `data.index=<image>`, `seed=<seed>` and `<swept key>=<value>` instead of the members.* overrides."""
    path = run.dir / "members.csv"
    if not path.exists():
        return [run]
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [o for o in run.overrides if not o.lstrip("+~").startswith(("members.", "data.index="))]
    out = []
    for row in rows:
        swept = {k: v for k, v in row.items() if k not in MEMBER_SPEC and "/" not in k}
        typed = {"data.index": row["image"], "seed": row["seed"], **swept}
        config = OmegaConf.create(OmegaConf.to_container(run.config))
        for k, v in typed.items():
            OmegaConf.update(config, k, yaml_value(v), force_add=True)
        metrics = {k: float(v) for k, v in row.items() if "/" in k and v not in ("", None)}
        metrics.update({k: run.metrics[k] for k in ("step",) if k in run.metrics})  # the run's, shared
        overrides = kept + [f"{k}={v}" for k, v in typed.items()]
        out.append(Run(run.dir, config, overrides, metrics, run.choices, member=int(row["id"])))
    return out


def yaml_value(text: str) -> object:
    """A CSV cell as the number (or string) it stands for."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def run_value(run: Run, key: str) -> str:
    """What a run has for an override key: the value typed, else the config group's chosen option, else
    the config value ("-" where the run has none)."""
    if key in run.typed:
        return run.typed[key][0]
    if key in run.choices:
        return run.choices[key]
    value = OmegaConf.select(run.config, key, default="-", throw_on_resolution_failure=False)
    return "-" if value is None else str(value)


def differing_keys(runs: list[Run]) -> list[str]:
    """The override keys whose value differs between runs, in the order the user typed them
    (["encoding", "network"] for `-m encoding=none,fourier network=mlp,siren`). Keys derived from
    an override (model.scheduler._target_ from network=siren), keys typed alike for every run
    (debug=fast) and Hydra's own keys are not listed."""
    keys = list(dict.fromkeys(k for r in runs for k in r.typed))
    return [k for k in keys if len({run_value(r, k) for r in runs}) > 1]


def run_labels(runs: list[Run]) -> list[str]:
    """Each run as the overrides that set it apart ("encoding=fourier network=siren"); a single run by
    all its overrides; a run with no overrides by its directory name. Labels that would repeat get the
    directory name added."""
    keys = differing_keys(runs)
    labels = []
    for r in runs:
        typed = r.typed
        parts = [typed[k][1] for k in keys if k in typed] or ([o for _, o in typed.values()] if len(runs) == 1 else [])
        labels.append(" ".join(parts) or r.name)
    repeated = {lb for lb in labels if labels.count(lb) > 1}
    return [f"{lb} ({r.name})" if lb in repeated else lb for lb, r in zip(labels, runs, strict=True)]


def metric_text(run: Run, key: str = "test/psnr") -> str:
    """A caption line for a metric: "test/psnr 23.48 dB" (PSNR and SNR in dB; "test/psnr -" when the run has none)."""
    v = run.metrics.get(key)
    if v is None:
        return f"{key} -"
    return f"{key} {v:.2f} dB" if "snr" in key else f"{key} {v:.4g}"


def captioned_predictions(runs: list[Run], labels: list[str], key: str = "test/psnr") -> list[tuple[str, np.ndarray]]:
    """(label + newline + metric, prediction) for each run with a prediction.png; for media.montage."""
    return [
        (f"{label}\n{metric_text(r, key)}", iio.imread(r.prediction))
        for r, label in zip(runs, labels, strict=True)
        if r.prediction.exists()
    ]


def history(run: Run, key: str = "val/psnr") -> list[tuple[int, float]]:
    """(step, value) of every validation (val/*) or logged training step (train/*, every
    trainer.log_every_n_steps): from history.json (written whatever the loggers), else from the CSV logger's
    csv/metrics.csv; [] when the run has neither."""
    if run.member is not None:  # a many-fields member: its column of members_history.json
        path = run.dir / "members_history.json"
        rows = json.loads(path.read_text()).get("val", []) if path.exists() else []
        points = [(int(r["step"]), r["members"][run.member].get(key)) for r in rows if len(r["members"]) > run.member]
        return [(s, float(v)) for s, v in points if v is not None]
    path = run.dir / "history.json"
    rows = json.loads(path.read_text()).get(key.split("/")[0], []) if path.exists() else []
    if rows:  # "val" rows, or "train" ones (runs before the training rows were kept have none: the CSV next)
        return [(int(r["step"]), float(r[key])) for r in rows if r.get(key) is not None]
    path = run.dir / "csv" / "metrics.csv"
    if path.exists():
        with path.open(newline="") as f:
            return [(int(r["step"]), float(r[key])) for r in csv.DictReader(f) if r.get(key)]
    return []


def curves_figure(runs: list[Run], labels: list[str], key: str = "val/psnr") -> Figure:
    """`key` against step for every run, and for a val/* key the same train/* curve as a thin line of the
    run's colour (logged every trainer.log_every_n_steps: the curve a short run has, with one validation or
    two); the legend (best final value first) lies below the axes, in as many columns as the labels allow,
    so it never covers a curve."""
    train_key = "train/" + key.split("/", 1)[1] if key.startswith("val/") else None
    series = [(label, history(r, key), r) for r, label in zip(runs, labels, strict=True)]
    series = sorted([s for s in series if s[1]], key=lambda s: -s[1][-1][1])  # best final value first
    trains = [history(r, train_key) if train_key else [] for _, _, r in series]
    series = [(label, points) for label, points, _ in series]
    unit = " dB" if "snr" in key else ""
    nbsp = "\N{NO-BREAK SPACE}"  # keeps "(23.48 dB)" on one line when a label wraps
    names = [f"{label}  ({points[-1][1]:.2f}{unit})".replace(" dB)", nbsp + "dB)") for label, points in series]
    width = min(max((len(n) for n in names), default=10), 100)  # about a row of the legend at fontsize 8
    names = [textwrap.fill(n, width, break_on_hyphens=False) for n in names]
    ncol = max(1, min(len(names), 110 // (width + 6)))
    rows = -(-len(names) // ncol)
    lines = rows * max((n.count("\n") + 1 for n in names), default=1)
    fig = Figure(figsize=(7.5, 4.2 + 0.2 * lines), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    for i, ((_, points), name) in enumerate(zip(series, names, strict=True)):
        steps, values = zip(*points, strict=True)
        style = ("-", "--", ":")[i // 10 % 3]  # ten colours, then the next ten dashed
        marker = "o" if len(points) <= 30 else None
        ax.plot(steps, values, color=f"C{i % 10}", linestyle=style, marker=marker, ms=3, label=name)
        if trains[i]:
            t_steps, t_values = zip(*trains[i], strict=True)
            ax.plot(t_steps, t_values, color=f"C{i % 10}", linestyle=style, lw=0.8, alpha=0.5, gid=train_key)
    ax.set_xlabel("step")
    shown = key + (f", thin: {train_key}" if any(trains) else "")
    ax.set_ylabel(shown + (" (dB)" if unit else ""))
    ax.grid(alpha=0.3)
    if series:
        fig.legend(loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, f"no {key} history in these runs", ha="center", va="center", transform=ax.transAxes)
    return fig


FIRST = ("test/psnr", "test/ssim")  # then the domain's own test scores (test/snr, test/iou, ...), then LAST
LAST = ("val/psnr", "perf/steps_per_s", "step")


def metric_columns(runs: list[Run]) -> list[str]:
    """The metrics a table of these runs shows: test/psnr, then every metric any of them logged of test/ssim,
    the other test/* scores (audio's test/snr, occupancy's test/iou, in name order), val/psnr, steps/s and step.
    A domain without SSIM (audio, volumes) gets no SSIM column."""
    logged = {k for r in runs for k in r.metrics}
    tests = sorted(k for k in logged if k.startswith("test/") and k not in FIRST)
    return ["test/psnr", *[k for k in (*FIRST[1:], *tests, *LAST) if k in logged]]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def _job_order(d: Path) -> tuple:
    return (0, int(d.name), "") if d.name.isdigit() else (1, 0, str(d))


def gif_side_by_side(items: list[tuple[str, Path]], out: Path, height: int = 256, fps: int = 10) -> Path:
    """Several progress GIFs played in step, side by side, each captioned, as one GIF."""
    clips = [(text, iio.imread(p, index=None)) for text, p in items]  # each (T, H, W, 3|4)
    n = max(len(frames) for _, frames in clips)
    out_frames = []
    for t in range(n):  # shorter clips hold their last frame
        out_frames.append(montage([(text, frames[min(t, len(frames) - 1)]) for text, frames in clips], height))
    iio.imwrite(out, np.stack(out_frames), duration=1000 / fps, loop=0)
    return out
