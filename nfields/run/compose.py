"""Compose the run config outside `python train.py` (scripts, notebooks, tests), exactly as train.py would."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def compose_run_config(overrides: list[str], run_dir: str | Path) -> DictConfig:
    """The composed train config with `run_dir` as the Hydra output dir, so ${hydra:...} keys resolve."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return cfg
