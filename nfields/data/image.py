"""data=image: one image (an skimage sample or a file), fitted by a device-resident field.

The DataModule only loads and prepares the image; the LightningModule keeps it on
the device. Its loaders yield no pixels, just one tick per step (training) or one
item (validation/test renders the whole image), so Lightning drives the loop
without ever collating single pixels.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from nfields.data.io import load_image, square_resize


class Ticks(IterableDataset):
    """An endless stream of step numbers; trainer.max_steps ends training."""

    def __iter__(self) -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1


class ImageDataModule(pl.LightningDataModule):
    def __init__(self, image: str = "astronaut", size: int | None = 256, batch_size: int | None = None) -> None:
        super().__init__()
        if size is not None and size < 1:
            raise ValueError(f"data.size must be >= 1 or null, got {size}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1 or null (full image), got {batch_size}")
        self.spec, self.size, self.batch_size = image, size, batch_size
        self.image: torch.Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.image is None:
            # (H, W, C): uint8 levels for an 8-bit image used at its own size, else float in [0, 1]
            self.image = square_resize(load_image(self.spec, keep_uint8=True), self.size)

    @property
    def channels(self) -> int:
        self.setup()
        return int(self.image.shape[-1])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(Ticks(), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)
