"""Image helpers and one place that knows how each logger takes images and videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from pytorch_lightning import Trainer
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_warn


def quantize(img: torch.Tensor) -> torch.Tensor:
    """Colours in [0, 1] (clamped) -> uint8 levels, rounded to nearest; uint8 input is returned as it is."""
    if img.dtype == torch.uint8:
        return img
    return (img.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)  # truncation of x + 0.5: rounding


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(H, W, C) float in [0, 1] or uint8 levels, C in {1, 3} -> (H, W, 3) uint8."""
    a = quantize(img).cpu()
    if a.shape[-1] == 1:
        a = a.expand(*a.shape[:-1], 3)
    return np.ascontiguousarray(a.numpy())


def caption(img: np.ndarray, text: str, pad: int = 16) -> np.ndarray:
    """(H, W, 3) uint8 with a white caption strip above it."""
    im = Image.fromarray(img)
    canvas = Image.new("RGB", (im.width, im.height + pad), "white")
    canvas.paste(im, (0, pad))
    ImageDraw.Draw(canvas).text((3, 2), text, fill="black")
    return np.asarray(canvas)


def resize_h(img: np.ndarray, height: int) -> np.ndarray:
    im = Image.fromarray(img[..., :3] if img.ndim == 3 else np.stack([img] * 3, -1))
    return np.asarray(im.resize((max(1, round(im.width * height / im.height)), height), Image.NEAREST))


def hstack(tiles: list[np.ndarray], gap: int = 6) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    padded = [np.pad(t, ((0, h - t.shape[0]), (0, gap), (0, 0)), constant_values=255) for t in tiles]
    return np.concatenate(padded, axis=1)[:, :-gap]


def montage(items: list[tuple[str, np.ndarray]], height: int = 256) -> np.ndarray:
    """Captioned images side by side, all `height` pixels high -> (H, W, 3) uint8."""
    return hstack([caption(resize_h(img, height), text) for text, img in items])


def panel(images: dict[str, torch.Tensor | np.ndarray], height: int = 256, label: bool = True) -> np.ndarray:
    """Images side by side, each resized (nearest) to `height`, with its name above -> (h, W, 3) uint8."""
    tiles = [resize_h(img if isinstance(img, np.ndarray) else to_uint8(img), height) for img in images.values()]
    if label:
        tiles = [caption(t, name) for t, name in zip(tiles, images, strict=True)]
    return hstack(tiles, gap=4)


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


def tile(images: torch.Tensor, cols: int = 8, gap: int = 1) -> torch.Tensor:
    """A batch (B, H, W, C) as one grid image (rows*H + gaps, cols*W + gaps, C), white between tiles."""
    b, h, w, c = images.shape
    cols = max(1, min(cols, b))
    rows = -(-b // cols)
    out = images.new_ones(rows * (h + gap) - gap, cols * (w + gap) - gap, c)
    for i in range(b):
        r, k = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = images[i]
    return out
