"""data=image: one image (an skimage sample or a file), fitted by a device-resident field (data/grid.py)."""

from __future__ import annotations

import torch

from nfields.core.checks import POSITIVE_INT, boolean, check_arg, nullable, string
from nfields.core.errors import ImageError
from nfields.core.io import load_image, square_resize
from nfields.data.grid import GridDataModule
from nfields.tasks.base import Task


class ImageDataModule(GridDataModule):
    """One image (H, W, C); `image` is its signal."""

    domain = "image"
    axis_names = ("row", "column")

    def __init__(
        self,
        image: str = "astronaut",
        size: int | None = 256,
        batch_size: int | None = None,
        upsample: bool = False,
        task: Task | None = None,
    ) -> None:
        super().__init__(batch_size, task)
        check_arg("data.image", image, string())
        check_arg("data.size", size, nullable(POSITIVE_INT))
        check_arg("data.upsample", upsample, boolean())
        self.spec, self.size, self.upsample = image, size, upsample

    @property
    def image(self) -> torch.Tensor | None:
        """(H, W, C): uint8 levels for an 8-bit image used at its own size, else float in [0, 1]."""
        return self.signal

    @image.setter
    def image(self, value: torch.Tensor | None) -> None:
        self.signal = value

    def load(self) -> torch.Tensor:
        return square_resize(load_image(self.spec, keep_uint8=True), self.size, self.upsample)

    def member_images(self, indices: list[int] | None = None) -> list[tuple[int, str, torch.Tensor]]:
        """The images model=many fits, as (index, name, (H, W, C)): data=image has one, index 0."""
        self.setup()
        if indices not in (None, [0]):
            raise ImageError(f"members.images={indices}: data=image holds one image (index 0); use data=image_set")
        return [(0, self.spec, self.image)]
