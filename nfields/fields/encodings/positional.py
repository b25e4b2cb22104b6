"""encoding=positional: axis-aligned, log-linearly spaced frequencies (Tancik et al. 2020, 'positional')."""

from __future__ import annotations

import torch

from nfields.core.checks import NON_NEGATIVE, Check, check_arg, is_int
from nfields.fields.encodings.base import ProjectionEncoding, check_in_dim

PER_AXIS = 128  # frequencies per axis when n_features is null


def per_axis(in_dim: int) -> Check:
    """n_features is split evenly over the axes: a positive multiple of in_dim."""
    allowed = {1: "an integer >= 1", 2: "an even integer >= 2 (half per axis)"}
    return Check(
        lambda v: is_int(v) and v >= in_dim and v % in_dim == 0,
        allowed.get(in_dim, f"a multiple of {in_dim} >= {in_dim} (1/{in_dim} per axis)"),
    )


class Positional(ProjectionEncoding):
    """Frequencies 2^(scale * j / (k - 1)) - 1, j = 0..k-1, on each axis separately (the paper's notebook:
    `2.**linspace(0, scale, k) - 1`): j = 0 is frequency 0, a constant feature, and the top is 2^scale - 1.

    `n_features` is the number of rows of B, as for fourier, so both give
    out_dim = 2 * n_features at equal n_features: k = n_features // in_dim per axis. None: k = PER_AXIS on
    every axis (an image's 256 rows, the paper's).
    `scale` is log2(1 + the highest frequency), in cycles over the unit square.
    """

    def __init__(self, n_features: int | None = None, scale: float = 6.0, in_dim: int = 2) -> None:
        check_in_dim(in_dim)
        n_features = PER_AXIS * in_dim if n_features is None else n_features
        check_arg("encoding.n_features", n_features, per_axis(in_dim))
        check_arg("encoding.scale", scale, NON_NEGATIVE)
        k = n_features // in_dim
        freqs = 2.0 ** torch.linspace(0.0, scale, k, dtype=torch.float64) - 1  # (k,) 0 .. 2^scale - 1
        eye = torch.eye(in_dim, dtype=torch.float64)  # (in_dim, in_dim)
        B = (freqs[None, :, None] * eye[:, None, :]).reshape(n_features, in_dim)  # axis-major rows
        super().__init__(B)
        self.scale = scale
