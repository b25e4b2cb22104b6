"""Latent sources, chosen by `model.latent_source`: the module nfields.latents.sources.<name> defines `Source`.

Adding a source is adding one file here; nothing else names them.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from nfields.latents.sources.base import LatentSource


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "base")


def build_source(name: str, **kwargs: Any) -> LatentSource:
    """`model.latent_source=<name>` -> nfields.latents.sources.<name>.Source(**kwargs)."""
    if name not in available():
        raise ValueError(f"model.latent_source={name!r} is unknown; choose one of {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").Source(**kwargs)
