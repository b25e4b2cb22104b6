"""encoding=positional: axis-aligned, log-linearly spaced frequencies (NeRF / Tancik et al.)."""

from __future__ import annotations

import torch

from nfields.core.checks import Check, is_int
from nfields.fields.encodings.base import ProjectionEncoding


class Positional(ProjectionEncoding):
    """Frequencies 2^(scale * j / (k - 1)), j = 0..k-1, on each axis separately.

    `n_features` is the number of rows of B, as for fourier, so both give
    out_dim = 2 * n_features at equal n_features: k = n_features // in_dim per axis.
    `scale` is log2 of the highest frequency (cycles over the unit square).
    """

    # Checked by nfields/run/validate.py before any work (keys relative to the option).
    config_rules = {
        "n_features": Check(lambda v: is_int(v) and v >= 2 and v % 2 == 0, "an even integer >= 2 (half per axis)")
    }

    def __init__(self, n_features: int = 256, scale: float = 6.0, in_dim: int = 2) -> None:
        if n_features < in_dim or n_features % in_dim:
            raise ValueError(
                f"positional encoding: n_features must be a positive multiple of in_dim={in_dim}, got {n_features}"
            )
        if scale < 0:
            raise ValueError(f"positional encoding: scale must be >= 0, got {scale}")
        k = n_features // in_dim
        freqs = 2.0 ** torch.linspace(0.0, scale, k)  # (k,)
        eye = torch.eye(in_dim)  # (in_dim, in_dim)
        B = (freqs[None, :, None] * eye[:, None, :]).reshape(n_features, in_dim)  # axis-major rows
        super().__init__(B)
        self.scale = scale
