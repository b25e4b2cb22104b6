"""Cell-centre coordinates: the one convention every layer shares (fields render, tasks observe, data build).

Images. (u, v) = (column, row) in (0, 1)^2, pixel (i, j) of an (h, w) image at ((j + 0.5) / w, (i + 0.5) / h).

d dimensions. A signal is values on a grid of shape (n_1, ..., n_d) (array axes, C-order, as stored). Its cell
with index (i_1, ..., i_d) sits at the centre ((i_d + 0.5) / n_d, ..., (i_1 + 0.5) / n_1) in (0, 1)^d: coordinate
k belongs to array axis d - 1 - k, so the last (fastest) array axis is the first coordinate, as u is the column
of an (H, W) image. Per domain (array shape -> coordinate order):

    audio  (T,)        -> (t,)
    image  (H, W)      -> (u, v)      = (column, row): exactly pixel_grid / flat_pixel_coords
    video  (T, H, W)   -> (u, v, t)
    volume (D, H, W)   -> (x, y, z)   = (along W, along H, along D)

A channel axis (C, last in storage) is not a grid axis: the grid is the shape without it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pixel_grid(h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Pixel-centre coordinates (h, w, 2) in (0, 1)^2, last dim (u, v) = (column, row).

    Centres ((j + 0.5) / w, (i + 0.5) / h) make one field renderable at any resolution:
    a 2x2 block of a fine grid averages to the centre of the coarse pixel it covers.
    """
    return cell_grid((h, w), device)  # the 2-D case of the d-dimensional grid


def flat_pixel_coords(flat: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Row-major pixel indices (B,) of an h x w image -> their pixel-centre coordinates (B, 2) = (u, v).

    The same values as pixel_grid(h, w).reshape(-1, 2)[flat], without building the whole grid."""
    flat = flat.long()
    return torch.stack([(flat % w + 0.5) / w, (flat // w + 0.5) / h], dim=-1).float()


def check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """A grid shape: one or more positive sizes (ValueError otherwise: a caller's bug, not a config)."""
    shape = tuple(int(n) for n in shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"a grid shape is one or more positive sizes, got {shape}")
    return shape


def cell_grid(shape: Sequence[int], device: torch.device | str | None = None) -> torch.Tensor:
    """Cell-centre coordinates (*shape, d) in (0, 1)^d of a grid of shape (n_1, ..., n_d); coordinate k runs
    along array axis d - 1 - k (module docstring). cell_grid((h, w)) is pixel_grid(h, w), bit for bit."""
    shape = check_shape(shape)
    axes = [(torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n for n in shape]  # d x (n_a,)
    mesh = torch.meshgrid(*axes, indexing="ij")  # d x shape, mesh[a] varies along array axis a
    return torch.stack(mesh[::-1], dim=-1)  # (*shape, d): coordinate k = array axis d - 1 - k


def flat_cell_coords(flat: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """C-order (row-major) cell indices (B,) of a grid of `shape` -> their cell-centre coordinates (B, d).

    The same values as cell_grid(shape).reshape(-1, d)[flat] without building the grid; for shape (h, w) the
    same as flat_pixel_coords(flat, h, w), which it uses there (one kernel less on every random image batch)."""
    shape = check_shape(shape)
    if len(shape) == 2:
        return flat_pixel_coords(flat, *shape)
    flat = flat.long()
    cols, stride = [], 1
    for n in reversed(shape):  # coordinate k: the last array axis first, stride = prod of the axes after it
        cols.append((flat // stride % n + 0.5) / n)  # integer index along the axis, then its centre
        stride *= n
    return torch.stack(cols, dim=-1).float()
