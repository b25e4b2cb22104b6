"""data=image_set: one image of a set kept in a folder or an .npz (benchmarks: the Fourier-features images).

A set is
  * a folder of image files (.png, .jpg, ...), sorted by name; when it has a `<split>/` subfolder
    (`div2k/train`, `div2k/test`), `data.split` picks it;
  * an .npz holding (N, H, W, C) uint8 arrays, one per split, named `<split>_data` as the
    Fourier-features notebook's `data_div2k.npz` and `data_2d_text.npz` are (`train_data`, `test_data`).
`data.index` picks the image this run fits; `data.limit` keeps the first N images of the set (what
a sweep over the set iterates); `data.size` area-downsamples every image (the reduced, CPU-sized
protocol). `data.crop=square` (the default) fits each image's centre square, and a set's images must then
share one size unless `data.size` resizes them all; `data.crop=null` fits each whole frame (Kodak's 768 x 512),
`data.size` its longer side. `data.orient=landscape` turns portrait images (H > W) a quarter turn
counter-clockwise first, so that a set of landscape and portrait frames (Kodak) has one shape, as model=many
needs (a single run fits any frame; model=many refuses a set whose frames differ, in one line).
Nothing is shipped or downloaded: point `data.root` at your copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nfields.core.checks import POSITIVE_INT, Check, boolean, check_arg, integer, nullable, one_of, string
from nfields.core.errors import ImageError
from nfields.core.io import load_image, to_float_image, whole_shape
from nfields.data.image import ImageDataModule
from nfields.tasks.base import Task

SET_PATH = Check(lambda v: isinstance(v, str) and v != "", "a folder of images or an .npz file (your copy of the set)")
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageSet:
    """The images of one split of a set, read lazily: image(i) -> (H, W, C) uint8 levels or float in [0, 1]."""

    def __init__(self, root: str | Path, split: str | None = None, limit: int | None = None) -> None:
        self.root = Path(root).expanduser()
        self.split = split
        self.files: list[Path] = []
        self.array: np.ndarray | None = None  # (N, H, W, C) from an .npz
        if self.root.suffix == ".npz":
            self.array = self._npz_array()
            n = self.array.shape[0]
        else:
            self.files = self._folder_files()
            n = len(self.files)
        self.n = min(n, limit) if limit is not None else n
        self.names = [f.name for f in self.files[: self.n]] or [f"{self.key}[{i}]" for i in range(self.n)]

    @property
    def key(self) -> str:
        return f"{self.split}_data" if self.split else "data"

    def _npz_array(self) -> np.ndarray:
        if not self.root.is_file():
            raise ImageError(f"data.root={self.root}: no such .npz file")
        with np.load(self.root, allow_pickle=False) as z:  # no pickles: an .npz cannot run code
            if self.key not in z.files:
                raise ImageError(
                    f"data.root={self.root} has no array {self.key!r} (data.split={self.split}); "
                    f"it holds {', '.join(z.files) or 'nothing'}"
                )
            a = z[self.key]
        if a.ndim not in (3, 4) or a.shape[0] == 0:
            raise ImageError(f"{self.root}[{self.key!r}]: expected (N, H, W[, C]) images, got shape {a.shape}")
        return a

    def _folder_files(self) -> list[Path]:
        if not self.root.is_dir():
            raise ImageError(f"data.root={self.root}: no such folder (or .npz file); point it at your copy of the set")
        folder = self.root / self.split if self.split and (self.root / self.split).is_dir() else self.root
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            where = f"{folder} (nor a {self.split}/ subfolder)" if folder == self.root and self.split else folder
            raise ImageError(f"data.root: {where} holds no image files ({', '.join(SUFFIXES)})")
        return files

    def sizes(self, indices: list[int] | None = None) -> dict[tuple[int, int], str]:
        """(H, W) -> the first image of that size (of `indices`, default all), from file headers only (no decoding)."""
        if self.array is not None:
            return {tuple(self.array.shape[1:3]): self.names[0]}
        out: dict[tuple[int, int], str] = {}
        for f in [self.files[i] for i in indices] if indices is not None else self.files[: self.n]:
            with Image.open(f) as im:
                out.setdefault((im.height, im.width), f.name)
        return out

    def image(self, i: int) -> torch.Tensor:
        """Image i -> (H, W, C): uint8 levels for 8-bit images, else float in [0, 1]."""
        if self.array is not None:
            return to_float_image(self.array[i], f"{self.root}[{self.key!r}][{i}]", keep_uint8=True)
        return load_image(self.files[i], keep_uint8=True)


class ImageSetDataModule(ImageDataModule):
    """Fits image `index` of a set; everything else as data=image."""

    def __init__(
        self,
        root: str | None = None,
        split: str | None = "test",
        index: int = 0,
        limit: int | None = None,
        size: int | None = None,
        batch_size: int | None = None,
        upsample: bool = False,
        task: Task | None = None,
        crop: str | None = "square",
        orient: str | None = None,
    ) -> None:
        check_arg("data.root", root, SET_PATH)  # required: the set is the user's, never shipped
        check_arg("data.split", split, nullable(string()))
        check_arg("data.index", index, integer(lo=0))
        check_arg("data.limit", limit, nullable(POSITIVE_INT))
        check_arg("data.upsample", upsample, boolean())
        check_arg("data.orient", orient, nullable(one_of("landscape")))
        super().__init__(image=str(root), size=size, batch_size=batch_size, upsample=upsample, task=task, crop=crop)
        self.split, self.index, self.limit, self.orient = split, index, limit, orient
        self.set: ImageSet | None = None

    def turned(self, h: int, w: int) -> bool:
        """Whether an H x W image is given a quarter turn (data.orient=landscape and it is portrait)."""
        return self.orient == "landscape" and h > w

    def frame(self, img: torch.Tensor, name: str) -> torch.Tensor:
        """(H, W, C) as the run reads it: turned to landscape (data.orient), then cropped and resized."""
        if self.turned(*img.shape[:2]):
            img = torch.rot90(img, 1, dims=(0, 1))  # counter-clockwise: (H, W, C) -> (W, H, C)
        return self.resize(img, name)

    def framed_shape(self, h: int, w: int) -> tuple[int, int]:
        """The (h, w) frame() makes of an H x W image, from its size alone (no decoding)."""
        if self.turned(h, w):
            h, w = w, h
        if self.crop == "square":
            return (self.size, self.size) if self.size else (min(h, w), min(h, w))
        return (h, w) if self.size is None else whole_shape(h, w, self.size)

    def setup(self, stage: str | None = None) -> None:
        if self.image is not None:
            return
        self.set = ImageSet(self.spec, self.split, self.limit)
        if self.index >= self.set.n:
            raise ImageError(f"data.index={self.index}: the set has {self.set.n} images (0..{self.set.n - 1})")
        sizes = self.set.sizes()
        if len(sizes) > 1 and self.size is None and self.crop == "square":
            shown = ", ".join(f"{name} {h}x{w}" for (h, w), name in list(sizes.items())[:3])
            raise ImageError(
                f"data.root={self.spec}: its images differ in size ({shown}); set data.size to resize all of them"
            )
        name = f"{self.spec} image {self.index} ({self.set.names[self.index]})"
        self.image = self.frame(self.set.image(self.index), name)

    def member_images(self, indices: list[int] | None = None) -> list[tuple[int, str, torch.Tensor]]:
        """Images `indices` of the set (default: all of them, data.limit first) as (index, name, (H, W, C))."""
        self.setup()
        indices = list(range(self.set.n)) if indices is None else indices
        bad = [i for i in indices if not (0 <= i < self.set.n)]
        if bad:
            raise ImageError(f"members.images: {bad} not in the set's {self.set.n} images (0..{self.set.n - 1})")
        self.check_one_shape(indices)
        out = []
        for i in indices:  # data.index's image is already read and resized
            name = f"{self.spec} image {i} ({self.set.names[i]})"
            image = self.image if i == self.index else self.frame(self.set.image(i), name)
            out.append((i, self.set.names[i], image))
        return out

    def check_one_shape(self, indices: list[int]) -> None:
        """Members must share one shape (model=many stacks them): frames of other shapes are refused in one line."""
        shapes: dict[tuple[int, int], str] = {}
        for (h, w), name in self.set.sizes(indices).items():
            shapes.setdefault(self.framed_shape(h, w), f"{name} {h}x{w}")
        if len(shapes) > 1:
            shown = ", ".join(f"{name} as {h}x{w}" for (h, w), name in list(shapes.items())[:3])
            portrait = self.orient is None and bool({(w, h) for h, w in shapes} & set(shapes))
            fix = "data.orient=landscape to turn portrait images" if portrait else "data.crop=square with data.size"
            raise ImageError(
                f"data.root={self.spec}: model=many needs one shape and its frames differ ({shown}); set {fix}"
            )
