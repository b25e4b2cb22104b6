"""Pixel-centre coordinates: the one convention every layer shares (fields render, tasks observe, data build).

(u, v) = (column, row) in (0, 1)^2, pixel (i, j) at ((j + 0.5) / w, (i + 0.5) / h).
"""

from __future__ import annotations

import torch


def pixel_grid(h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Pixel-centre coordinates (h, w, 2) in (0, 1)^2, last dim (u, v) = (column, row).

    Centres ((j + 0.5) / w, (i + 0.5) / h) make one field renderable at any resolution:
    a 2x2 block of a fine grid averages to the centre of the coarse pixel it covers.
    """
    v = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    u = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack([uu, vv], dim=-1)


def flat_pixel_coords(flat: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Row-major pixel indices (B,) of an h x w image -> their pixel-centre coordinates (B, 2) = (u, v).

    The same values as pixel_grid(h, w).reshape(-1, 2)[flat], without building the whole grid."""
    flat = flat.long()
    return torch.stack([(flat % w + 0.5) / w, (flat // w + 0.5) / h], dim=-1).float()
