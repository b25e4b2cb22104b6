"""Latent layouts: how one flat code per image (B, code_dim) conditions each coordinate.

A latent source (autodecoder table or encoder, nfields/fields/latents/) produces a
flat vector per image; the layout reads it as
  * a global code (B, global_dim), the same for every pixel of the image, and/or
  * a grid of local codes (B, local_dim, G, G), bilinearly interpolated at each coordinate.
Conditionings ask the layout for what they need (`point_code`, `image_code`), so their
widths are derived from `global_dim` / `local_dim`, never typed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nfields.core.checks import POSITIVE_INT, check_arg


class Latent(nn.Module):
    """A parameter-free layout of a flat code. Subclasses set global_dim, local_dim, grid_size."""

    global_dim: int = 0
    local_dim: int = 0
    grid_size: int = 0

    def __init__(self, dim: int) -> None:
        super().__init__()
        check_arg("model.latent_dim", dim, POSITIVE_INT)  # the layout's `dim: ${model.latent_dim}`
        self.dim = dim

    @property
    def code_dim(self) -> int:
        """Numbers stored (autodecoder) or predicted (encoder) per image."""
        return self.global_dim + self.local_dim * self.grid_size**2

    @property
    def point_dim(self) -> int:
        """Width of the code seen by one coordinate: global and interpolated local codes concatenated."""
        return self.global_dim + self.local_dim

    @property
    def image_dim(self) -> int:
        """Width of one vector per image (the global code; the mean local code when there is none)."""
        return self.global_dim or self.local_dim

    def split(self, codes: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """codes (B, code_dim) -> global (B, global_dim) | None, grid (B, local_dim, G, G) | None."""
        if codes.shape[-1] != self.code_dim:
            raise ValueError(f"{type(self).__name__} expects codes of width {self.code_dim}, got {tuple(codes.shape)}")
        g = codes[:, : self.global_dim] if self.global_dim else None
        grid = None
        if self.local_dim:
            grid = codes[:, self.global_dim :].reshape(-1, self.local_dim, self.grid_size, self.grid_size)
        return g, grid

    def local_code(self, codes: torch.Tensor, coords: torch.Tensor) -> torch.Tensor | None:
        """Bilinear interpolation of the code grid at coords (B, N, 2) in [0, 1]^2 -> (B, N, local_dim)."""
        _, grid = self.split(codes)
        if grid is None:
            return None
        # grid_sample wants (x, y) = (u, v) in [-1, 1]; align_corners=False puts cell centres at the pixel-centre
        # convention of pixel_grid, and border padding keeps the edges at their nearest code.
        xy = (coords * 2 - 1).unsqueeze(1).to(grid.dtype)  # (B, 1, N, 2)
        out = F.grid_sample(grid, xy, mode="bilinear", padding_mode="border", align_corners=False)  # (B, D, 1, N)
        return out[:, :, 0].transpose(1, 2)  # (B, N, local_dim)

    def point_code(self, codes: torch.Tensor, coords: torch.Tensor, expand: bool = True) -> torch.Tensor:
        """The code each coordinate sees -> (B, N, point_dim); (B, 1, global_dim) if global-only and not expand."""
        g, _ = self.split(codes)
        loc = self.local_code(codes, coords)
        if loc is None:
            g = g.unsqueeze(1)  # (B, 1, global_dim)
            return g.expand(-1, coords.shape[1], -1) if expand else g
        if g is None:
            return loc
        return torch.cat([g.unsqueeze(1).expand(-1, loc.shape[1], -1), loc], dim=-1)  # (B, N, point_dim)

    def image_code(self, codes: torch.Tensor) -> torch.Tensor:
        """One vector per image -> (B, image_dim): the global code, or the mean of the local grid."""
        g, grid = self.split(codes)
        return g if g is not None else grid.mean(dim=(2, 3))


def check_grid_size(grid_size: int) -> int:
    """latent.grid_size (local and hybrid layouts): local codes per side."""
    check_arg("latent.grid_size", grid_size, POSITIVE_INT)
    return grid_size
