"""data=mnist: MNIST through torchvision from data.root (no download): 60,000 train + 10,000 test, 28x28."""

from __future__ import annotations

from typing import Any

from nfields.data.collection import CollectionDataModule, TensorImages
from nfields.data.torchvision_sets import open_torchvision

LAYOUT = "<root>/MNIST/raw/train-images-idx3-ubyte and t10k-images-idx3-ubyte (torchvision.datasets.MNIST)"


class MNISTDataModule(CollectionDataModule):
    def __init__(self, root: str = "data", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = self.checked_root(root)

    def load_pools(self) -> tuple[TensorImages, TensorImages]:
        from torchvision.datasets import MNIST

        train, test = (
            open_torchvision(lambda t=t: MNIST(self.root, train=t, download=False), "MNIST", self.root, LAYOUT)
            for t in (True, False)
        )
        return TensorImages(train.data), TensorImages(test.data)  # uint8 (N, 28, 28)
