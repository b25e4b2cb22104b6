"""Hydra callbacks that run once a multirun has finished (figures over all its jobs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import imageio.v3 as iio
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from nfields.analysis.report import captioned_predictions, find_runs, gif_side_by_side, run_labels
from nfields.core.media import montage, to_uint8
from nfields.run.build import build_datamodule

log = logging.getLogger("nfields")


def seed_demo_figure(multirun_dir: str | Path) -> tuple[Path, Path]:
    """ground truth | each run's reconstruction, captioned with its label (the overrides that differ, as
    compare.py labels runs) and test PSNR -> seed_demo.png; the progress GIFs in step -> seed_demo.gif."""
    root = Path(multirun_dir)
    runs = find_runs(root)
    labels = run_labels(runs)
    dm = build_datamodule(runs[0].config)  # the ground truth, rebuilt from the config
    items = [(f"ground truth\n{dm.spec}", to_uint8(dm.image)), *captioned_predictions(runs, labels)]
    png = root / "seed_demo.png"
    iio.imwrite(png, montage(items, height=256))
    gifs = [(label, r.dir / "progress.gif") for r, label in zip(runs, labels, strict=True)]
    gif = gif_side_by_side(gifs, root / "seed_demo.gif", height=256)
    return png, gif


class SeedDemoFigure(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        png, gif = seed_demo_figure(config.hydra.sweep.dir)
        log.info(f"seed demo: {png} and {gif}")
        print(f"seed demo figure: {png}\nseed demo animation: {gif}")
