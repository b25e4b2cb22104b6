"""data=cifar10: CIFAR-10 through torchvision from data.root (no download): 50,000 train + 10,000 test, 32x32 RGB."""

from __future__ import annotations

from typing import Any

import torch

from nfields.data.collection import CollectionDataModule, TensorImages
from nfields.data.torchvision_sets import open_torchvision

LAYOUT = "<root>/cifar-10-batches-py/ with data_batch_1..5 and test_batch (torchvision.datasets.CIFAR10)"


class CIFAR10DataModule(CollectionDataModule):
    def __init__(self, root: str = "data", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = self.checked_root(root)

    def load_pools(self) -> tuple[TensorImages, TensorImages]:
        from torchvision.datasets import CIFAR10

        train, test = (
            open_torchvision(lambda t=t: CIFAR10(self.root, train=t, download=False), "CIFAR-10", self.root, LAYOUT)
            for t in (True, False)
        )
        return TensorImages(torch.from_numpy(train.data)), TensorImages(torch.from_numpy(test.data))  # (N, 32, 32, 3)
