"""SignalsModule: what the modules trained on a collection of signals share (model=collection, model=learnit).

Both train on batches of B signals from the DataLoader (data/collection.py: dicts of index, image, observed, obs),
take `data.pixels_per_image` random observed points of each a step, log the batch's training loss and PSNR, score
held-out signals on the cells their task scores, and show the first `model.n_grid` of them as pictures (an image
as it is; a clip as its domain draws it: a waveform, a strip of frames).
"""

from __future__ import annotations

from typing import Any

import torch

from nfields.data.collection import CollectionDataModule
from nfields.lit.base import BaseModule
from nfields.tasks.base import Observation

Batch = dict[str, Any]  # data.collection.collate: index, image, observed (+ obs)


def enlarged(frame: torch.Tensor, max_size: int) -> torch.Tensor:
    """A picture (h, w, C) repeated k times along each axis to about `max_size`: small images (28x28) enlarged,
    their pixels kept sharp (progress.gif)."""
    k = max(1, max_size // max(frame.shape[:2]))
    return frame.repeat_interleave(k, 0).repeat_interleave(k, 1)


class SignalsModule(BaseModule):
    """A module trained on a collection of signals (B, *grid, C); BaseModule's arguments after `data`, `n_grid`."""

    data_type = CollectionDataModule

    def __init__(self, data: CollectionDataModule, n_grid: int, *base: Any, **kwargs: Any) -> None:
        super().__init__(*base, **kwargs)
        self.image_shape, self.pixels_per_image = tuple(data.image_shape), data.pixels_per_image  # the grid
        self.picture, self.n_grid = data.picture, n_grid  # how the domain shows a signal (an image: itself)
        self.grid: dict[str, torch.Tensor] = {}  # the first evaluated signals of the last evaluation, for panels

    def sample(self, observed: Observation) -> Observation:
        """B signals' stacked observations (B, N, ...) -> P random ones per signal (all if P is null or >= N)."""
        b, n, _ = observed.values.shape
        if self.pixels_per_image is None or self.pixels_per_image >= n:
            return observed
        return observed.take(torch.randint(0, n, (b, self.pixels_per_image), device=observed.values.device))

    def log_train(self, mse: torch.Tensor, b: int) -> None:
        """train/loss (the batch's mean data term `mse` ()) and train/psnr of a batch of b signals; every
        trainer.log_every_n_steps steps also history.json's "train", as the loggers get it."""
        mse = mse.detach()
        psnr = -10 * torch.log10(mse)
        self.log("train/loss", mse, prog_bar=True, batch_size=b)
        self.log("train/psnr", psnr, batch_size=b)
        every, step = self.log_every(), self.global_step + 1  # the step this update completes
        if every and step % every == 0:
            self.train_log.append({"step": step, "train/loss": float(mse), "train/psnr": float(psnr)})

    @staticmethod
    def score_mask(batch: Batch, stage: str) -> torch.Tensor | None:
        """The cells of the batch's signals that `stage` scores (B, *grid) bool (the task's), or None: all."""
        masks = [o.mask(stage) for o in batch["obs"]]
        return None if masks[0] is None else torch.stack(masks).to(batch["image"].device)

    def pictures(self, signals: torch.Tensor) -> torch.Tensor:
        """Signals (B, *grid, C) in [0, 1] -> their pictures (B, h, w, C): images as they are, other signals as
        their domain draws them (data.picture: a waveform, a strip of frames)."""
        if len(self.image_shape) == 2:
            return signals
        return torch.stack([self.picture(x) for x in signals.float().cpu()])
