"""The Fourier-features Table 1 (Tancik et al. 2020) from a finished multirun: ffn_table.md and ffn_table.png.

`python train.py experiment=ffn_div2k data.root=...` runs one job per (encoding, image); at the end
the Hydra callback below groups the jobs by encoding, takes the mean and standard deviation of
test/psnr over the images (numpy's std, ddof 0, as the paper's notebook), writes each cell beside
the paper's value and the difference, draws the bar chart with error bars, and logs both to W&B
(offline unless a login exists). A run that is not the paper's protocol (another image size, step
count or number of images) is called "reduced" in every output, so it is never mistaken for it.
`combined` is scripts/ffn_table.py's table of both sets, with the hand-written reference beside nfields.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: figures go to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import wandb  # noqa: E402
from hydra.experimental.callback import Callback  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from nfields.analysis.report import Run, find_runs  # noqa: E402

log = logging.getLogger("nfields")
ENCODINGS = ("none", "basic", "positional", "fourier")
PAPER_STEPS, PAPER_SIZE, PAPER_IMAGES = 2000, 512, 16


def cells(runs: list[Run]) -> dict[str, list[float]]:
    """encoding -> test PSNRs of its finished runs, in job order."""
    out: dict[str, list[float]] = {e: [] for e in ENCODINGS}
    for r in runs:
        enc, psnr = r.choices.get("encoding"), r.metrics.get("test/psnr")
        if enc in out and psnr is not None:
            out[enc].append(float(psnr))
    return out


def protocol_of(runs: list[Run]) -> dict[str, Any]:
    """The settings every run shared (from the first run's config) and whether they are the paper's."""
    c = runs[0].config
    size = OmegaConf.select(c, "data.size")
    n = max(len(v) for v in cells(runs).values())
    steps = int(OmegaConf.select(c, "trainer.max_steps"))
    full = (size in (None, PAPER_SIZE)) and steps == PAPER_STEPS and n == PAPER_IMAGES
    proto = OmegaConf.to_container(c.protocol, resolve=True) if "protocol" in c else {}
    return {**proto, "size": size or PAPER_SIZE, "steps": steps, "images": n, "mode": "paper" if full else "reduced"}


def table(runs: list[Run]) -> tuple[str, dict[str, Any]]:
    """(markdown, the same numbers as a dict) for one set's multirun."""
    p, psnrs = protocol_of(runs), cells(runs)
    paper, paper_std = p.get("paper", {}), p.get("paper_std", {})
    what = "the paper's protocol" if p["mode"] == "paper" else "REDUCED protocol, not the paper's"
    lines = [
        f"Tancik et al. 2020, Table 1, set {p.get('name', '?')}: {what}: {p['size']}² images, {p['steps']} steps, "
        f"{p['images']} images of split {runs[0].config.data.split}; test PSNR (dB) on the odd grid, mean ± std.",
        f"Hyperparameters: lr {p.get('lr')}, positional scale {p.get('scale')}, Gaussian sigma {p.get('sigma')}.",
        "",
        "| encoding | nfields | paper | difference |",
        "|---|---|---|---|",
    ]
    result: dict[str, Any] = {"protocol": p, "cells": {}}
    for e in ENCODINGS:
        v = psnrs[e]
        if not v:
            lines.append(f"| {e} | - | {paper.get(e, '-')} | - |")
            continue
        mean, std = float(np.mean(v)), float(np.std(v))
        ref = paper.get(e)
        diff = f"{mean - ref:+.2f}" if ref is not None else "-"
        shown = f"{ref:.2f} ± {paper_std.get(e, float('nan')):.2f}" if ref is not None else "-"
        lines.append(f"| {e} | {mean:.2f} ± {std:.2f} (n={len(v)}) | {shown} | {diff} |")
        result["cells"][e] = {"mean": mean, "std": std, "psnr": v}
    means = [result["cells"].get(e, {}).get("mean", float("nan")) for e in ENCODINGS]
    holds = bool(np.all(np.diff(means) > 0))
    lines += ["", f"Ordering none < basic < positional < Gaussian: {'holds' if holds else 'does NOT hold'}."]
    result["ordering_holds"] = holds
    return "\n".join(lines) + "\n", result


def bar_chart(result: dict[str, Any], path: Path) -> Path:
    """nfields' mean ± std beside the paper's, per encoding (the paper's figure style)."""
    p = result["protocol"]
    x = np.arange(len(ENCODINGS))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    ours = [result["cells"].get(e, {}) for e in ENCODINGS]
    means, stds = [c.get("mean", 0) for c in ours], [c.get("std", 0) for c in ours]
    ax.bar(x - 0.2, means, 0.4, yerr=stds, capsize=3, label=f"nfields ({p['mode']})")
    if p.get("paper"):
        paper = [p["paper"].get(e, 0) for e in ENCODINGS]
        paper_std = [p.get("paper_std", {}).get(e, 0) for e in ENCODINGS]
        ax.bar(
            x + 0.2,
            paper,
            0.4,
            yerr=paper_std,
            capsize=3,
            label=f"paper ({PAPER_SIZE}², {PAPER_STEPS} steps, {PAPER_IMAGES} images)",
            alpha=0.6,
        )
    ax.set_xticks(x, ["none", "basic", "positional", "Gaussian"])
    ax.set_ylabel("test PSNR (dB)")
    ax.set_title(f"{p.get('name', '')}: {p['size']}², {p['steps']} steps, {p['images']} images ({p['mode']})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write(multirun_dir: str | Path) -> tuple[Path, Path, dict[str, Any]]:
    d = Path(multirun_dir)
    md, result = table(find_runs(d))
    (d / "ffn_table.md").write_text(md)
    (d / "ffn_table.json").write_text(json.dumps(result, indent=1))
    return d / "ffn_table.md", bar_chart(result, d / "ffn_table.png"), result


def log_to_wandb(md_path: Path, png: Path, result: dict[str, Any], mode: str) -> None:
    """One W&B run holding the table and the figure (offline when there is no login)."""
    p = result["protocol"]
    name = f"ffn_table-{p.get('name')}-{p['mode']}"
    run = wandb.init(
        project="nfields",
        name=name,
        mode=mode,
        dir=str(md_path.parent),
        config=p,
        job_type="ffn_table",
        settings=wandb.Settings(silent=True),
    )
    rows = [[e, c["mean"], c["std"], p.get("paper", {}).get(e)] for e, c in result["cells"].items()]
    table = wandb.Table(columns=["encoding", "mean", "std", "paper"], data=rows)
    run.log({"ffn_table": table, "ffn_table_png": wandb.Image(str(png))})
    run.finish()


class FFNTable(Callback):
    """Writes ffn_table.md/.png/.json in the multirun directory when the sweep ends."""

    def __init__(self, wandb_mode: str | None = "auto") -> None:
        self.wandb_mode = wandb_mode  # auto: $WANDB_MODE, else offline (syncable later with `wandb sync`)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        md, png, result = write(config.hydra.sweep.dir)
        mode = os.environ.get("WANDB_MODE", "offline") if self.wandb_mode == "auto" else self.wandb_mode
        if mode and mode != "disabled":
            log_to_wandb(md, png, result, mode)
        print(f"{md.read_text()}\ntable: {md}\nfigure: {png}")


def search_table(runs: list[Run], key: str) -> tuple[str, dict[str, Any]]:
    """The hyperparameter search on the train split: mean test/psnr (odd grid of the train images) per value."""
    by: dict[float, list[float]] = {}
    for r in runs:
        value, psnr = OmegaConf.select(r.config, key), r.metrics.get("test/psnr")
        if value is not None and psnr is not None:
            by.setdefault(float(value), []).append(float(psnr))
    if not by:
        raise ValueError(f"no finished runs with {key} and test/psnr")
    p = protocol_of(runs)
    best = max(by, key=lambda v: np.mean(by[v]))
    lines = [
        f"Search of {key} on split {runs[0].config.data.split}, set {p.get('name', '?')} ({p['mode']}: {p['size']}², "
        f"{p['steps']} steps): mean test PSNR (dB) over the images' odd grids.",
        "",
        f"| {key} | mean PSNR | images |",
        "|---|---|---|",
    ]
    lines += [f"| {v:g}{' (best)' if v == best else ''} | {np.mean(by[v]):.2f} | {len(by[v])} |" for v in sorted(by)]
    lines += ["", f"Best: {key}={best:g}"]
    return "\n".join(lines) + "\n", {"key": key, "best": best, "mean": {str(v): float(np.mean(by[v])) for v in by}}


class FFNSearch(Callback):
    """Writes ffn_search.md/.json (the best value of `key`) in the multirun directory when the sweep ends."""

    def __init__(self, key: str) -> None:
        self.key = key

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        d = Path(config.hydra.sweep.dir)
        md, result = search_table(find_runs(d), self.key)
        (d / "ffn_search.md").write_text(md)
        (d / "ffn_search.json").write_text(json.dumps(result, indent=1))
        print(f"{md}\nsearch: {d / 'ffn_search.md'}")


def combined(results: dict[str, dict], refs: dict[str, dict], seconds: float, command: str) -> str:
    """scripts/ffn_table.py's ffn_table.md: per set, each encoding's nfields cell (ffn_table.json's `results`)
    beside the hand-written reference's (`refs`), their difference and the paper's value."""
    lines = [f"Command: `{command}` ({seconds / 60:.1f} min)", ""]
    for s, r in results.items():
        p = r["protocol"]
        lines += [f"**{s}** ({p['mode']}: {p['size']}², {p['steps']} steps, {p['images']} test images; "
                  f"lr {p['lr']}, scale {p['scale']}, sigma {p['sigma']})", ""]  # fmt: skip
        lines += ["| encoding | nfields | hand-written | nfields - hand-written | paper |", "|---|---|---|---|---|"]
        for e in ENCODINGS:
            ours, ref = r["cells"].get(e), refs.get(s, {}).get(e)
            diff = f"{ours['mean'] - ref['mean']:+.2f}" if ours and ref else "-"
            cell = lambda c: f"{c['mean']:.2f} ± {c['std']:.2f}" if c else "-"  # noqa: E731
            lines.append(f"| {e} | {cell(ours)} | {cell(ref)} | {diff} | {p.get('paper', {}).get(e, '-')} |")
        verdict = "holds" if r["ordering_holds"] else "does NOT hold"
        lines += ["", f"Ordering none < basic < positional < Gaussian: {verdict}.", ""]
    return "\n".join(lines)
