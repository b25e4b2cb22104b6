"""Hydra callbacks that run once a multirun has finished (figures over all its jobs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import imageio.v3 as iio
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from nfields.analysis.report import find_runs, gif_side_by_side, montage
from nfields.core.media import to_uint8
from nfields.run.build import build_datamodule

log = logging.getLogger("nfields")


def seed_demo_figure(multirun_dir: str | Path) -> tuple[Path, Path]:
    """ground truth | each run's reconstruction with its PSNR -> seed_demo.png; GIFs in step -> seed_demo.gif."""
    root = Path(multirun_dir)
    runs = find_runs(root)
    dm = build_datamodule(runs[0].config)  # the ground truth, rebuilt from the config
    items = [(f"ground truth ({dm.spec})", to_uint8(dm.image))]
    gifs = []
    for r in runs:
        name = f"encoding={r.config.encoding._target_.rsplit('.', 1)[-1]}"
        name = next((o for o in r.overrides if o.startswith("encoding=")), name)
        psnr = r.metrics.get("test/psnr")
        items.append((f"{name}  {psnr:.2f} dB" if psnr is not None else name, iio.imread(r.dir / "prediction.png")))
        gifs.append((name, r.dir / "progress.gif"))
    png = root / "seed_demo.png"
    iio.imwrite(png, montage(items, height=256))
    gif = gif_side_by_side(gifs, root / "seed_demo.gif", height=256)
    return png, gif


class SeedDemoFigure(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        png, gif = seed_demo_figure(config.hydra.sweep.dir)
        log.info(f"seed demo: {png} and {gif}")
        print(f"seed demo figure: {png}\nseed demo animation: {gif}")
