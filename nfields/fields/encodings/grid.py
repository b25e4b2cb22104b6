"""encoding=grid: a dense grid of learned features, one or several resolutions, bilinear, with optional TV.

A plain regularised grid is the strongest baseline of the NeurIPS 2025 INR benchmark (voilalab/INR-benchmark,
models/grid.py: a learned grid sampled by F.grid_sample, TV_Reg in utils.py). Here it is an encoding, so the
field is grid -> network: `network=linear` (features -> colours) or a small `network=mlp`.

Geometry (pixel-consistent). A level of resolution r holds r x r vertices of F features; vertex (i, j) (row i
along v, column j along u) sits at ((j + 0.5) / r, (i + 0.5) / r): the pixel centres of an r x r image
(nfields/core/coords.py). A coordinate x in [0, 1] is at pos = x * r - 0.5 in vertex units, clamped to
[0, r - 1] (outside the outermost vertices the border value is kept, per axis), and the four vertices of its
cell are blended bilinearly: F.grid_sample(mode="bilinear", align_corners=False, padding_mode="border").
So a grid of resolution = the image side holding the image reproduces it exactly at every pixel, and a
render at any other resolution is the bilinear resampling of that image. (The benchmark uses
align_corners=True on [-1, 1] and bicubic sampling in 2-D; this grid is bilinear.)

Levels. n_levels = 1 is a single grid of `resolution`. With n_levels = L, level l (0 = coarsest) has
res_l = max(2, round(resolution / per_level_scale^(L - 1 - l))) vertices per axis: the finest is `resolution`,
each coarser one per_level_scale (default 2, an image pyramid) times coarser. The features of all levels
are concatenated, coarse first (out_dim = L * F), as the hash grid does; all levels are looked up at once.

Parameters: one flat table (sum_l res_l^2, F), level l's rows at offsets[l] + i * res_l + j; nothing else is
learned or padded, so sum(p.numel()) is sum_l res_l^2 * F. Initialised U(-init_scale, init_scale).

Total variation (the benchmark's TV_Reg, isotropic): for each level and feature, at every vertex with a
right and a lower neighbour, sqrt(du^2 + dv^2) of the forward differences du (along u) and dv (along v),
averaged over those (res_l - 1)^2 * F values; then the mean over levels, times tv_weight. Like TV_Reg the
squared norm is clamped below at eps^2 (eps = 1e-3: no infinite gradient at a flat spot), and eps is
subtracted, so a constant grid has TV exactly 0 (TV_Reg's value minus its constant floor eps).
"""

from __future__ import annotations

import torch
from torch import nn

from nfields.core.checks import NON_NEGATIVE, POSITIVE_INT, check_arg, integer, number
from nfields.fields.encodings.base import Encoding, check_in_dim

TV_EPS = 1e-3  # sqrt(clamp(., min=1e-6)) as the benchmark's TV_Reg


def level_resolutions(resolution: int, n_levels: int, per_level_scale: float) -> list[int]:
    """Vertices per axis of each level, coarsest first; the last is `resolution`."""
    return [max(2, round(resolution / per_level_scale ** (n_levels - 1 - lvl))) for lvl in range(n_levels)]


class Grid(Encoding):
    budget_key = "resolution"  # budget.params sizes the finest level's vertices per axis

    def __init__(
        self,
        resolution: int = 64,
        n_levels: int = 1,
        n_features_per_level: int = 4,
        per_level_scale: float = 2.0,
        init_scale: float = 0.1,
        tv_weight: float = 0.0,
        in_dim: int = 2,
    ) -> None:
        check_in_dim(in_dim, integer(lo=2, hi=2))  # a 2-D grid: images
        super().__init__(in_dim=in_dim)
        check_arg("encoding.resolution", resolution, integer(lo=2))  # 1: a single vertex, no interpolation
        check_arg("encoding.n_levels", n_levels, POSITIVE_INT)
        check_arg("encoding.n_features_per_level", n_features_per_level, POSITIVE_INT)
        check_arg("encoding.per_level_scale", per_level_scale, number(ge=1))
        check_arg("encoding.init_scale", init_scale, NON_NEGATIVE)
        check_arg("encoding.tv_weight", tv_weight, NON_NEGATIVE)
        self.n_levels, self.n_features_per_level, self.tv_weight = n_levels, n_features_per_level, float(tv_weight)
        self.resolutions = level_resolutions(resolution, n_levels, per_level_scale)
        sizes = [r * r for r in self.resolutions]
        offsets = [sum(sizes[:lvl]) for lvl in range(n_levels)]
        self.register_buffer("res", torch.tensor(self.resolutions), persistent=False)  # (L,) long
        self.register_buffer("offsets", torch.tensor(offsets), persistent=False)  # (L,) long
        table = torch.empty(sum(sizes), n_features_per_level).uniform_(-init_scale, init_scale)
        self.table = nn.Parameter(table)  # (sum_l res_l^2, F)

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.n_features_per_level

    def level(self, lvl: int) -> torch.Tensor:
        """Level lvl's features as an image (res, res, F): [i, j] is the vertex at ((j + .5) / res, (i + .5) / res)."""
        r, off = self.resolutions[lvl], sum(s * s for s in self.resolutions[:lvl])
        return self.table[off : off + r * r].view(r, r, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        lead = x.shape[:-1]
        with torch.autocast(device_type=x.device.type, enabled=False):
            xs = x.reshape(-1, 2).float()  # (N, 2) = (u, v)
            res = self.res[:, None, None]  # (L, 1, 1)
            pos = (xs[None] * res - 0.5).clamp(min=0).minimum(res - 1)  # (L, N, 2) vertex units, border clamp
            cell = pos.floor().minimum(res - 2)  # (L, N, 2): the cell's lower corner, <= res - 2 so pos = res - 1
            frac = pos - cell  # (L, N, 2) in [0, 1]         # lies in the last cell with frac = 1
            j, i = cell.long().unbind(-1)  # (L, N) column (u), row (v)
            base = self.offsets[:, None] + i * self.res[:, None] + j  # (L, N) row of the cell's corner (i, j)
            idx = torch.stack([base, base + 1, base + res[..., 0], base + res[..., 0] + 1], -1)  # (L, N, 4)
            fu, fv = frac.unbind(-1)  # (L, N)
            w = torch.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv], -1)  # (L, N, 4)
            out = (w[..., None] * self.table[idx]).sum(2)  # (L, N, F)
        return out.permute(1, 0, 2).reshape(*lead, self.out_dim)  # (..., L * F), level-major

    def total_variation(self) -> torch.Tensor:
        """Mean over levels of the isotropic TV of each level's features (module docstring) -> () unweighted."""
        tvs = []
        for lvl in range(self.n_levels):  # L is small; each level is a view of the table
            g = self.level(lvl).float()  # (r, r, F)
            du = g[:-1, 1:] - g[:-1, :-1]  # (r - 1, r - 1, F) along u, rows with a lower neighbour
            dv = g[1:, :-1] - g[:-1, :-1]  # (r - 1, r - 1, F) along v, columns with a right neighbour
            tvs.append(((du**2 + dv**2).clamp(min=TV_EPS**2).sqrt() - TV_EPS).mean())
        return torch.stack(tvs).mean()

    def regularization(self) -> torch.Tensor:
        """tv_weight * total_variation(); the constant 0 when tv_weight = 0 (nothing is computed)."""
        return self.tv_weight * self.total_variation() if self.tv_weight > 0 else super().regularization()
