"""Shared helpers for the datasets read through torchvision (never downloading)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from nfields.core.errors import DatasetMissing
from nfields.core.io import square_resize, to_float_image


def open_torchvision(make: Callable[[], Any], name: str, root: str, layout: str) -> Any:
    """Build a torchvision dataset with download=False, turning 'not found' into one clear error."""
    try:
        return make()
    except (RuntimeError, FileNotFoundError, OSError) as e:
        raise DatasetMissing(
            f"{name} not found in data.root={root}: expected {layout} (nfields never downloads; "
            f"put the files there or set data.root)"
        ) from e  # torchvision's own message suggests download=True, which nfields does not offer


def pil_reader(ds: Any, size: int | None, upsample: bool = False) -> Callable[[int], torch.Tensor]:
    """Item i of a torchvision dataset yielding (PIL image, target) -> float (H, W, C), square-resized."""

    def read(i: int) -> torch.Tensor:
        img = ds[i][0]
        name = f"{type(ds).__name__}[{i}]"
        return square_resize(to_float_image(np.asarray(img), name), size, upsample, name)

    return read
