"""encoding=grid: a dense grid of learned features, one or several resolutions, multilinear, with optional TV.

A plain regularised grid is the strongest baseline of the NeurIPS 2025 INR benchmark (voilalab/INR-benchmark,
models/grid.py: a learned grid sampled by F.grid_sample, TV_Reg in utils.py). Here it is an encoding, so the
field is grid -> network: `network=linear` (features -> colours) or a small `network=mlp`.

Geometry (cell-consistent, d = in_dim in 1, 2, 3). A level of resolution r holds r^d vertices of F features;
along every coordinate, vertex i sits at (i + 0.5) / r: the cell centres of an r^d grid (nfields/core/coords.py).
In 2-D vertex (i, j) (row i along v, column j along u) is at ((j + 0.5) / r, (i + 0.5) / r), the pixel centres
of an r x r image. A coordinate x in [0, 1] is at pos = x * r - 0.5 in vertex units, clamped to [0, r - 1]
(outside the outermost vertices the border value is kept, per axis), and the 2^d vertices of its cell are
blended multilinearly (linear in 1-D, bilinear in 2-D, trilinear in 3-D). In 2-D that is
F.grid_sample(mode="bilinear", align_corners=False, padding_mode="border"), and in 3-D its 5-D trilinear
counterpart. So a grid of resolution = the image side holding the image reproduces it exactly at every pixel,
and a render at any other resolution is the bilinear resampling of that image. (The benchmark uses
align_corners=True on [-1, 1] and bicubic sampling in 2-D; this grid is bilinear.)

Interpolation. The plain case (no gradient in x asked for) runs F.grid_sample per level in 2-D and 3-D, faster
than gathering the corners (`scripts/bench.py --case grid_paths`); when x requires grad (normals, eikonal terms)
the corners are gathered and blended by products of the fractional weights, differentiable twice in x in any
torch (grid_sample's double backward is recent) and deterministic on CUDA. Both give the same numbers to rounding.

Levels. n_levels = 1 is a single grid of `resolution`. With n_levels = L, level l (0 = coarsest) has
res_l = max(2, round(resolution / per_level_scale^(L - 1 - l))) vertices per axis: the finest is `resolution`,
each coarser one per_level_scale (default 2, an image pyramid) times coarser. The features of all levels
are concatenated, coarse first (out_dim = L * F), as the hash grid does; all levels are looked up at once.

Parameters: one flat table (sum_l res_l^d, F), C-order with coordinate 0 fastest: level l's vertex with index
i_k along coordinate k is row offsets[l] + sum_k i_k * res_l^k (2-D: offsets[l] + i * res_l + j). Nothing
else is learned or padded, so sum(p.numel()) is sum_l res_l^d * F. Initialised U(-init_scale, init_scale).

Total variation (the benchmark's TV_Reg, isotropic, per axis in any d): for each level and feature, at every
vertex with a next neighbour along every axis, sqrt(sum_k d_k^2) of the forward differences d_k along each
coordinate (2-D: sqrt(du^2 + dv^2)), averaged over those (res_l - 1)^d * F values; then the mean over levels,
times tv_weight. Like TV_Reg the squared norm is clamped below at eps^2 (eps = 1e-3: no infinite gradient at a
flat spot), and eps is subtracted, so a constant grid has TV exactly 0 (TV_Reg's value minus its constant floor
eps). In 1-D that is the mean |difference| (above eps).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from nfields.core.checks import NON_NEGATIVE, POSITIVE_INT, check_arg, integer, number
from nfields.fields.encodings.base import Encoding, check_in_dim, precise

TV_EPS = 1e-3  # sqrt(clamp(., min=1e-6)) as the benchmark's TV_Reg
MAX_DIM = 3  # audio, images, video and volumes; 2^d corners and res^d vertices grow fast beyond


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
        check_in_dim(in_dim, integer(lo=1, hi=MAX_DIM))
        super().__init__(in_dim=in_dim)
        check_arg("encoding.resolution", resolution, integer(lo=2))  # 1: a single vertex, no interpolation
        check_arg("encoding.n_levels", n_levels, POSITIVE_INT)
        check_arg("encoding.n_features_per_level", n_features_per_level, POSITIVE_INT)
        check_arg("encoding.per_level_scale", per_level_scale, number(ge=1))
        check_arg("encoding.init_scale", init_scale, NON_NEGATIVE)
        check_arg("encoding.tv_weight", tv_weight, NON_NEGATIVE)
        self.n_levels, self.n_features_per_level, self.tv_weight = n_levels, n_features_per_level, float(tv_weight)
        self.resolutions = level_resolutions(resolution, n_levels, per_level_scale)
        sizes = [r**in_dim for r in self.resolutions]
        offsets = [sum(sizes[:lvl]) for lvl in range(n_levels)]
        self.register_buffer("res", torch.tensor(self.resolutions), persistent=False)  # (L,) long
        self.register_buffer("offsets", torch.tensor(offsets), persistent=False)  # (L,) long
        table = torch.empty(sum(sizes), n_features_per_level).uniform_(-init_scale, init_scale)
        self.table = nn.Parameter(table)  # (sum_l res_l^d, F)
        corners = torch.tensor(list(itertools.product((0, 1), repeat=in_dim)), dtype=torch.long).flip(-1)
        self.register_buffer("corners", corners, persistent=False)  # (2^d, d): coordinate 0's bit fastest
        strides = [[r**k for k in range(in_dim)] for r in self.resolutions]  # res_l^k: coordinate 0 fastest
        self.register_buffer("strides", torch.tensor(strides), persistent=False)  # (L, d) long

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.n_features_per_level

    def level(self, lvl: int) -> torch.Tensor:
        """Level lvl's features as a signal (res,) * d + (F,), array axes in the order of nfields/core/coords.py:
        2-D: (res, res, F), [i, j] the vertex at ((j + .5) / res, (i + .5) / res); 3-D: [k, i, j] at (j, i, k)."""
        r, d = self.resolutions[lvl], self.in_dim
        off = sum(s**d for s in self.resolutions[:lvl])
        return self.table[off : off + r**d].view(*(r,) * d, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        lead = x.shape[:-1]
        with torch.autocast(device_type=x.device.type, enabled=False):
            xs = x.reshape(-1, self.in_dim).to(precise(self.table))  # (N, d): fp32 (float64 after .double())
            if self.sampled(x):
                out = self.sample(xs)  # (L, N, F)
            else:
                out = self.bilinear(xs) if self.in_dim == 2 else self.multilinear(xs)  # (L, N, F)
        return out.permute(1, 0, 2).reshape(*lead, self.out_dim)  # (..., L * F), level-major

    def sampled(self, x: torch.Tensor) -> bool:
        """Whether F.grid_sample computes this forward: in 2-D and 3-D when no gradient in x is asked for (the plain
        case, where its kernels are faster than the gathers: BENCHMARKS.md). The gathers are differentiable twice
        in any torch (an eikonal term differentiates the gradient in x; grid_sample's double backward is recent)
        and deterministic on CUDA, where grid_sample's backward is not."""
        deterministic = x.is_cuda and torch.are_deterministic_algorithms_enabled()
        return self.in_dim > 1 and not x.requires_grad and not deterministic

    def sample(self, xs: torch.Tensor) -> torch.Tensor:
        """(N, d) -> (L, N, F) by F.grid_sample per level: the same geometry as multilinear (module docstring)."""
        d = self.in_dim
        grid = (2 * xs - 1).view(1, *(1,) * (d - 1), -1, d)  # (1, [1,] 1, N, d) in [-1, 1], coordinate 0 first
        outs = []
        for lvl in range(self.n_levels):  # L is small
            g = self.level(lvl).to(xs.dtype).permute(d, *range(d)).unsqueeze(0)  # (1, F) + (r,) * d
            out = F.grid_sample(g, grid, mode="bilinear", padding_mode="border", align_corners=False)
            outs.append(out.reshape(g.shape[1], -1).t())  # (N, F)
        return torch.stack(outs)  # (L, N, F)

    def multilinear(self, xs: torch.Tensor) -> torch.Tensor:
        """(N, d) fp32 -> (L, N, F), any d: the 2^d corners of each point's cell, weights prod_k (1 - f_k or f_k)."""
        res = self.res[:, None, None]  # (L, 1, 1)
        pos = (xs[None] * res - 0.5).clamp(min=0).minimum(res - 1)  # (L, N, d) vertex units, border clamp
        cell = pos.floor().minimum(res - 2)  # (L, N, d): lower corner; pos = res - 1 lies in the last cell, f = 1
        frac = pos - cell  # (L, N, d) in [0, 1]
        vert = cell.long()[:, :, None, :] + self.corners  # (L, N, 2^d, d)
        idx = self.offsets[:, None, None] + (vert * self.strides[:, None, None, :]).sum(-1)  # (L, N, 2^d) rows
        w = torch.where(self.corners.bool(), frac[:, :, None, :], 1 - frac[:, :, None, :]).prod(-1)  # (L, N, 2^d)
        return (w[..., None] * self.table[idx]).sum(2)  # (L, N, F)

    def bilinear(self, xs: torch.Tensor) -> torch.Tensor:
        """(N, 2) = (u, v) fp32 -> (L, N, F): the 2-D case written out (its float results are the reference ones)."""
        res = self.res[:, None, None]  # (L, 1, 1)
        pos = (xs[None] * res - 0.5).clamp(min=0).minimum(res - 1)  # (L, N, 2) vertex units, border clamp
        cell = pos.floor().minimum(res - 2)  # (L, N, 2): the cell's lower corner, <= res - 2
        frac = pos - cell  # (L, N, 2) in [0, 1]; pos = res - 1 lies in the last cell with frac = 1
        j, i = cell.long().unbind(-1)  # (L, N) column (u), row (v)
        base = self.offsets[:, None] + i * self.res[:, None] + j  # (L, N) row of the cell's corner (i, j)
        idx = torch.stack([base, base + 1, base + res[..., 0], base + res[..., 0] + 1], -1)  # (L, N, 4)
        fu, fv = frac.unbind(-1)  # (L, N)
        w = torch.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv], -1)  # (L, N, 4)
        return (w[..., None] * self.table[idx]).sum(2)  # (L, N, F)

    def total_variation(self) -> torch.Tensor:
        """Mean over levels of the isotropic TV of each level's features (module docstring) -> () unweighted."""
        d, tvs = self.in_dim, []
        inner = (slice(None, -1),) * d  # vertices with a next neighbour along every axis: (r - 1,) * d
        for lvl in range(self.n_levels):  # L is small; each level is a view of the table
            g = self.level(lvl).float()  # (r,) * d + (F,)
            sq = None
            for k in range(d):  # coordinate k = array axis d - 1 - k (2-D: du along u first, then dv along v)
                ahead = tuple(slice(1, None) if a == d - 1 - k else slice(None, -1) for a in range(d))
                step = g[ahead] - g[inner]  # (r - 1,) * d + (F,): forward difference along coordinate k
                sq = step**2 if sq is None else sq + step**2
            tvs.append((sq.clamp(min=TV_EPS**2).sqrt() - TV_EPS).mean())
        return torch.stack(tvs).mean()

    def regularization(self) -> torch.Tensor:
        """tv_weight * total_variation(); the constant 0 when tv_weight = 0 (nothing is computed)."""
        return self.tv_weight * self.total_variation() if self.tv_weight > 0 else super().regularization()
