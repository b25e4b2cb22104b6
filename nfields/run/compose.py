"""Compose the run config outside `python train.py` (scripts, notebooks, tests), exactly as train.py would."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
OPEN_NODE = "/nfields/open"  # `defaults: [/nfields/open@<key>, _self_]` makes <key> open (configs/model/many.yaml)


def register_configs() -> None:
    """Register the config nodes YAML cannot express: `nfields/open`, an empty node that is not in struct mode.
    Hydra closes the composed config before the command line applies, so a key no config declares needs a `+`;
    below a node placed with `/nfields/open@<key>` any key can be set as typed (`members.sweep.network.s=[..]`:
    every number of every network is a valid key there, and members.py judges them). Called by train.py and
    compose_run_config before they compose."""
    node = OmegaConf.create({})
    OmegaConf.set_struct(node, False)  # the flag travels with the node when Hydra merges it at <key>
    group, name = OPEN_NODE.strip("/").rsplit("/", 1)
    ConfigStore.instance().store(group=group, name=name, node=node)


def compose_run_config(overrides: list[str], run_dir: str | Path) -> DictConfig:
    """The composed train config with `run_dir` as the Hydra output dir, so ${hydra:...} keys resolve."""
    GlobalHydra.instance().clear()
    register_configs()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return cfg
