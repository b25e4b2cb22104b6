"""data=text: deterministic images of random text, rendered offline with Pillow (the 'text' set of Tancik et al.).

Image `index` is drawn from its own seeded RNG: lines of random lower/upper-case words
at random sizes and dark colours on a light background, rendered at 512^2 with
Pillow's bundled FreeType font (no system fonts, no download), then square-resized
to `size` like any other image. The same Pillow version gives the same pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from nfields.core.checks import check_arg, integer
from nfields.core.io import square_resize, to_float_image
from nfields.data.image import ImageDataModule
from nfields.tasks.base import Task

NATIVE = 512  # rendering resolution, the paper's image size
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def text_image(index: int, native: int = NATIVE) -> torch.Tensor:
    """Image `index` of the text set -> (native, native, 3) float in [0, 1]."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng([20200618, index])  # fixed stream per image
    bg = tuple(int(x) for x in rng.integers(200, 256, 3))
    im = Image.new("RGB", (native, native), bg)
    draw = ImageDraw.Draw(im)
    y = int(rng.integers(0, native // 16))
    while y < native:
        px = int(rng.integers(native // 24, native // 7))  # font size in pixels
        font = ImageFont.load_default(size=px)
        words = [
            "".join(rng.choice(list(LETTERS), size=int(rng.integers(2, 9)))) for _ in range(int(rng.integers(2, 6)))
        ]
        colour = tuple(int(x) for x in rng.integers(0, 160, 3))
        draw.text((int(rng.integers(-px, native // 8)), y), " ".join(words), font=font, fill=colour)
        y += int(px * rng.uniform(1.05, 1.6))
    return to_float_image(np.asarray(im), f"text image {index}")


class TextImageDataModule(ImageDataModule):
    """One generated text image; everything else as data=image."""

    def __init__(
        self,
        index: int = 0,
        size: int | None = 256,
        batch_size: int | None = None,
        upsample: bool = False,
        task: Task | None = None,
    ) -> None:
        check_arg("data.index", index, integer(lo=0))  # it seeds the text image
        super().__init__(image=f"text{index}", size=size, batch_size=batch_size, upsample=upsample, task=task)
        self.index = index

    def load(self) -> torch.Tensor:
        return square_resize(text_image(self.index), self.size, self.upsample)  # (H, W, 3) in [0, 1]
