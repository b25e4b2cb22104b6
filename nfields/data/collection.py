"""Image collections: train/val/test splits of images, batched as (index, image) for conditional fields.

Every dataset option (fashion_mnist, mnist, cifar10, celeba, image_folder, synthetic)
only says how to read its pools of images (`load_pools`); splitting, resizing,
`data.limit` and the loaders live here once. A training step takes `data.batch_size`
images; the module samples `data.pixels_per_image` pixels of each (null = all).

Splits: val = the last `n_val` images of the training pool (held out, never trained on);
train = the first `limit` of the rest; test = the first `n_test` of the official test
pool (or, without one, the `n_test` images before the val images).

The run's task (`task=`, set by `use_task`) decides what of each image is observed:
a split yields, per image, the clean image and `task.observe(image, key)` with a key
unique to that image, so noise and masks are fixed per image and differ between images.
Batches are dicts (see `collate`): the module trains on `coords`/`values` (the observed
pixels) and the encoder sees `display` (the observation as an image), never the clean image.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from nfields.core.checks import POSITIVE_INT, boolean, check_arg, integer, nullable, string
from nfields.core.errors import ConfigError
from nfields.core.io import square_resize
from nfields.core.views import view
from nfields.tasks.base import Observation, Task
from nfields.tasks.fit import Fit


class TensorImages(Dataset):
    """An in-memory pool: uint8 (M, H, W) or (M, H, W, C), or float (M, H, W, C) in [0, 1]."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images if images.dim() == 4 else images.unsqueeze(-1)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.images[i]
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()  # (H, W, C)


class LazyImages(Dataset):
    """A pool decoded on access: `read(i)` -> float (H, W, C) in [0, 1]."""

    def __init__(self, n: int, read: Callable[[int], torch.Tensor]) -> None:
        self.n, self.read = n, read

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.read(i)


class Split(Dataset):
    """Some images of a pool, resized to `size`, each with the task's observation of it.

    Item i -> (i, image (H, W, C), Observation); `key_offset + i` seeds the observation.
    """

    def __init__(
        self, pool: Dataset, indices: range, size: int | None, task: Task, key_offset: int = 0, upsample: bool = False
    ) -> None:
        self.pool, self.indices, self.size, self.task, self.key_offset = pool, indices, size, task, key_offset
        self.upsample = upsample

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, i: int) -> torch.Tensor:
        img = self.pool[self.indices[i]]  # (*grid, C): an image's (H, W, C); a pool of clips resizes its own
        if self.size is not None and img.shape[:2] != (self.size, self.size):
            img = square_resize(img, self.size, self.upsample, f"image {self.indices[i]}")
        return img  # (*grid, C)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, Observation]:
        img = self.image(i)
        return i, img, self.task.observe(img, key=self.key_offset + i)


def collate(items: list[tuple[int, torch.Tensor, Observation]], keep_obs: bool = True) -> dict[str, Any]:
    """Stack a batch: index (B,), image (B, H, W, C) clean, observed: the B observations stacked (coords
    (B, N, 2), values (B, N, C), display (B, H, W, C), their footprint); `obs` (list of B Observations: masks,
    baselines) only for evaluation batches. N is the same for every image of a size (tasks/base.py), so
    observations stack."""
    idx, images, obs = zip(*items, strict=True)
    batch = {"index": torch.tensor(idx), "image": torch.stack(images), "observed": Observation.stack(list(obs))}
    if keep_obs:
        batch["obs"] = list(obs)
    return batch


class CollectionDataModule(pl.LightningDataModule):
    def __init__(
        self,
        batch_size: int = 32,
        pixels_per_image: int | None = None,
        limit: int | None = None,
        n_val: int = 64,
        n_test: int | None = 256,
        eval_batch_size: int = 128,
        size: int | None = None,
        num_workers: int = 0,
        task: Task | None = None,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        for key, val in (("batch_size", batch_size), ("n_val", n_val), ("eval_batch_size", eval_batch_size)):
            check_arg(f"data.{key}", val, POSITIVE_INT)
        for key, val in (("pixels_per_image", pixels_per_image), ("limit", limit), ("n_test", n_test), ("size", size)):
            check_arg(f"data.{key}", val, nullable(POSITIVE_INT))
        check_arg("data.num_workers", num_workers, integer(lo=0))
        check_arg("data.upsample", upsample, boolean())
        self.batch_size, self.pixels_per_image, self.limit = batch_size, pixels_per_image, limit
        self.n_val, self.n_test, self.eval_batch_size = n_val, n_test, eval_batch_size
        self.size, self.num_workers = size, num_workers
        self.task = task if task is not None else Fit()  # what the run observes of each image (task=)
        self.upsample = upsample
        self.splits: dict[str, Split] = {}

    def load_pools(self) -> tuple[Dataset, Dataset | None]:
        """(training pool, official test pool or None); raise DatasetMissing naming the layout."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        pool, test_pool = self.load_pools()
        m = len(pool)
        n_test_own = 0 if test_pool is not None else (self.n_test or max(1, m // 10))
        n_train = m - self.n_val - n_test_own
        if n_train < 1:
            raise ConfigError(
                "data.n_val",
                self.n_val,
                f"with data.n_test={n_test_own}, leaves none of the {m} images to train on; lower them",
            )
        n_train = min(n_train, self.limit or n_train)
        if test_pool is None:
            test_pool, test_range = pool, range(m - self.n_val - n_test_own, m - self.n_val)
        else:
            test_range = range(min(len(test_pool), self.n_test or len(test_pool)))
        # key offsets keep every image's observation seed distinct across the three splits
        self.splits["train"] = Split(pool, range(n_train), self.size, self.task, 0, self.upsample)
        self.splits["val"] = Split(pool, range(m - self.n_val, m), self.size, self.task, m, self.upsample)
        self.splits["test"] = Split(test_pool, test_range, self.size, self.task, 2 * m, self.upsample)

    @staticmethod
    def checked_root(root: str) -> str:
        """data.root of the datasets read from files: a non-empty path."""
        check_arg("data.root", root, string())
        return root

    # ---- what the module needs to know -------------------------------------------------------
    def example(self) -> torch.Tensor:
        self.setup()
        return self.splits["train"].image(0)  # (H, W, C)

    def mean_image(self, n: int = 1024) -> torch.Tensor:
        """The mean of the first `n` clean training images (H, W, C): the collections' baseline."""
        self.setup()
        train = self.splits["train"]
        return torch.stack([train.image(i) for i in range(min(n, len(train)))]).mean(0)

    domain = "image"  # how panels show a signal (core/views.py): image, audio, video
    ssim_frames = False  # axis 0 is time over 2-D frames (video): SSIM per frame
    scores: tuple[str, ...] = ()  # the domain's scores beside PSNR and SSIM (audio: snr), as GridDataModule's

    @property
    def channels(self) -> int:
        return int(self.example().shape[-1])

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The signals' grid (without channels): an image's (H, W), a clip's (T,) or (T, H, W)."""
        return tuple(int(n) for n in self.example().shape[:-1])

    @property
    def dims(self) -> int:
        """d, the field's coordinate width: an image's 2, (u, v)."""
        return len(self.image_shape)

    def picture(self, values: torch.Tensor) -> torch.Tensor:
        """A signal (*grid, C) in [0, 1] -> its picture (h, w, C) for panels (an image is its own)."""
        return view(values, self.domain)

    @property
    def n_train(self) -> int:
        self.setup()
        return len(self.splits["train"])

    # ---- loaders ----------------------------------------------------------------------------
    def loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        self.setup()
        ds = self.splits[split]
        return DataLoader(
            ds,
            batch_size=min(batch_size, len(ds)),
            shuffle=shuffle,
            drop_last=shuffle,
            collate_fn=partial(collate, keep_obs=split != "train"),  # training needs no masks/baselines
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", self.eval_batch_size, shuffle=False)
