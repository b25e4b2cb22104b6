"""Where the per-image codes come from during training and test-time optimisation."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class LatentSource(nn.Module):
    """Maps a batch of training images (their dataset indices and pixels) to flat codes (B, code_dim).

    `lr` is the source's own learning rate (None: model.lr); `reg_weight` scales the L2
    prior on codes, added to the loss in training and in test-time optimisation.
    A source with an inner loop (`inner_loop`, model.latent_source=meta) fits codes to each batch itself.
    """

    lr: float | None = None
    reg_weight: float = 0.0
    dims: tuple[int, ...] | None = None  # the signals' grid widths d it reads; None: any (it never reads a signal)
    # True: codes come from the source's own inner loop on the task's loss, in training and for unseen signals
    # (model.latent_source=meta: `adapt`), not from forward and test-time optimisation
    inner_loop: ClassVar[bool] = False

    def __init__(self, code_dim: int, n_train: int, channels: int) -> None:
        super().__init__()
        if code_dim < 1 or n_train < 1:
            raise ValueError(f"latent source: code_dim and n_train must be >= 1, got {code_dim}, {n_train}")
        self.code_dim, self.n_train, self.channels = code_dim, n_train, channels

    def forward(self, idx: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """idx (B,) training indices, images (B, H, W, C) -> codes (B, code_dim)."""
        raise NotImplementedError

    def init_codes(self, seen: torch.Tensor) -> torch.Tensor:
        """Starting codes for unseen images from their observations as images (B, H, W, C) -> (B, code_dim).

        `seen` is what the task shows of each image (unobserved pixels zero, noise kept), never the clean image."""
        raise NotImplementedError

    def regularization(self, codes: torch.Tensor) -> torch.Tensor:
        """L2 prior on the codes (DeepSDF's zero-mean Gaussian): reg_weight * mean_b ||z_b||^2."""
        if not self.reg_weight:
            return codes.new_zeros(())
        return self.reg_weight * codes.pow(2).sum(-1).mean()
