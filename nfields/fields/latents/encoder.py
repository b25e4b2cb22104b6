"""model.latent_source=encoder: a small CNN maps each image to its code (amortised inference).

Training and test-time optimisation encode the task's observation of each image (its
`display`: unobserved pixels zeroed, noise kept), never the clean image; TTO then refines
the code with the network frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from nfields.core.checks import POSITIVE_INT, check_arg
from nfields.fields.latents.source import LatentSource


class Encoder(LatentSource):
    dims = (2,)  # a 2-D CNN: images (B, H, W, C)

    def __init__(self, code_dim: int, n_train: int, channels: int, width: int = 32, pool: int = 4) -> None:
        super().__init__(code_dim, n_train, channels)
        check_arg("model.sources.encoder.width", width, POSITIVE_INT)
        check_arg("model.sources.encoder.pool", pool, POSITIVE_INT)
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(pool),  # (B, 2w, pool, pool): keeps coarse layout for local codes
            nn.Flatten(),
            nn.Linear(2 * width * pool * pool, code_dim),
        )

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, H, W, C) in [0, 1] -> (B, code_dim)."""
        return self.net(images.permute(0, 3, 1, 2) * 2 - 1)

    def forward(self, idx: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return self.encode(images)

    def init_codes(self, seen: torch.Tensor) -> torch.Tensor:
        return self.encode(seen).detach()
