"""GridSamples: one signal's training data on the device, and each step's batch of it (an image's pixels,
audio samples, video or volume cells: the image words below stand for any grid).

A training step samples pixel indices on the device (or takes every observed pixel when
data.batch_size is null): no DataLoader over single pixels, so a step costs one randint and one
gather, not a Python collate of thousands of items. The observed pixels live in a PixelStore
(compact: uint8 levels and pixel indices for random batches); the clean image, which validation
scores against, is kept once (task=fit observes the image itself: then it is the store's values).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from nfields.core.media import as_float, as_uint8
from nfields.lit.pixels import PixelStore, observe
from nfields.tasks.base import Observation, Task


class GridSamples(nn.Module):
    """The observed cells and the clean signal (*shape, C) (an image's (H, W, C)), as non-persistent buffers
    (data is rebuilt from the config, not stored in checkpoints), and the batches of a fit."""

    def __init__(self, task: Task, image: torch.Tensor, batch_size: int | None, compact: bool) -> None:
        super().__init__()
        obs = observe(task, image)  # uint8 levels only to a task that accepts them; else floats in [0, 1]
        compact = compact and batch_size is not None  # a full batch is read whole every step: kept as float
        self.shape, self.batch_size = tuple(image.shape), batch_size  # (*grid, C): an image's (H, W, C)
        self.pixels = PixelStore(obs, image.shape[:-1], compact)
        stored = as_uint8(image) if compact else None
        stored = as_float(image) if stored is None else stored
        px = self.pixels
        shared = px.all_pixels and px.values.dtype == stored.dtype and px.values.data_ptr() == stored.data_ptr()
        self.register_buffer("clean_store", None if shared else stored, persistent=False)  # (H, W, C) or None
        # The observation's own copies are no longer needed (the panel's display is, unless it is the image).
        display = torch.empty(0) if obs.display is image else obs.display
        self.obs = replace(obs.for_scoring(), display=display)  # masks and baselines: what evaluation reads
        self.generator: torch.Generator | None = None
        self.rank, self.world = 0, 1
        self.full: tuple[Observation, float | None] | None = None

    @property
    def image(self) -> torch.Tensor:
        """The clean image (H, W, C) as stored: uint8 levels when that is exact and compact, else float."""
        return self.pixels.values.view(self.shape) if self.clean_store is None else self.clean_store

    def clean_rows(self, lo: int, hi: int) -> torch.Tensor:
        """Rows [lo, hi) of the clean image -> (hi - lo, W, C) float in [0, 1] (one copy of the rows)."""
        return as_float(self.image[lo:hi])

    def nbytes(self) -> int:
        """Bytes held on the device: observed pixels and the clean image."""
        store = self.clean_store
        return self.pixels.nbytes() + (0 if store is None else store.numel() * store.element_size())

    def start(self, seed: int, rank: int, world: int) -> None:
        """A new fit on this rank of `world`: each rank draws its own pixels from a generator seeded with
        (seed, rank), and gathers its own share of a full batch."""
        self.generator = torch.Generator(device=self.pixels.values.device)
        self.generator.manual_seed(seed + 7919 * rank)
        self.rank, self.world, self.full = rank, world, None

    def full_batch(self) -> bool:
        """True when every step reads every observed pixel (data.batch_size null or at least the pixel count)."""
        return self.batch_size is None or self.batch_size >= self.pixels.n

    def sample(self) -> tuple[Observation, float | None]:
        """This rank's share of the step's cells -> their Observation (coords (B, d), values (B, C), the
        footprint), and the count the squared errors are divided by. A random batch has data.batch_size /
        world pixels (with replacement; its own mean: None). A full batch is every world-th observed pixel, and
        each rank divides its sum by N / world, so that DDP's mean over ranks is exactly the mean over all N
        pixels, whatever the shards; it is gathered once per fit."""
        if self.full is not None:
            return self.full
        n, world = self.pixels.n, self.world
        if self.full_batch():
            self.full = (self.pixels.every(self.rank, world), None if world == 1 else n / world)
            return self.full
        size = (max(1, self.batch_size // world),)
        idx = torch.randint(0, n, size, device=self.pixels.values.device, generator=self.generator)
        return self.pixels.take(idx), None

    def probe_batch(self) -> Observation:
        """A batch like a step's, drawn from a generator of its own (the timing probe must not move the run's)."""
        if self.full_batch():
            return self.pixels.every()
        device = self.pixels.values.device
        g = torch.Generator(device=device).manual_seed(0)
        return self.pixels.take(torch.randint(0, self.pixels.n, (self.batch_size,), generator=g, device=device))
