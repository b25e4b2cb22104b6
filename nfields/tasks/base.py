"""Task interface: observe(image) -> Observation; evaluate(pred, clean) -> metrics.

A task sees the clean image (H, W, C) and returns what the model may train on:
coordinates and values of the observed pixels, plus an image of the observation
for display. Evaluation compares a full-resolution render against the clean image
on the pixels the task holds out (all pixels when nothing is held out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nfields.metrics import image_metrics


def pixel_grid(h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Pixel-centre coordinates (h, w, 2) in (0, 1)^2, last dim (u, v) = (column, row).

    Centres ((j + 0.5) / w, (i + 0.5) / h) make one field renderable at any resolution:
    a 2x2 block of a fine grid averages to the centre of the coarse pixel it covers.
    """
    v = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    u = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv], dim=-1)


@dataclass
class Observation:
    coords: torch.Tensor  # (N, 2) coordinates of observed pixels
    values: torch.Tensor  # (N, C) their observed colours
    display: torch.Tensor  # (h, w, C) the observation as an image, for panels
    eval_mask: torch.Tensor | None = None  # (H, W) bool: pixels scored by `test/*`; None = all


class Task:
    """task=fit: observe every pixel, evaluate on every pixel."""

    name = "fit"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def generator(self) -> torch.Generator:
        """A private, seeded RNG so observations do not depend on global RNG state."""
        return torch.Generator().manual_seed(int(self.seed))

    def observe(self, image: torch.Tensor) -> Observation:
        h, w, c = image.shape
        return Observation(pixel_grid(h, w).reshape(-1, 2), image.reshape(-1, c), image)

    def evaluate(self, pred: torch.Tensor, clean: torch.Tensor, obs: Observation) -> dict[str, float]:
        """pred, clean (H, W, C) -> {'psnr', 'ssim', ...}; held-out pixels only when the task has them."""
        return image_metrics(pred, clean, obs.eval_mask)
