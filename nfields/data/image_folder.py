"""data=image_folder: every image under data.root/<class>/ (torchvision ImageFolder layout), as RGB.

Images are decoded on access, centre-cropped and resized to data.size; the order is a
seeded shuffle, so val/test are a random sample of the folder.
"""

from __future__ import annotations

from typing import Any

import torch

from nfields.data.collection import CollectionDataModule, LazyImages
from nfields.data.torchvision_sets import open_torchvision, pil_reader

LAYOUT = "<root>/<class name>/<image>.png|.jpg|... (at least one subfolder of images; torchvision ImageFolder)"


class ImageFolderDataModule(CollectionDataModule):
    def __init__(self, root: str = "data/images", size: int | None = 64, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(size=size, **kwargs)
        self.root, self.seed = self.checked_root(root), seed

    def load_pools(self) -> tuple[LazyImages, None]:
        from torchvision.datasets import ImageFolder

        ds = open_torchvision(lambda: ImageFolder(self.root), "image folder", self.root, LAYOUT)
        order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(int(self.seed))).tolist()
        read = pil_reader(ds, self.size, self.upsample)
        return LazyImages(len(ds), lambda i: read(order[i])), None
