"""data=fashion_mnist: the 70,000 28x28 grayscale images installed by the Debian package dataset-fashion-mnist.

Reads the IDX files (gzipped or not) directly: 60,000 training and 10,000 test images.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nfields.core.errors import DatasetMissing, ImageError
from nfields.data.collection import CollectionDataModule, TensorImages

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"


def read_idx_images(path: Path) -> torch.Tensor:
    """An IDX3 file (magic 2051) -> uint8 (N, H, W)."""
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    magic, n, h, w = np.frombuffer(raw[:16], dtype=">i4")
    if magic != 2051 or len(raw) != 16 + n * h * w:
        raise ImageError(
            f"{path} is not an IDX image file (magic {magic}, {len(raw)} bytes for {n}x{h}x{w}); "
            "replace it (a truncated download?) or point data.root to a good copy"
        )
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w).copy())


def find_idx(root: Path, stem: str) -> Path | None:
    return next((p for p in (root / f"{stem}.gz", root / stem) if p.exists()), None)


class FashionMNISTDataModule(CollectionDataModule):
    def __init__(self, root: str = DEFAULT_ROOT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(self.checked_root(root))

    def load_pools(self) -> tuple[TensorImages, TensorImages]:
        stems = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
        paths = [find_idx(self.root, s) for s in stems]
        if None in paths:
            raise DatasetMissing(
                f"Fashion-MNIST not found in data.root={self.root} (expected {stems[0]}.gz and {stems[1]}.gz): "
                f"install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
                f"or point data.root at a folder holding those IDX files"
            )
        return TensorImages(read_idx_images(paths[0])), TensorImages(read_idx_images(paths[1]))
