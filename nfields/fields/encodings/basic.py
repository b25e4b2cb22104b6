"""encoding=basic: [cos 2 pi v, sin 2 pi v] per coordinate (Tancik et al. 2020, 'basic')."""

from __future__ import annotations

import torch

from nfields.fields.encodings.base import ProjectionEncoding, check_in_dim


class Basic(ProjectionEncoding):
    """B = identity: one unit frequency per axis; out_dim = 2 * in_dim."""

    def __init__(self, in_dim: int = 2) -> None:
        super().__init__(torch.eye(check_in_dim(in_dim)))
