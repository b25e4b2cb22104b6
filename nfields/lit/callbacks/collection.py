"""Figures for conditional fields over collections, written after testing (no-ops for single images).

  <run dir>/tto_curve.png / .json   test PSNR (all pixels) against test-time optimisation step
  <run dir>/interpolation.png       codes on the line between two test images, decoded

The fixed grid of evaluated images beside their reconstructions comes from the module's
`panel_images` through ReconstructionPanels (val/reconstruction, reconstruction.png).
"""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import matplotlib
import numpy as np
import wandb
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from nfields.core.media import panel, tile
from nfields.lit.callbacks.media_log import log_image
from nfields.lit.collection import CollectionModule

matplotlib.use("Agg")  # no display: figures go to files
import matplotlib.pyplot as plt  # noqa: E402


def curve_figure(curve: list[tuple[int, float]], title: str = "test-time optimisation") -> np.ndarray:
    """PSNR-vs-step plot -> (H, W, 3) uint8."""
    fig, ax = plt.subplots(figsize=(4.5, 3), dpi=100)
    ax.plot([s for s, _ in curve], [p for _, p in curve], marker="o", markersize=3)
    ax.set(xlabel="TTO step (network frozen)", ylabel="test PSNR (dB)", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img


class CollectionMedia(Callback):
    def __init__(self, run_dir: str, height: int = 256, n_interp: int = 8) -> None:
        self.run_dir, self.height, self.n_interp = Path(run_dir), height, n_interp

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not isinstance(pl_module, CollectionModule) or not pl_module.tto_curve:
            return  # single images have no test-time optimisation
        curve = pl_module.tto_curve
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "tto_curve.json").write_text(json.dumps([{"step": s, "psnr": p} for s, p in curve]) + "\n")
        fig = curve_figure(curve)
        iio.imwrite(self.run_dir / "tto_curve.png", fig)
        log_image(trainer, "test/tto_curve", fig)
        for lg in trainer.loggers:
            if isinstance(lg, WandbLogger):
                table = wandb.Table(data=[[s, p] for s, p in curve], columns=["tto_step", "psnr"])
                lg.experiment.log({"test/tto_psnr": wandb.plot.line(table, "tto_step", "psnr", title="TTO curve")})
        frames = pl_module.interpolation(self.n_interp)
        if frames is not None:
            strip = panel(
                {"latent interpolation: test image 0 -> test image 1": tile(frames, cols=len(frames))}, self.height // 2
            )
            iio.imwrite(self.run_dir / "interpolation.png", strip)
            log_image(trainer, "test/interpolation", strip)
