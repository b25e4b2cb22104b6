"""PixelStore: one signal's Observation (tasks/base.py) kept on the device as compactly as it allows.

An image's pixels are the example below; any grid (audio samples, video and volume cells) is stored the same.

Full-batch training reads every observed pixel at every step, so it keeps float32 coordinates
(N, 2) and colours (N, C), ready to use. Random batches read a few of them per step, so with
`compact` they are stored small and expanded per batch:
  colours   uint8 when they are exact 8-bit levels (fit, interpolate, inpaint of an 8-bit image;
            not denoise's noisy values or superres's block means): 3 bytes per RGB pixel, not 12;
  coords    recomputed from int32 pixel indices when the observation lies on the pixel grid
            (`Observation.train_mask`, whose row-major order is the order of the values), or from
            nothing at all when every pixel is observed: 0-4 bytes per pixel, not 8.
At 8192^2 (fit) the observed pixels take 0.2 GB instead of 1.3 GB of device memory.
Batches come out as Observations (take, every) with the observation's footprint: the task's forward
model measures them as it measures the whole observation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from nfields.core.coords import flat_cell_coords
from nfields.core.media import as_float, as_uint8
from nfields.tasks.base import Observation, Task


def observe(task: Task, image: torch.Tensor, key: int = 0) -> Observation:
    """task.observe(image) with an 8-bit image (uint8 levels) as floats in [0, 1], unless the task accepts_uint8
    (it only selects pixels): a task that computes with colours never sees 0-255."""
    return task.observe(image if task.accepts_uint8 else as_float(image), key)


class PixelStore(nn.Module):
    """Device-side storage of one image's observed pixels: values (uint8 levels or float), pixel indices or
    coordinates, and the footprint; hands out training batches as Observations."""

    def __init__(self, obs: Observation, shape: Sequence[int], compact: bool) -> None:
        super().__init__()
        self.shape = tuple(shape)  # the grid (n_1, ..., n_d); an image's (H, W)
        self.n = obs.values.shape[0]
        if obs.coords is None and obs.train_mask is not None:
            observed = int(torch.count_nonzero(obs.train_mask))  # (sum would convert the mask to int64 first)
            if observed != self.n:
                raise ValueError(f"the observation has {self.n} values for {observed} pixels of train_mask")
        u8 = as_uint8(obs.values) if compact else None
        self.register_buffer("values", as_float(obs.values) if u8 is None else u8, persistent=False)  # (N, C)
        on_grid = compact and obs.coords is None
        self.all_pixels = on_grid and self.n == math.prod(self.shape)
        index = None
        if on_grid and not self.all_pixels:
            index = obs.train_mask.flatten().nonzero().squeeze(1)  # (N,) row-major, the order of the values
            index = index.to(torch.int32 if math.prod(self.shape) < 2**31 else torch.int64)
        self.register_buffer("index", index, persistent=False)  # (N,) or None
        self.register_buffer("coords", None if on_grid else obs.points(), persistent=False)  # (N, 2) or None
        self.register_buffer("footprint", obs.footprint, persistent=False)  # (K, 2) or None

    def take(self, idx: torch.Tensor) -> Observation:
        """Observed cells idx (B,) -> their Observation: coords (B, d), values (B, C) as float32."""
        values = as_float(self.values[idx])  # (B, C) float32
        if self.coords is not None:
            coords = self.coords[idx]
        else:
            flat = idx if self.index is None else self.index[idx]  # (B,) C-order cell indices
            coords = flat_cell_coords(flat, self.shape)
        return Observation(values, coords=coords, footprint=self.footprint)

    def every(self, start: int = 0, step: int = 1) -> Observation:
        """Every step-th observed pixel from start (a DDP rank's share of a full batch)."""
        if self.coords is not None and self.values.dtype != torch.uint8:  # views: full batches copy nothing
            return Observation(self.values[start::step], coords=self.coords[start::step], footprint=self.footprint)
        return self.take(torch.arange(start, self.n, step, device=self.values.device))

    def nbytes(self) -> int:
        """Device memory held (bytes)."""
        return sum(b.numel() * b.element_size() for b in self.buffers())
