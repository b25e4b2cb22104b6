"""A tiny fitted field for the codec tests: a small image the test writes, a SIREN fitted for a few steps."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from nfields.run.compose import compose_run_config
from nfields.run.train import train
from tests.conftest import ROOT


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def smooth_image(h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8: smooth gradients and a disc, something a small field fits in a few steps."""
    v, u = np.mgrid[0:h, 0:w] / np.array([[[h]], [[w]]])
    disc = ((u - 0.6) ** 2 + (v - 0.4) ** 2 < 0.08).astype(float)
    rgb = np.stack([u, v, 0.3 + 0.5 * disc], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def fit_run(folder: Path, steps: int = 40) -> Path:
    """A run dir holding checkpoints/last.ckpt of a 2 x 32 SIREN fitted to a 24x24 image in `folder`."""
    image = folder / "target.png"
    Image.fromarray(smooth_image(24, 24)).save(image)
    overrides = ["debug=fast", "logger=none", "network=siren", f"data.image={image}", "data.size=null", "model.lr=3e-3"]
    overrides += [f"trainer.max_steps={steps}", "~callbacks.progress_gif", "~callbacks.panels"]
    cfg = compose_run_config(overrides, folder / "run")
    train(cfg)
    GlobalHydra.instance().clear()
    return folder / "run"


def fit_audio_run(folder: Path, steps: int = 10) -> Path:
    """A run dir of a SIREN fitted for a few steps to the generated chirp (data=audio, 24 samples)."""
    overrides = ["debug=fast", "logger=none", "network=siren", "data=audio", f"trainer.max_steps={steps}"]
    cfg = compose_run_config([*overrides, "~callbacks.progress_gif", "~callbacks.panels"], folder / "run")
    train(cfg)
    GlobalHydra.instance().clear()
    return folder / "run"
