"""data=image: one image (an skimage sample or a file), fitted by a device-resident field (data/grid.py)."""

from __future__ import annotations

import torch

from nfields.core.checks import POSITIVE_INT, boolean, check_arg, nullable, one_of, string
from nfields.core.errors import ImageError
from nfields.core.io import load_image, square_resize, whole_resize
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
        crop: str | None = "square",
    ) -> None:
        super().__init__(batch_size, task)
        check_arg("data.image", image, string())
        check_arg("data.size", size, nullable(POSITIVE_INT))
        check_arg("data.upsample", upsample, boolean())
        check_arg("data.crop", crop, nullable(one_of("square")))
        self.spec, self.size, self.upsample, self.crop = image, size, upsample, crop

    def resize(self, img: torch.Tensor, name: str = "the image") -> torch.Tensor:
        """data.crop=square: the centre square, resized to data.size^2; null: the whole frame, its longer side
        resized to data.size (the other in proportion). (H, W, C) -> (h, w, C)."""
        resize = square_resize if self.crop == "square" else whole_resize
        return resize(img, self.size, self.upsample, name)

    @property
    def image(self) -> torch.Tensor | None:
        """(H, W, C): uint8 levels for an 8-bit image used at its own size, else float in [0, 1]."""
        return self.signal

    @image.setter
    def image(self, value: torch.Tensor | None) -> None:
        self.signal = value

    def load(self) -> torch.Tensor:
        return self.resize(load_image(self.spec, keep_uint8=True))

    def member_images(self, indices: list[int] | None = None) -> list[tuple[int, str, torch.Tensor]]:
        """The images model=many fits, as (index, name, (H, W, C)): data=image has one, index 0."""
        self.setup()
        if indices not in (None, [0]):
            raise ImageError(f"members.images={indices}: data=image holds one image (index 0); use data=image_set")
        return [(0, self.spec, self.image)]
