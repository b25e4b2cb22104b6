"""Volumes: reading an .npy array (D, H, W) or (D, H, W, C) and the generated default occupancy.

A volume is a 3-D grid (D, H, W) of C channels; its coordinates are (x, y, z) = (along W, along H, along D), each
the cell centre (i + 0.5) / n (nfields.core.coords). Two kinds of values:

  * bool occupancy -> uint8 0/1: a quarter of float32's memory, so a large volume stays compact until a batch
    is used (the caller converts a batch with .float()).
  * numeric (any integer or float type) -> float32 values *as stored*, not rescaled. A scalar volume's values
    mean something a per-file min-max would shift: a density in its units, an SDF whose zero level is the
    surface, occupancy probabilities already in [0, 1]; and one outlier cell would squeeze every other value.
    The caller (the datamodule) knows the task, so it normalises, and can keep the scale to undo it at render.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nfields.core.checks import POSITIVE_INT, check_arg, nullable, string
from nfields.core.errors import DataError
from nfields.core.mesh_io import surface, write_obj
from nfields.data.grid import GridDataModule, resample
from nfields.tasks.base import Task

EXPECTED = "(D, H, W) or (D, H, W, C)"


def open_npy(path: Path) -> np.ndarray:
    """The array of an .npy file, memory-mapped (nothing read yet), or a one-line DataError naming the file."""
    with open(path, "rb") as f:
        head = f.read(6)
    if not head:
        raise DataError(f"{path}: the file is empty (0 bytes), not an .npy array")
    if head[:2] == b"PK":
        raise DataError(f"{path}: a .npz archive, not an .npy array; save one array with np.save(path, array)")
    if head != b"\x93NUMPY":
        raise DataError(f"{path}: not an .npy array file (no NumPy header); save the volume with np.save")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        why = (str(e).splitlines() or [type(e).__name__])[0]
        if "object" in why.lower():  # numpy: "Array can't be memory-mapped: Python objects in dtype."
            raise DataError(f"{path}: an array of Python objects; save a bool or numeric array") from e
        raise DataError(f"{path}: a corrupt or truncated .npy file ({why}); save it again with np.save") from e


def read_volume(path: str | Path) -> torch.Tensor:
    """An .npy file -> (D, H, W, C): uint8 0/1 for bool occupancy, else float32 as stored (module docstring).

    A 3-D array (D, H, W) gets one channel, C = 1. The file is memory-mapped: the only full-size copy is the
    tensor returned."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"volume file not found: {path} (set data.path to an .npy file)")
    if path.is_dir():
        raise DataError(f"data.path={path} is a folder; set it to an .npy file")
    a = open_npy(path)
    if a.dtype != bool and a.dtype.kind not in "iuf":
        raise DataError(f"{path}: unsupported array type {a.dtype}; a volume is bool (occupancy) or numeric")
    if a.ndim not in (3, 4):
        raise DataError(f"{path}: array shape {a.shape} has {a.ndim} axes; expected {EXPECTED}")
    if min(a.shape) == 0:
        raise DataError(f"{path}: array shape {a.shape} has an empty axis; a volume needs >= 1 cell along each")
    a = a[..., None] if a.ndim == 3 else a  # (D, H, W, C)
    if a.dtype == bool:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.uint8))  # 0/1, one byte per cell
    x = np.array(a, dtype=np.float32, order="C")  # a copy: writable, and the mapped file is released
    if not np.isfinite(x).all():
        raise DataError(f"{path}: the volume holds NaN or inf values; repair it or save a finite array")
    return torch.from_numpy(x)


def sphere_volume(n: int = 32) -> torch.Tensor:
    """A generated occupancy (n, n, n, 1) uint8 0/1: a ball of radius 0.4 about the centre of (0, 1)^3 with a
    hollow ball of radius 0.2 cut out off-centre (centred at x = 0.6), so the shell is thicker on one side.
    A field must learn two surfaces, one of them inside, and an asymmetry. Deterministic."""
    check_arg("n", n, POSITIVE_INT)
    c = (np.arange(n, dtype=np.float64) + 0.5) / n  # (n,) cell centres along each axis
    z, y, x = np.meshgrid(c, c, c, indexing="ij")  # (n, n, n) each; array axes (D, H, W) = (z, y, x)
    outer = (x - 0.5) ** 2 + (y - 0.5) ** 2 + (z - 0.5) ** 2 < 0.4**2
    cavity = (x - 0.6) ** 2 + (y - 0.5) ** 2 + (z - 0.5) ** 2 < 0.2**2
    return torch.from_numpy((outer & ~cavity).astype(np.uint8)[..., None])  # (n, n, n, 1)


class VolumeDataModule(GridDataModule):
    """data=volume: one volume (D, H, W, C) in [0, 1]: occupancy as uint8 levels 0 and 255 (exactly 0 and 1),
    a numeric volume min-max scaled to [0, 1] (a constant one: 0). `path: null` is the generated sphere_volume."""

    domain = "volume"
    axis_names = ("depth", "row", "column")

    def __init__(
        self, path: str | None = None, size: int | None = None, batch_size: int | None = None, task: Task | None = None
    ) -> None:
        super().__init__(batch_size, task)
        check_arg("data.path", path, nullable(string()))
        check_arg("data.size", size, nullable(POSITIVE_INT))
        self.path, self.size = path, size

    def load(self) -> torch.Tensor:
        volume = sphere_volume() if self.path is None else read_volume(self.path)
        if volume.dtype == torch.uint8:  # occupancy 0/1, resampled: occupied where most of a new cell is
            self.scores = ("iou",)  # intersection over union of the occupied cells (the INR benchmark's)
            volume = volume if self.size is None else (resample(volume, self.size, "the volume") >= 0.5).to(torch.uint8)
            return volume * 255
        volume = resample(volume, self.size, "the volume")
        lo, hi = volume.min(), volume.max()
        return (volume - lo) / (hi - lo) if hi > lo else torch.zeros_like(volume)

    def write(self, values: torch.Tensor, stem: Path) -> Path:
        """prediction.npy (D, H, W, C) in [0, 1], and for occupancy its 0.5 surface as prediction.obj (returned,
        for W&B's Object3D) when the render has one."""
        path = stem.with_suffix(".npy")
        volume = values.float().cpu().numpy()
        np.save(path, volume)
        if "iou" not in self.scores:
            return path
        try:
            verts, faces = surface(volume[..., 0], level=0.5)
        except ValueError:  # no cell crosses 0.5: no surface yet
            return path
        return write_obj(stem.with_suffix(".obj"), verts, faces)
