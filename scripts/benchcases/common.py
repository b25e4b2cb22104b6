"""What every case of scripts/bench.py shares: the trainer option for a device, one train() run and its metrics."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

# Imported before either path of a case runs, so both run in the environment nfields leaves (Lightning's import
# sets PYTORCH_NVML_BASED_CUDA_CHECK, which nfields.run.train drops where no NVIDIA driver is: run/speed.py).
from nfields.run.compose import compose_run_config
from nfields.run.train import train


def trainer(device: str) -> str:
    """The trainer option (configs/trainer/) for a torch device string."""
    return "cpu" if device == "cpu" else "gpu"


def train_run(overrides: list[str], run_dir: Path) -> tuple[DictConfig, dict]:
    """`python train.py OVERRIDES` through nfields' own train() into run_dir -> (its config, metrics.json)."""
    cfg = compose_run_config(overrides, run_dir)
    train(cfg)
    return cfg, json.loads((Path(run_dir) / "metrics.json").read_text())
