"""data=patches: square patches cut from one folder of images to train on and from another to test on, as a
collection (COIN++'s protocol: 32x32 patches of many images to learn from, patches of unseen images to score).

* `data.train_path`, `data.test_path`: folders of image files (sorted by name). Both null (the default): two
  sets of generated images (soft coloured discs, data/synthetic.py), so a run needs no files. The two folders
  must differ: a test patch never comes from an image that is trained on.
* `data.patch` (the side), `data.stride` (the grid of top-left corners a patch may start at: 1 = anywhere,
  `data.patch` = tiles that do not overlap) and `data.patches_per_image` (that many corners of the grid drawn at
  random without replacement, seeded by `data.seed`; null = every corner of the grid).
  `data.train_patches_per_image` (null: `data.patches_per_image`) sets it for the training images alone (their
  validation patches too), so more training patches leave the test patches as they were: an image's first k
  corners are the same for any count above k.
* Validation patches come from the last training images, held out whole (as many images as `data.n_val`
  patches need), so they are unseen too. `data.limit` keeps the first N training patches; `data.n_test` the first
  N test patches. Pools list patch j of every image before patch j + 1 of any, an image's patches in a seeded
  random order, so the first N span all images and all of each.

Every patch is kept as uint8 levels (M, p, p, C): 3 KB a 32x32 RGB patch; more than MAX_GB in all is refused.
Grey images beside colour ones become three equal channels. Folders and sizes are checked when the module is
built (file headers only); images are decoded once, at setup, and dropped after their patches are cut.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from nfields.core.checks import POSITIVE_INT, check_arg, integer, nullable, string
from nfields.core.errors import ConfigError
from nfields.core.io import load_image
from nfields.core.media import quantize
from nfields.data.collection import CollectionDataModule, TensorImages
from nfields.data.image_set import SUFFIXES
from nfields.data.synthetic import blobs

GENERATED_SIDE = 128  # generated images are GENERATED_SIDE^2 RGB
GENERATED_BLOBS = 12  # soft discs per generated image: patches that are not all flat
MAX_GB = 4.0  # the patches of both sets together may take this much memory (uint8); more is refused
ROLES = ("train", "test")


@dataclass
class Images:
    """The images of one role: names, (H, W) of each, and `read(i)` -> (H, W, C) uint8 levels or float."""

    names: list[str]
    sizes: list[tuple[int, int]]
    read: Callable[[int], torch.Tensor]


def folder_images(key: str, folder: str) -> Images:
    """The image files of `folder` (sorted), their sizes read from file headers; one line for a missing folder,
    one without images, or a file that is not an image."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(key, folder, "no such folder; point it at a folder of images (.png, .jpg, ...)")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
    if not files:
        raise ConfigError(key, folder, f"the folder holds no image files ({', '.join(SUFFIXES)})")
    sizes = []
    for f in files:
        try:
            with Image.open(f) as im:
                sizes.append((im.height, im.width))
        except OSError as e:
            raise ConfigError(key, folder, f"{f.name} is not a readable image ({e}); remove it") from e
    return Images([f.name for f in files], sizes, lambda i: load_image(files[i], keep_uint8=True))


def generated_images(n: int, seed: int, role: int) -> Images:
    """n generated RGB images GENERATED_SIDE^2; `role` (0 train, 1 test) draws a set of its own."""
    kept: list[torch.Tensor] = []

    def read(i: int) -> torch.Tensor:
        if not kept:  # drawn together on first use: (n, S, S, 3) float, 0.2 MB an image
            kept.append(blobs(n, GENERATED_SIDE, 3, GENERATED_BLOBS, seed=sub_seed(seed, role)))
        return kept[0][i]

    return Images([f"generated {ROLES[role]} {i}" for i in range(n)], [(GENERATED_SIDE, GENERATED_SIDE)] * n, read)


def sub_seed(*parts: int) -> int:
    """An integer seed drawn from several (seed, role, image): distinct streams with no arithmetic collisions."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def corners(h: int, w: int, patch: int, stride: int, count: int | None, gen: torch.Generator) -> torch.Tensor:
    """Top-left corners (k, 2) as (row, column) of `count` patches (None: all) on the grid of step `stride`
    inside an h x w image, drawn without replacement, in the drawn (seeded, random) order: a pool that takes
    an image's first patches (data.limit, data.n_test) then takes corners from all over it, not its top rows."""
    rows = torch.arange(0, h - patch + 1, stride)  # (R,)
    cols = torch.arange(0, w - patch + 1, stride)  # (Q,)
    n = len(rows) * len(cols)
    pick = torch.randperm(n, generator=gen)[: n if count is None else count]  # (k,)
    return torch.stack([rows[pick // len(cols)], cols[pick % len(cols)]], dim=1)  # (k, 2)


class PatchesDataModule(CollectionDataModule):
    """data=patches: patches (p, p, C) of training images to train on, of test images to test on."""

    def __init__(
        self,
        train_path: str | None = None,
        test_path: str | None = None,
        patch: int = 32,
        patches_per_image: int | None = 64,
        train_patches_per_image: int | None = None,
        stride: int = 1,
        seed: int = 0,
        generated: int = 8,
        **kw: Any,
    ) -> None:
        for key, val in (("train_path", train_path), ("test_path", test_path)):
            check_arg(f"data.{key}", val, nullable(string()))
        check_arg("data.patch", patch, POSITIVE_INT)
        check_arg("data.patches_per_image", patches_per_image, nullable(POSITIVE_INT))
        check_arg("data.train_patches_per_image", train_patches_per_image, nullable(POSITIVE_INT))
        check_arg("data.stride", stride, POSITIVE_INT)
        check_arg("data.seed", seed, integer())
        check_arg("data.generated", generated, integer(lo=2))  # a training and a validation image at least
        super().__init__(**kw)
        if (train_path is None) != (test_path is None):
            unset = "data.test_path" if test_path is None else "data.train_path"
            raise ConfigError(unset, None, "set both folders (train and test images), or neither (generated images)")
        if train_path is not None and Path(train_path).expanduser().resolve() == Path(test_path).expanduser().resolve():
            raise ConfigError("data.test_path", test_path, "is data.train_path; test on another folder of images")
        self.patch, self.stride, self.seed = patch, stride, seed
        train_count = patches_per_image if train_patches_per_image is None else train_patches_per_image
        self.per_image = (train_count, patches_per_image)  # by role: corners drawn per image, None = all
        if train_path is None:
            self.images = [generated_images(generated, seed, role) for role in range(2)]
        else:
            self.images = [folder_images("data.train_path", train_path), folder_images("data.test_path", test_path)]
        for role, images in enumerate(self.images):  # before any image is decoded
            small = [(n, s) for n, s in zip(images.names, images.sizes, strict=True) if min(s) < patch]
            if small:
                name, (h, w) = small[0]
                raise ConfigError("data.patch", patch, f"is bigger than {ROLES[role]} image {name} ({h}x{w})")
        by_role = [sum(self.count(size, role) for size in images.sizes) for role, images in enumerate(self.images)]
        n = sum(by_role)
        gb = n * patch * patch * 3 / 1e9  # at most 3 channels: grey images beside colour ones get three
        if gb > MAX_GB:
            key, val = ("data.patches_per_image", patches_per_image)
            if train_patches_per_image is not None and by_role[0] > by_role[1]:  # the key that cuts the most
                key, val = ("data.train_patches_per_image", train_patches_per_image)
            raise ConfigError(
                key,
                val,
                f"with data.stride={stride}, cuts {n} patches of {patch}x{patch} ({gb:.3g} GB, above {MAX_GB:g}); "
                "keep fewer per image or raise data.stride",
            )

    def count(self, size: tuple[int, int], role: int) -> int:
        """How many patches an image of `size` (H, W) of a role gives: the stride's grid, or the role's count."""
        grid = ((size[0] - self.patch) // self.stride + 1) * ((size[1] - self.patch) // self.stride + 1)
        per_image = self.per_image[role]
        return grid if per_image is None else min(grid, per_image)

    def corners(self, role: int, i: int, size: tuple[int, int]) -> torch.Tensor:
        """The corners (k, 2) of image i's patches: the same for the same data.seed, role and image."""
        gen = torch.Generator().manual_seed(sub_seed(self.seed, role, i))
        return corners(*size, self.patch, self.stride, self.per_image[role], gen)

    def cut(self, role: int, indices: list[int]) -> tuple[torch.Tensor, list[tuple[str, int, int]]]:
        """The patches of images `indices` of a role -> uint8 (M, p, p, C) in round-robin order (patch j of every
        image before patch j + 1 of any), and where each came from (image name, row, column)."""
        images, p = self.images[role], self.patch
        keyed: list[tuple[tuple[int, int], torch.Tensor, tuple[str, int, int]]] = []
        for order, i in enumerate(indices):
            levels = quantize(images.read(i))  # (H, W, C) uint8
            for j, (r, c) in enumerate(self.corners(role, i, images.sizes[i]).tolist()):
                keyed.append(((j, order), levels[r : r + p, c : c + p].clone(), (images.names[i], r, c)))
        keyed.sort(key=lambda item: item[0])
        return torch.stack([k[1] for k in keyed]), [k[2] for k in keyed]

    def held_out(self) -> int:
        """How many of the last training images validation needs: their patches cover data.n_val."""
        images = self.images[0]
        total, k = 0, 0
        while total < self.n_val and k < len(images.names) - 1:
            k += 1
            total += self.count(images.sizes[-k], 0)
        if total < self.n_val:
            raise ConfigError(
                "data.n_val",
                self.n_val,
                f"the training images but one give {total} patches to validate on; lower it",
            )
        return k

    def load_pools(self) -> tuple[TensorImages, TensorImages]:
        n_train_images = len(self.images[0].names)
        k = self.held_out()
        train, self.train_origin = self.cut(0, list(range(n_train_images - k)))
        val, val_origin = self.cut(0, list(range(n_train_images - k, n_train_images)))
        test, self.test_origin = self.cut(1, list(range(len(self.images[1].names))))
        channels = max(x.shape[-1] for x in (train, val, test))  # grey patches beside colour ones: 3 channels
        train, val, test = (x.expand(*x.shape[:-1], channels) for x in (train, val, test))
        self.train_origin += val_origin[: self.n_val]  # the base's split: val = the pool's last n_val
        return TensorImages(torch.cat([train, val[: self.n_val]])), TensorImages(test.contiguous())
