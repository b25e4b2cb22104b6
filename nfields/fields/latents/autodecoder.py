"""model.latent_source=autodecoder: one learnable code per training image (DeepSDF, Park et al. 2019).

Codes are trained jointly with the network with their own learning rate (model.latent_lr)
and an L2 prior (model.code_reg). Unseen images start from the prior mean (zero) and
are fitted by test-time optimisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nfields.core.checks import NON_NEGATIVE, POSITIVE, check_arg
from nfields.fields.latents.source import LatentSource


class AutoDecoder(LatentSource):
    def __init__(
        self,
        code_dim: int,
        n_train: int,
        channels: int,
        lr: float = 1e-3,
        reg_weight: float = 1e-4,
        init_std: float | None = None,
    ) -> None:
        super().__init__(code_dim, n_train, channels)
        check_arg("model.latent_lr", lr, POSITIVE)
        check_arg("model.code_reg", reg_weight, NON_NEGATIVE)
        self.lr, self.reg_weight = float(lr), float(reg_weight)
        self.codes = nn.Embedding(n_train, code_dim)  # (n_train, code_dim)
        # DeepSDF's init N(0, 1/d): codes small but non-zero, so identity-initialised FiLM layers still get gradients.
        nn.init.normal_(self.codes.weight, 0.0, init_std if init_std is not None else 1.0 / math.sqrt(code_dim))

    def forward(self, idx: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        if int(idx.max()) >= self.n_train:
            raise IndexError(f"autodecoder has {self.n_train} codes, got training index {int(idx.max())}")
        return self.codes(idx)  # (B, code_dim)

    def init_codes(self, seen: torch.Tensor) -> torch.Tensor:
        return seen.new_zeros(seen.shape[0], self.code_dim)  # the prior's mean
