"""The cond_compare table: test PSNR after test-time optimisation and parameter counts, per run of a multirun.

Written at the end of `python train.py experiment=cond_compare` by the Hydra callback below (cond_compare.md in
the multirun directory), and again from a finished multirun by scripts/cond_compare.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig

from nfields.analysis.report import Run, find_runs
from nfields.fields.base import n_params
from nfields.run.build import build_field

log = logging.getLogger("nfields")


NOT_NAMES = ("cond=", "experiment=", "logger=", "hydra.")


def cond_names(runs: list[Run]) -> list[str]:
    """'film' per run, plus the overrides that tell runs apart (ablations): 'film cond.scale=false'."""
    own = [[o for o in r.overrides if not o.startswith(NOT_NAMES)] for r in runs]
    common = set.intersection(*(set(o) for o in own)) if own else set()
    names = []
    for run, options in zip(runs, own, strict=True):
        name = next((o.split("=", 1)[1] for o in run.overrides if o.startswith("cond=")), None) or str(
            run.config.get("cond") and run.config.cond._target_.rsplit(".", 1)[-1]
        )
        names.append(" ".join([name, *(o for o in options if o not in common)]))
    return names


def param_counts(run: Run) -> tuple[int, int]:
    """(parameters of the shared field: network + conditioning, latent numbers per image), rebuilt from the config."""
    dm = instantiate(run.config.data)
    field = build_field(run.config, out_dim=dm.channels, own_code=False)
    return n_params(field), field.code_dim


def fmt(v: Any, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def cond_table(multirun_dir: str | Path) -> str:
    """A markdown table with one row per finished run of the multirun."""
    rows = [
        "| cond | latent | source | test PSNR after TTO (dB) | before TTO (dB) | field params | latent size / image "
        "| train steps | steps/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    runs = find_runs(multirun_dir)
    for r, name in zip(runs, cond_names(runs), strict=True):
        m, c = r.metrics, r.config
        n_params, code_dim = param_counts(r)
        latent = c.latent._target_.rsplit(".", 1)[-1].replace("Latent", "").lower()
        rows.append(
            f"| {name} | {latent} | {c.model.latent_source} | {fmt(m.get('test/psnr'))} "
            f"| {fmt(m.get('test/psnr_tto0'))} | {n_params:,} | {code_dim} | {m.get('step', 'n/a')} "
            f"| {fmt(m.get('perf/steps_per_s'), '.1f')} |"
        )
    return "\n".join(rows) + "\n"


def write_table(multirun_dir: str | Path, out: str | Path | None = None) -> Path:
    out = Path(out) if out else Path(multirun_dir) / "cond_compare.md"
    out.write_text(cond_table(multirun_dir))
    return out


class CondCompareTable(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = write_table(config.hydra.sweep.dir)
        log.info(f"cond_compare table: {path}")
        print(f"cond_compare table: {path}\n{path.read_text()}")
