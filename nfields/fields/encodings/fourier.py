"""encoding=fourier: Gaussian random Fourier features (Tancik et al. 2020).

gamma(v) = [cos(2 pi B v), sin(2 pi B v)], B ~ N(0, sigma^2) of shape (n_features, 2).
sigma sets the bandwidth of the resulting kernel: too small is blurry, too large
is noisy (the paper's sweet spot for 512^2 natural images is sigma = 10).
"""

from __future__ import annotations

import torch

from nfields.core.checks import POSITIVE, POSITIVE_INT, check_arg, integer
from nfields.fields.encodings.base import ProjectionEncoding, check_in_dim


class GaussianFourier(ProjectionEncoding):
    """B is drawn once from its own seeded generator, so it is identical across runs
    with the same `seed` regardless of what else consumed the global RNG."""

    def __init__(self, n_features: int = 256, sigma: float = 10.0, in_dim: int = 2, seed: int = 0) -> None:
        check_in_dim(in_dim)
        check_arg("encoding.n_features", n_features, POSITIVE_INT)
        check_arg("encoding.sigma", sigma, POSITIVE)
        check_arg("encoding.seed", seed, integer(lo=0))
        gen = torch.Generator().manual_seed(seed)
        super().__init__(torch.randn(n_features, in_dim, generator=gen) * sigma)
        self.sigma = sigma
