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

from nfields.core.checks import POSITIVE_INT, boolean, check_arg, nullable, string
from nfields.core.errors import ImageError
from nfields.core.io import load_image, square_resize
from nfields.tasks.base import Task
from nfields.tasks.fit import Fit


class Ticks(IterableDataset):
    """An endless stream of step numbers; trainer.max_steps ends training."""

    def __iter__(self) -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1


class ImageDataModule(pl.LightningDataModule):
    def __init__(
        self,
        image: str = "astronaut",
        size: int | None = 256,
        batch_size: int | None = None,
        upsample: bool = False,
        task: Task | None = None,
    ) -> None:
        super().__init__()
        check_arg("data.image", image, string())
        check_arg("data.size", size, nullable(POSITIVE_INT))
        check_arg("data.batch_size", batch_size, nullable(POSITIVE_INT))  # null: every observed pixel
        check_arg("data.upsample", upsample, boolean())
        self.spec, self.size, self.batch_size, self.upsample = image, size, batch_size, upsample
        self.task = task if task is not None else Fit()  # what the module observes of the image (task=)
        self.image: torch.Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.image is None:
            # (H, W, C): uint8 levels for an 8-bit image used at its own size, else float in [0, 1]
            self.image = square_resize(load_image(self.spec, keep_uint8=True), self.size, self.upsample)

    def member_images(self, indices: list[int] | None = None) -> list[tuple[int, str, torch.Tensor]]:
        """The images model=many fits, as (index, name, (H, W, C)): data=image has one, index 0."""
        self.setup()
        if indices not in (None, [0]):
            raise ImageError(f"members.images={indices}: data=image holds one image (index 0); use data=image_set")
        return [(0, self.spec, self.image)]

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
