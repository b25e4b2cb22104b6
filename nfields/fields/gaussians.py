"""field=gaussians: an image as a sum of 2-D Gaussians (GaussianImage, Zhang et al., ECCV 2024; Cholesky variant).

Each Gaussian has exactly 2 + 3 + C learnable numbers (8 for RGB), as GaussianImage-Cholesky:
* position: raw xy (2); mean = (tanh(xy) + 1) / 2 in (0, 1)^2 (GaussianImage: tanh onto [-1, 1] image space);
* Cholesky factor (3): L = [[l11, 0], [l21, l22]] = (raw + (0.5, 0, 0.5)) * unit, Sigma = L L^T
  (GaussianImage adds the same bound (0.5, 0, 0.5) to raw values drawn from U[0, 1), in pixels);
* colour (C): raw, no activation. GaussianImage's opacity is a constant buffer of ones, so it is folded
  into the colour and is not a parameter here at all.
The value at x is sum_i colour_i exp(-(x - mean_i)^T Sigma_i^-1 (x - mean_i) / 2), cut at `radius`
Mahalanobis units (nfields/fields/splat.py): accumulated blending, no alpha compositing.

Resolution: the Gaussians live in the continuous [0, 1]^2 of nfields' pixel centres, so the field is
the same function at any render size. GaussianImage measures L in pixels of its one image; here the
unit is `init_scale / sqrt(n_gaussians)`, the mean spacing of the Gaussians times init_scale, so a
Gaussian starts about init_scale spacings wide whatever the image size, and one learning rate suits
positions, shapes and colours alike.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from nfields.core.checks import POSITIVE, POSITIVE_INT, check_arg, integer, nullable, number, one_of
from nfields.core.errors import ConfigError
from nfields.fields.base import Field
from nfields.fields.conditioning.base import Conditioning
from nfields.fields.splat import plan, splat

EPS = 1e-8  # added to Sigma's diagonal ([0, 1]^2 units squared): sigma >= 1e-4, a collapsed Gaussian stays invertible
MAX_TILES = 1024
TILES_PER_BOX = 3  # field.tiles=null: tiles per median box width


class GaussianField(Field):
    """n_gaussians 2-D Gaussians splatted by accumulated blending; forward works on any coords (..., N, 2)."""

    budget_key = "n_gaussians"  # what budget.params sizes (run/budget.py): 8 numbers each for RGB
    vectorizable = False  # tile culling reads the positions (data-dependent shapes): model=many runs members one by one

    parts: ClassVar[tuple[str, ...]] = ("cond",)  # only to refuse one: encoding, network, latent are not used
    in_dims = (2,)  # 2-D Gaussians splatted on the image plane

    def __init__(
        self,
        out_dim: int,
        n_gaussians: int = 10000,
        init: str = "random",
        init_scale: float = 1.0,
        radius: float = 3.33,
        tiles: int | None = None,
        chunk: int = 1 << 18,
        seed: int = 0,
        cond: Callable[..., Conditioning] | None = None,
        own_code: bool = True,
    ) -> None:
        check_arg("field.n_gaussians", n_gaussians, POSITIVE_INT)
        check_arg("field.init", init, one_of("random", "grid"))
        check_arg("field.init_scale", init_scale, POSITIVE)
        check_arg("field.radius", radius, number(gt=0, le=10))
        check_arg("field.tiles", tiles, nullable(integer(lo=1, hi=MAX_TILES)))
        check_arg("field.chunk", chunk, POSITIVE_INT)
        check_arg("field.seed", seed, integer(lo=0))
        if cond is not None:  # own_code is a conditional field's; there is none here
            name = cond.func.__name__ if isinstance(cond, functools.partial) else type(cond).__name__
            fix = "field=gaussians has no latent code to condition: use cond=none (or field=neural)"
            raise ConfigError("cond", name.lower(), fix)
        super().__init__(out_dim)
        self.radius, self.tiles, self.chunk = float(radius), tiles, chunk
        self.unit = init_scale / math.sqrt(n_gaussians)  # [0, 1]^2 length of one Cholesky unit
        gen = torch.Generator().manual_seed(seed)  # the same Gaussians for the same seed
        mean = self.grid_means(n_gaussians, gen) if init == "grid" else torch.rand(n_gaussians, 2, generator=gen)
        # Parameters: 2 + 3 + C numbers per Gaussian, as GaussianImage's _xyz, _cholesky, _features_dc.
        self.xy = nn.Parameter(torch.atanh((2 * mean - 1).clamp(-1 + 1e-6, 1 - 1e-6)))  # (G, 2)
        self.cholesky = nn.Parameter(torch.rand(n_gaussians, 3, generator=gen))  # (G, 3)
        self.colour = nn.Parameter(torch.rand(n_gaussians, out_dim, generator=gen) * self.coverage())  # (G, C)
        self.register_buffer("bound", torch.tensor([0.5, 0.0, 0.5]))  # (3,) GaussianImage's cholesky_bound

    @staticmethod
    def grid_means(n: int, gen: torch.Generator) -> torch.Tensor:
        """n positions (n, 2): a ceil(sqrt n)^2 grid of cell centres, each jittered within its cell, n of them
        at random."""
        side = math.ceil(math.sqrt(n))
        cells = torch.randperm(side * side, generator=gen)[:n]  # (n,)
        ij = torch.stack([cells % side, cells // side], -1).float()  # (n, 2)
        return (ij + torch.rand(n, 2, generator=gen)) / side

    def coverage(self) -> float:
        """1 / the expected sum of weights at a point at initialisation, so the initial image has colours
        in [0, 1] rather than GaussianImage's saturated sum: sum_i w_i ~ 2 pi det(Sigma)^(1/2) n_gaussians."""
        mean_l = 1.0  # E[raw + 0.5] for raw ~ U[0, 1), diagonal entries
        return 1.0 / max(1.0, 2 * math.pi * (mean_l * self.unit) ** 2 * self.xy.shape[0])

    @property
    def n_gaussians(self) -> int:
        return self.xy.shape[0]

    def means(self) -> torch.Tensor:
        return (torch.tanh(self.xy) + 1) / 2  # (G, 2) in (0, 1)^2

    def covariances(self) -> torch.Tensor:
        """Sigma = L L^T as (s_uu, s_uv, s_vv) (G, 3), in [0, 1]^2 units squared."""
        l11, l21, l22 = ((self.cholesky + self.bound) * self.unit).unbind(-1)
        return torch.stack([l11 * l11 + EPS, l11 * l21, l21 * l21 + l22 * l22 + EPS], -1)

    def conics(self, cov: torch.Tensor) -> torch.Tensor:
        """Sigma^-1 as (a, b, c) (G, 3) from Sigma (G, 3)."""
        suu, suv, svv = cov.unbind(-1)
        det = suu * svv - suv * suv
        return torch.stack([svv, -suv, suu], -1) / det[:, None]

    def tile_count(self, half: torch.Tensor) -> int:
        """field.tiles, or (null) tiles 1 / TILES_PER_BOX of the median box wide, within [1, 1024]: a point's
        tile then meets Gaussians from about (4/3 box)^2 around it, for ~16 list entries per Gaussian; the
        count follows the Gaussians as they grow or shrink in training."""
        if self.tiles is not None:
            return self.tiles
        width = 2 * float(half.median())
        return max(1, min(MAX_TILES, int(TILES_PER_BOX / width)))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (..., N, 2) in [0, 1]^2 (any points: batches, grids, sub-pixel offsets) -> (..., N, C)."""
        shape = coords.shape[:-1]
        with torch.autocast(device_type=coords.device.type, enabled=False):  # fp32: conics span decades
            x = coords.reshape(-1, 2).float()  # (P, 2)
            mean, cov = self.means(), self.covariances()  # (G, 2), (G, 3)
            half = self.radius * cov[:, [0, 2]].detach().sqrt()  # (G, 2) half-sides of the radius ellipse's box
            pairs = plan(x, mean.detach() - half, mean.detach() + half, self.tile_count(half), self.chunk)
            out = splat(x, mean, self.conics(cov), self.colour.float(), pairs, self.radius)  # (P, C)
        return out.reshape(*shape, self.out_dim)
