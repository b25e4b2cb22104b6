"""data=faces: the LFW subset that ships inside the scikit-image wheel (`skimage.data.lfw_subset()`), a small
collection of 25x25 grey faces that needs no download.

The subset holds 200 images: the first 100 are faces, the last 100 crops of the photos' backgrounds (non-faces,
skimage's documentation says). `data.non_faces=false` (the default) keeps the 100 faces; `true` keeps all 200
(its val and test images are then non-faces: the split takes them from the end). The split is the collections'
(data/collection.py) on the stored order, so it is the same in every run: val = the last `n_val` images,
test = the `n_test` before them, train = the first `limit` of the rest.
"""

from __future__ import annotations

from typing import Any

import skimage.data
import torch

from nfields.core.checks import boolean, check_arg
from nfields.data.collection import CollectionDataModule, TensorImages

N_FACES = 100  # lfw_subset()[:100] are faces, [100:] non-faces


class FacesDataModule(CollectionDataModule):
    def __init__(self, non_faces: bool = False, **kw: Any) -> None:
        check_arg("data.non_faces", non_faces, boolean())
        super().__init__(**kw)
        self.non_faces = non_faces

    def load_pools(self) -> tuple[TensorImages, None]:
        images = skimage.data.lfw_subset()  # (200, 25, 25) float64 in [0, 1], read from the wheel
        images = images if self.non_faces else images[:N_FACES]
        return TensorImages(torch.from_numpy(images).float().unsqueeze(-1)), None  # (N, 25, 25, 1)
