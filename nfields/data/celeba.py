"""data=celeba: aligned CelebA through torchvision from data.root (no download), centre-cropped to data.size.

Images are decoded on access (200k JPEGs do not fit in memory as floats).
"""

from __future__ import annotations

from typing import Any

from nfields.data.collection import CollectionDataModule, LazyImages
from nfields.data.torchvision_sets import open_torchvision, pil_reader

LAYOUT = (
    "<root>/celeba/img_align_celeba/*.jpg plus list_eval_partition.txt, identity_CelebA.txt, list_attr_celeba.txt, "
    "list_bbox_celeba.txt, list_landmarks_align_celeba.txt in <root>/celeba/ (torchvision.datasets.CelebA)"
)


class CelebADataModule(CollectionDataModule):
    def __init__(self, root: str = "data", size: int | None = 64, **kwargs: Any) -> None:
        super().__init__(size=size, **kwargs)
        self.root = self.checked_root(root)

    def load_pools(self) -> tuple[LazyImages, LazyImages]:
        from torchvision.datasets import CelebA

        pools = []
        for split in ("train", "test"):
            ds = open_torchvision(
                lambda s=split: CelebA(self.root, split=s, target_type=[], download=False), "CelebA", self.root, LAYOUT
            )
            pools.append(LazyImages(len(ds), pil_reader(ds, self.size, self.upsample)))
        return pools[0], pools[1]
