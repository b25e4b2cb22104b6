"""Reconstruction panels and the training-progress GIF.

Panels (observation | prediction | ground truth) go to the loggers after every
validation and to <run dir>/reconstruction.png after testing; each image is captioned
with its name and the module's panel_captions (the prediction's PSNR). Snapshots of the
field are rendered every `every_n_steps` during training and written as
<run dir>/progress.gif at the end (and logged to W&B as a video): the seed
article's blurry-vs-sharp animation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.utilities import rank_zero_only

from nfields.core.checks import POSITIVE_INT, check_arg
from nfields.core.media import caption, panel, to_uint8
from nfields.lit.base import BaseModule
from nfields.lit.callbacks.media_log import log_image, log_media
from nfields.lit.callbacks.perf import untimed


def captioned(images: dict[str, Any], captions: dict[str, str]) -> dict[str, Any]:
    """Panel images keyed by their caption: the name, then its extra text ("prediction 23.41 dB")."""
    return {f"{name} {captions[name]}" if captions.get(name) else name: img for name, img in images.items()}


class ReconstructionPanels(Callback):
    """The panels of a BaseModule (panel_images, panel_captions): every nfields module is one (run/build.py)."""

    def __init__(self, run_dir: str, height: int = 256) -> None:
        check_arg("log.panel_height", height, POSITIVE_INT)
        self.run_dir, self.height = Path(run_dir), height

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: BaseModule) -> None:
        if trainer.sanity_checking:
            return
        with untimed(trainer):
            # Every rank reads the captions (the epoch's metrics are synchronised across ranks); rank zero draws.
            captions = pl_module.panel_captions()
            if trainer.is_global_zero:
                img = panel(captioned(pl_module.panel_images(), captions), self.height)
                log_image(trainer, "val/reconstruction", img)

    def on_test_epoch_end(self, trainer: Trainer, pl_module: BaseModule) -> None:
        captions = pl_module.panel_captions()
        if not trainer.is_global_zero:
            return
        images = pl_module.panel_images()
        img = panel(captioned(images, captions), self.height)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        iio.imwrite(self.run_dir / "reconstruction.png", img)
        # The raw render at full resolution, for reports that compare runs (scripts/compare.py).
        iio.imwrite(self.run_dir / "prediction.png", to_uint8(images["prediction"]))
        log_image(trainer, "test/reconstruction", img)
        media = pl_module.write_media(self.run_dir / "prediction")  # audio .wav, video .mp4, volume .npy
        if media is not None:
            log_media(trainer, "test/prediction", media)


class ProgressGif(Callback):
    """Snapshots every `every_n_steps` (and at step 1), rendered at most `max_size` pixels high."""

    def __init__(self, run_dir: str, every_n_steps: int = 25, max_size: int = 256, fps: int = 10) -> None:
        check_arg("log.gif_every_n_steps", every_n_steps, POSITIVE_INT)  # the keys callbacks: default reads
        check_arg("log.gif_max_size", max_size, POSITIVE_INT)
        self.run_dir, self.every, self.max_size, self.fps = Path(run_dir), every_n_steps, max_size, fps
        self.frames: list[np.ndarray] = []  # (h, w, C) uint8
        self.encoded: list[torch.Tensor] = []  # the same frames as PNG bytes, for checkpoints
        self.steps: list[int] = []

    def state_dict(self) -> dict[str, Any]:
        """The frames so far, so a resumed run's progress.gif starts at step 1, not at the resume step: PNG-encoded
        (uint8 tensors of a few kB, read back with weights_only; encoded once, when taken), with their shape."""
        shape = list(self.frames[0].shape) if self.frames else []
        return {"steps": list(self.steps), "png": list(self.encoded), "shape": shape}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.steps, self.encoded = list(state_dict.get("steps", [])), list(state_dict.get("png", []))
        shape = tuple(state_dict.get("shape", []))  # (h, w, C): a one-channel PNG reads back as (h, w)
        self.frames = [iio.imread(t.numpy().tobytes(), extension=".png").reshape(shape) for t in self.encoded]

    def snapshot(self, pl_module: BaseModule) -> None:
        frame = to_uint8(pl_module.progress_frame(self.max_size))  # (h, w, C): single image or a grid of images
        self.frames.append(frame)
        png = iio.imwrite("<bytes>", frame, extension=".png")  # lossless: the frame reads back exactly
        self.encoded.append(torch.frombuffer(bytearray(png), dtype=torch.uint8))
        self.steps.append(pl_module.global_step)

    @rank_zero_only
    def on_train_batch_end(self, trainer: Trainer, pl_module: BaseModule, *args: Any) -> None:
        step = trainer.global_step
        if not (step == 1 or step % self.every == 0):
            return
        with untimed(trainer):
            self.snapshot(pl_module)

    @rank_zero_only
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.frames:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "progress.gif"
        frames = self.frames
        if min(frames[0].shape[:2]) >= 64:  # big enough to read: caption each frame with its step
            frames = [caption(f, f"step {s}") for f, s in zip(frames, self.steps, strict=True)]
        # Hold the last frame a little so the final result is visible when the GIF loops.
        frames = frames + [frames[-1]] * (self.fps // 2)
        iio.imwrite(path, np.stack(frames), duration=1000 / self.fps, loop=0)
        log_media(trainer, "train/progress", path, self.fps)
