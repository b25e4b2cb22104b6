"""encoding=hashgrid: multiresolution hash encoding (Müller et al. 2022, Instant-NGP), in PyTorch.

Names and geometry follow tiny-cuda-nn's HashGrid (include/tiny-cuda-nn/encodings/grid.h), so a
tcnn config means the same grid here. Level l has

    scale_l = base_resolution * per_level_scale^l - 1     cells per unit length (stored in fp32, as tcnn)
    res_l   = ceil(scale_l) + 1                            vertices per axis

and a coordinate x in [0, 1] sits at pos = x * scale_l + 0.5 in vertex units: the half-cell
offset moves every level's vertices off 0, 1 and the other points that all levels would share
(x = k / scale_l for each l) without it. The 2^d corners of pos's cell are looked up in the
level's table, dense (row-major, axis 0 fastest) when res_l^d fits in the level, else through
tcnn's spatial hash (XOR of vertex * (1, 2654435761, 805459861), 32-bit), modulo the level's
size, and interpolated (multi-)linearly. Level sizes are tcnn's: res_l^d rounded up to a
multiple of 8, capped at 2^log2_hashmap_size; the flat table (rows, n_features_per_level) has
tcnn's parameter layout. As in tcnn, near x = 1 a level can touch the vertex one past its last
(res_l) with a nonzero weight; its index wraps modulo the level's size like tcnn's.

All levels are looked up at once: no Python loop over levels or points (only over d <= 3 axes).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from nfields.core.checks import NON_NEGATIVE, POSITIVE_INT, check_arg, integer, number
from nfields.fields.encodings.base import Encoding, check_in_dim, precise

PRIMES = (1, 2654435761, 805459861)  # tiny-cuda-nn's per-axis hash primes
# 2^30 rows x 2 fp32 features is already 8 GiB per hashed level; 31 overflows tcnn's 32-bit parameter
# offsets for n_features_per_level >= 2 and 32 its `1u << log2_hashmap_size`, so nothing above is a tcnn config.
MAX_LOG2_HASHMAP_SIZE = 30


class HashGrid(Encoding):
    budget_key = "log2_hashmap_size"  # budget.params sizes the hash tables

    def __init__(
        self,
        n_levels: int = 16,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 15,
        base_resolution: int = 16,
        per_level_scale: float = 1.26,
        in_dim: int = 2,
        init_scale: float = 1e-4,
    ) -> None:
        check_in_dim(in_dim, integer(lo=1, hi=len(PRIMES)))
        super().__init__(in_dim=in_dim)
        check_arg("encoding.n_levels", n_levels, POSITIVE_INT)
        check_arg("encoding.n_features_per_level", n_features_per_level, POSITIVE_INT)
        check_arg("encoding.log2_hashmap_size", log2_hashmap_size, integer(lo=1, hi=MAX_LOG2_HASHMAP_SIZE))
        check_arg("encoding.base_resolution", base_resolution, integer(lo=2))  # 1: a level with one vertex per axis
        check_arg("encoding.per_level_scale", per_level_scale, number(ge=1))
        check_arg("encoding.init_scale", init_scale, NON_NEGATIVE)
        self.n_levels, self.n_features_per_level = n_levels, n_features_per_level
        # tcnn: exp2f(l * log2(per_level_scale)) * base_resolution - 1 in fp32. Here in double, rounded to fp32, so the
        # grid is the same on every device and library (fp32 exp2 implementations differ by an ulp or two).
        # (On the CPU whatever the default device: the sizes below are read from it, also when built on "meta".)
        scale = [2 ** (lvl * math.log2(per_level_scale)) * base_resolution - 1 for lvl in range(n_levels)]
        scale = torch.tensor(scale, device="cpu")
        res = [math.ceil(s) + 1 for s in scale.tolist()]  # from the fp32 value: a whole scale stays whole
        sizes = [min(-(-(r**in_dim) // 8) * 8, 2**log2_hashmap_size) for r in res]  # tcnn's params_in_level
        offsets = [0, *itertools.accumulate(sizes)][:-1]
        self.register_buffer("scale", scale, persistent=False)  # (L,) fp32
        self.register_buffer("res", torch.tensor(res, dtype=torch.long), persistent=False)  # (L,)
        dense = [r**in_dim <= size for r, size in zip(res, sizes, strict=True)]
        self.register_buffer("dense", torch.tensor(dense), persistent=False)  # (L,)
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.long), persistent=False)  # (L,)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)  # (L,)
        self.table = nn.Parameter(torch.empty(sum(sizes), n_features_per_level).uniform_(-init_scale, init_scale))
        corners = torch.tensor(list(itertools.product((0, 1), repeat=in_dim)), dtype=torch.long)  # (2^d, d)
        self.register_buffer("corners", corners, persistent=False)
        self.register_buffer("primes", torch.tensor(PRIMES[:in_dim], dtype=torch.long), persistent=False)  # (d,)

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.n_features_per_level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        lead = x.shape[:-1]
        with torch.autocast(device_type=x.device.type, enabled=False):
            # (N, d) in fp32 (float64 after .double())
            xs = x.reshape(-1, self.in_dim).to(precise(self.table)).clamp(0, 1)
            pos = xs[None] * self.scale[:, None, None] + 0.5  # (L, N, d) in vertex units, half-cell offset
            cell = pos.floor()  # (L, N, d)
            frac = pos - cell  # (L, N, d) in [0, 1)
            feats = self.table[self.index(cell.long())]  # (L, N, 2^d, F)
            out = (self.weights(frac)[..., None] * feats).sum(2)  # (L, N, F)
        return out.permute(1, 0, 2).reshape(*lead, self.out_dim)  # (..., L * F), level-major as tcnn

    def corner_grid(self, lo: torch.Tensor, hi: torch.Tensor, op: str) -> torch.Tensor:
        """Per-axis values at a cell's low and high vertex, lo, hi (L, N, d) -> their combination over the 2^d
        corners (L, N, 2^d) by `op` ("mul": a product, "xor", "add"), in `corners`' order (axis 0 slowest).
        Built by broadcasting one axis at a time: the (L, N, 2^d, d) tensor of corner vertices is never formed."""
        d = self.in_dim
        out = None
        for axis in range(d):
            view = [1] * d
            view[axis] = 2
            pair = torch.stack((lo[..., axis], hi[..., axis]), -1).view(*lo.shape[:2], *view)  # (L, N, 1.., 2, ..1)
            out = pair if out is None else out * pair if op == "mul" else out ^ pair if op == "xor" else out + pair
        return out.reshape(*lo.shape[:2], 2**d)

    def weights(self, frac: torch.Tensor) -> torch.Tensor:
        """Multilinear weights (L, N, 2^d): the product over axes of frac (corner bit 1) or 1 - frac (bit 0)."""
        return self.corner_grid(1 - frac, frac, "mul")

    def index(self, cell: torch.Tensor) -> torch.Tensor:
        """A cell's low vertex (L, N, d) -> the rows of its 2^d corners in the flat table (L, N, 2^d), tcnn's
        grid_index per level: dense row-major (axis 0 fastest) or the XOR of vertex * prime, both per axis."""
        res = self.res[:, None, None]  # (L, 1, 1)
        stride = torch.ones_like(cell)  # (L, N, d): res_l^axis
        for axis in range(1, self.in_dim):
            stride[..., axis] = stride[..., axis - 1] * res[..., 0]
        dense = self.corner_grid(cell * stride, (cell + 1) * stride, "add")  # (L, N, 2^d)
        hashed = self.corner_grid(cell * self.primes, (cell + 1) * self.primes, "xor")
        hashed &= 0xFFFFFFFF  # tcnn hashes in uint32
        local = torch.where(self.dense[:, None, None], dense, hashed) % self.sizes[:, None, None]
        return local + self.offsets[:, None, None]
