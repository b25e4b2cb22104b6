"""encoding=hashgrid: multiresolution hash encoding (Müller et al. 2022, Instant-NGP), in PyTorch.

Level l has a vertex grid of res_l = floor(base_resolution * per_level_scale^l) points per axis
spanning [0, 1]. A coordinate looks up the 2^d corners of its cell, in a dense table when
res_l^d vertices fit in 2^log2_hashmap_size entries and through the spatial hash
(x * 1 XOR y * 2654435761) mod T otherwise, and interpolates their learned features
(multi-)linearly. All levels are looked up at once from one flat table: no Python loop over
levels or pixels. Names follow tiny-cuda-nn's config.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from nfields.fields.encodings.base import Encoding

PRIMES = (1, 2654435761, 805459861)  # tiny-cuda-nn's per-axis hash primes


class HashGrid(Encoding):
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
        super().__init__(in_dim=in_dim)
        checks = {
            "n_levels": n_levels >= 1,
            "n_features_per_level": n_features_per_level >= 1,
            "log2_hashmap_size": 1 <= log2_hashmap_size <= 30,
            "base_resolution": base_resolution >= 2,
            "per_level_scale": per_level_scale >= 1.0,
            "in_dim": in_dim <= len(PRIMES),
        }
        for key, ok in checks.items():
            if not ok:
                raise ValueError(f"hashgrid encoding: invalid {key}={locals()[key]!r} (see tiny-cuda-nn's HashGrid)")
        self.n_levels, self.n_features_per_level = n_levels, n_features_per_level
        T = 2**log2_hashmap_size
        res = [math.floor(base_resolution * per_level_scale**lvl) for lvl in range(n_levels)]
        sizes = [min(T, r**in_dim) for r in res]
        offsets = [0, *itertools.accumulate(sizes)][:-1]
        self.register_buffer("res", torch.tensor(res, dtype=torch.long), persistent=False)  # (L,)
        self.register_buffer("dense", torch.tensor([r**in_dim <= T for r in res]), persistent=False)  # (L,)
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.long), persistent=False)  # (L,)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)  # (L,)
        self.table = nn.Parameter(torch.empty(sum(sizes), n_features_per_level).uniform_(-init_scale, init_scale))
        corners = torch.tensor(list(itertools.product((0, 1), repeat=in_dim)), dtype=torch.long)  # (2^d, d)
        self.register_buffer("corners", corners, persistent=False)
        self.register_buffer("primes", torch.tensor(PRIMES[:in_dim], dtype=torch.long), persistent=False)

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.n_features_per_level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        lead = x.shape[:-1]
        with torch.autocast(device_type=x.device.type, enabled=False):
            xs = x.reshape(-1, self.in_dim).float().clamp(0, 1)  # (N, d)
            scale = (self.res - 1).float()[:, None, None]  # (L, 1, 1)
            pos = xs[None] * scale  # (L, N, d) in vertex units
            cell = pos.floor().long().clamp(max=(self.res - 2)[:, None, None])  # (L, N, d)
            frac = pos - cell  # (L, N, d) in [0, 1]
            vert = cell[:, :, None, :] + self.corners  # (L, N, 2^d, d)
            # Bilinear weights: prod over axes of frac (corner bit 1) or 1 - frac (bit 0).
            w = torch.where(self.corners.bool(), frac[:, :, None, :], 1 - frac[:, :, None, :]).prod(-1)  # (L, N, 2^d)
            idx = self.index(vert)  # (L, N, 2^d)
            feats = self.table[idx]  # (L, N, 2^d, F)
            out = (w[..., None] * feats).sum(2)  # (L, N, F)
        return out.permute(1, 0, 2).reshape(*lead, self.out_dim)  # (..., L * F)

    def index(self, vert: torch.Tensor) -> torch.Tensor:
        """Vertex coordinates (L, N, K, d) -> rows of the flat table (L, N, K)."""
        res = self.res[:, None, None]
        dense = torch.zeros_like(vert[..., 0])
        for axis in reversed(range(self.in_dim)):  # row-major dense index (d <= 3 iterations)
            dense = dense * res + vert[..., axis]
        hashed = torch.zeros_like(dense)
        for axis in range(self.in_dim):
            hashed ^= vert[..., axis] * self.primes[axis]
        local = torch.where(self.dense[:, None, None], dense, hashed % self.sizes[:, None, None])
        return local + self.offsets[:, None, None]
