"""The one place that knows how each logger takes images and videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wandb
from pytorch_lightning import Trainer
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_warn

MEDIA = (".gif", ".mp4", ".wav", ".obj")  # what log_media sends (to W&B)


def log_image(trainer: Trainer, key: str, img: np.ndarray) -> None:
    """Send an (H, W, 3) uint8 image to every logger that takes images."""
    for lg in trainer.loggers:
        if isinstance(lg, WandbLogger):
            lg.log_image(key=key, images=[img], step=trainer.global_step)
        elif isinstance(lg, TensorBoardLogger):
            lg.experiment.add_image(key, img, trainer.global_step, dataformats="HWC")


def log_media(trainer: Trainer, key: str, path: Path, fps: int | None = None) -> None:
    """Send a file to W&B as what it is: .gif (the progress animation, at `fps`) and .mp4 as Video, .wav as Audio,
    .obj (a volume's surface) as Object3D; the file itself stays in the run dir."""
    for lg in trainer.loggers:
        if isinstance(lg, WandbLogger) and path.suffix in MEDIA and not getattr(lg, "w_and_b_failed", False):
            kinds = {
                ".gif": lambda p: wandb.Video(p, fps=fps, format="gif"),
                ".mp4": lambda p: wandb.Video(p, format="mp4"),
                ".wav": wandb.Audio,
                ".obj": wandb.Object3D,
            }
            try:  # W&B problems never fail a run
                media = kinds[path.suffix](str(path))
                lg.experiment.log({key: media, "trainer/global_step": trainer.global_step})
            except Exception as e:  # noqa: BLE001
                rank_zero_warn(f"W&B could not log {key} ({type(e).__name__}: {e}); it is in {path}")
