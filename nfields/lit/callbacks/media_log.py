"""The one place that knows how each logger takes images and videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pytorch_lightning import Trainer
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_warn


def log_image(trainer: Trainer, key: str, img: np.ndarray) -> None:
    """Send an (H, W, 3) uint8 image to every logger that takes images."""
    for lg in trainer.loggers:
        if isinstance(lg, WandbLogger):
            lg.log_image(key=key, images=[img], step=trainer.global_step)
        elif isinstance(lg, TensorBoardLogger):
            lg.experiment.add_image(key, img, trainer.global_step, dataformats="HWC")


def log_video(trainer: Trainer, key: str, gif: Path, fps: int) -> None:
    """Send a GIF file as a video (W&B) to the loggers that take videos."""
    for lg in trainer.loggers:
        if isinstance(lg, WandbLogger) and not getattr(lg, "w_and_b_failed", False):
            import wandb

            try:  # W&B problems never fail a run (the GIF is already in the run dir)
                video = wandb.Video(str(gif), fps=fps, format="gif")
                lg.experiment.log({key: video, "trainer/global_step": trainer.global_step})
            except Exception as e:  # noqa: BLE001
                rank_zero_warn(f"W&B could not log {key} ({type(e).__name__}: {e}); it is in {gif}")


def log_media(trainer: Trainer, key: str, path: Path) -> None:
    """Send a prediction file to W&B as what it is: .wav as Audio, .mp4 as Video, .obj (a volume's surface) as
    Object3D; the file itself stays in the run dir."""
    for lg in trainer.loggers:
        if isinstance(lg, WandbLogger) and path.suffix in (".wav", ".mp4", ".obj"):
            import wandb

            kinds = {".wav": wandb.Audio, ".mp4": lambda p: wandb.Video(p, format="mp4"), ".obj": wandb.Object3D}
            try:  # W&B problems never fail a run
                media = kinds[path.suffix](str(path))
                lg.experiment.log({key: media, "trainer/global_step": trainer.global_step})
            except Exception as e:  # noqa: BLE001
                rank_zero_warn(f"W&B could not log {key} ({type(e).__name__}: {e}); it is in {path}")
