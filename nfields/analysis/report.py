"""Reading finished runs back from their run directories, and figures that compare them.

Works on files alone (.hydra/config.yaml, metrics.json, prediction.png,
progress.gif), so no W&B server is needed to compare runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from omegaconf import DictConfig, OmegaConf

from nfields.core.media import montage


@dataclass
class Run:
    dir: Path
    config: DictConfig
    overrides: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)  # config group -> chosen option

    @property
    def label(self) -> str:
        """The run's command-line overrides, or its directory name when it has none."""
        return " ".join(self.overrides) or self.dir.name


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
    """Every run under a multirun directory (or the single run at `root`), in job order."""
    root = Path(root)
    dirs = sorted({p.parent.parent for p in root.glob("**/.hydra/config.yaml")}, key=_job_order)
    if not dirs:
        raise FileNotFoundError(f"no nfields runs under {root} (looked for */.hydra/config.yaml)")
    return [load_run(d) for d in dirs]


IGNORED_KEYS = ("run_dir", "hydra")


def flatten(node: object, prefix: str = "") -> dict[str, object]:
    """Nested dicts -> {"a.b.c": value}."""
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def differing_keys(runs: list[Run]) -> list[str]:
    """What differs between runs: config groups whose chosen option differs ("encoding"), then config
    keys whose values differ ("encoding.sigma"), leaving out keys inside groups already listed."""
    from omegaconf import OmegaConf

    groups = sorted({g for r in runs for g in r.choices})
    diff_groups = [g for g in groups if len({r.choices.get(g) for r in runs}) > 1]
    flat = [flatten(OmegaConf.to_container(r.config, resolve=False)) for r in runs]
    keys = sorted({k for f in flat for k in f})
    skip = (*IGNORED_KEYS, *(f"{g}." for g in diff_groups))
    return diff_groups + [k for k in keys if not k.startswith(skip) and len({repr(f.get(k)) for f in flat}) > 1]


def run_value(run: Run, key: str) -> str:
    """A config group's chosen option, or a config key's value ("-" where the run has none)."""
    if key in run.choices:
        return run.choices[key]
    from omegaconf import OmegaConf

    return str(OmegaConf.select(run.config, key, default="-"))


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
