"""GridDataModule: one signal on a regular grid, fitted by a device-resident field (model=single).

A signal is values on d axes with C channels, `signal` (*shape, C): audio (T, C), an image (H, W, C), a
video (T, H, W, C), a volume (D, H, W, C) (nfields/core/coords.py gives its cell-centre coordinates).
Every domain is fitted in [0, 1], the range of an image's colours, so that every task, metric and
network output means the same everywhere: a domain whose units are others maps them (`to_units`,
audio's [-1, 1]). Values are uint8 levels where they are exact 8-bit levels (images, video,
occupancy), else float32.

The DataModule only loads and prepares the signal; the LightningModule keeps it on the device. Its
loaders yield no values, just one tick per step (training) or one item (validation/test renders the
whole signal), so Lightning drives the loop without ever collating single cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

import imageio.v3 as iio
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset

from nfields.core.checks import POSITIVE_INT, check_arg, nullable
from nfields.core.errors import ConfigError, DataError
from nfields.core.media import as_float, to_uint8
from nfields.core.views import picture_rows, view
from nfields.tasks.base import Task
from nfields.tasks.base import size as grid_size
from nfields.tasks.fit import Fit


class Ticks(IterableDataset):
    """An endless stream of step numbers; trainer.max_steps ends training."""

    def __iter__(self) -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1


class OnDevice(pl.LightningDataModule):
    """A datamodule whose data the module holds on the device: the loaders only tick (a step number per training
    step, one val and one test call), so no DataLoader moves data."""

    def train_dataloader(self) -> DataLoader:
        return DataLoader(Ticks(), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)


POOLS = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


def resample(signal: torch.Tensor, size: int | None, what: str) -> torch.Tensor:
    """A signal (*shape, C) averaged down to `size` cells along every axis (area: each new cell is the mean of
    the cells it covers) -> float (size, ..., size, C); None: as it is. Upsampling is refused in one line."""
    if size is None:
        return signal
    shape = signal.shape[:-1]
    if size > min(shape):
        raise DataError(f"data.size={size}: above the {grid_size(shape)} cells of {what}; use a smaller size or null")
    x = signal.float().movedim(-1, 0)[None]  # (1, C, *shape)
    return POOLS[len(shape)](x, (size,) * len(shape))[0].movedim(0, -1)


class GridDataModule(OnDevice):
    """One signal (*shape, C) and the task that observes it; subclasses load it (`load`)."""

    domain: ClassVar[str] = "grid"  # audio | image | video | volume: how panels and media show it
    axis_names: ClassVar[tuple[str, ...]] = ()  # the array axes' names, for messages and plots
    ssim_frames: ClassVar[bool] = False  # axis 0 is time over 2-D frames (video): scored with SSIM per frame
    scores: tuple[str, ...] = ()  # the domain's scores beside PSNR and SSIM (core/metrics.GridScore: iou, snr)
    # task.axes when the config leaves it null, per task (video: interpolate in time); absent: every axis
    default_axes: ClassVar[dict[str, list[int]]] = {}

    def __init__(self, batch_size: int | None = None, task: Task | None = None) -> None:
        super().__init__()
        check_arg("data.batch_size", batch_size, nullable(POSITIVE_INT))  # null: every observed cell
        self.batch_size = batch_size
        self.task = task if task is not None else Fit()  # what the module observes of the signal (task=)
        if not isinstance(self.task, Task):  # a shape's task (task=sdf) has no grid to observe
            raise ConfigError("task", self.task.name, "fits a shape: use it with data=shape")
        if self.task.name in self.default_axes and self.task.axes is None:  # interpolate, superres
            self.task.axes = list(self.default_axes[self.task.name])  # the domain's usual axes for this task
        self.signal: torch.Tensor | None = None
        self.rate: float | None = None  # cells per second along axis 0 (audio's sample rate, video's fps)

    def load(self) -> torch.Tensor:
        """The signal (*shape, C): uint8 levels, or float in [0, 1]."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.signal is None:
            self.signal = self.load()

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid's shape (n_1, ..., n_d), without the channels."""
        self.setup()
        return tuple(self.signal.shape[:-1])

    @property
    def dims(self) -> int:
        """d, the field's coordinate width."""
        return len(self.shape)

    @property
    def channels(self) -> int:
        self.setup()
        return int(self.signal.shape[-1])

    def describe(self) -> str:
        """The signal's size for the start line: '32x32x32' (audio and video say more)."""
        return grid_size(self.shape)

    def to_units(self, values: torch.Tensor) -> torch.Tensor:
        """Values in [0, 1] (a render) -> the signal's own units (audio: [-1, 1]); the identity by default."""
        return values

    def picture(self, values: torch.Tensor) -> torch.Tensor:
        """A picture of values (*shape, C) in [0, 1] (a render, or the signal as float) for panels and the
        progress GIF -> (h, w, C) in [0, 1] (core/views.py: a waveform, frames, slices; an image itself)."""
        return view(values, self.domain)

    def picture_rows(self) -> list[int] | None:
        """The indices along axis 0 that `picture` reads (a video's shown frames; None: all): the picture of
        those rows alone is the signal's, so a large signal's render need not be kept whole for it."""
        return picture_rows(self.shape[0], self.domain)

    def write_slabs(self, slabs: Iterable[torch.Tensor], stem: Path) -> Path:
        """`write` of the signal given as consecutive uint8 slabs along axis 0 (a render streamed slab by slab)
        -> the path. Here they are joined and written whole; a domain whose files are large (video) streams them."""
        return self.write(as_float(torch.cat(list(slabs))), stem)  # (*shape, C) in [0, 1]

    def write(self, values: torch.Tensor, stem: Path) -> Path:
        """Write values (*shape, C) in [0, 1] in the domain's own format at `stem` + its suffix -> the path
        (an image: .png; audio, video, volumes override it)."""
        path = stem.with_suffix(".png")
        iio.imwrite(path, to_uint8(values))
        return path

    def member_images(self, indices: list[int] | None = None) -> list[tuple[int, str, torch.Tensor]]:
        """The signals model=many fits, as (index, name, (*shape, C)): this one, index 0 (a set: each of its)."""
        self.setup()
        if indices not in (None, [0]):
            raise DataError(
                f"members.images={indices}: data={self.domain} holds one signal (index 0); "
                "use a set (data=audio_set, video_set, image_set)"
            )
        return [(0, self.domain, self.signal)]
