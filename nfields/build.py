"""Build every run object from a composed config: the only place configs meet code.

train.py, the tests and scripts/render.py all go through these functions, so a
checkpoint (which stores the resolved config) rebuilds exactly the trained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nfields.field import NeuralField


def as_config(cfg: DictConfig | dict) -> DictConfig:
    return cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)


def build_field(cfg: DictConfig, out_dim: int, own_code: bool = True) -> NeuralField:
    """encoding + network (in_dim from encoding.out_dim) for `out_dim` colour channels.

    With cond != none the field is conditioned on codes laid out by `latent`; `own_code`
    gives it one code of its own (a single image); collections pass codes instead.
    """
    cond = instantiate(cfg.cond) if cfg.get("cond") else None
    latent = instantiate(cfg.latent) if cond is not None else None
    return NeuralField(
        encoding=instantiate(cfg.encoding),
        network=instantiate(cfg.network),
        out_dim=out_dim,
        cond=cond,
        latent=latent,
        own_code=own_code,
    )


def build_datamodule(cfg: DictConfig) -> pl.LightningDataModule:
    dm = instantiate(cfg.data)
    if hasattr(dm, "use_task"):  # collections observe every image through the task (single images: the module)
        dm.use_task(instantiate(cfg.task))
    dm.setup("fit")  # cheap for one image; fails early (before any training) on bad data
    return dm


def build_module(cfg: DictConfig, dm: pl.LightningDataModule) -> pl.LightningModule:
    make_module = getattr(dm, "make_module", None)  # collections bring their own module (nfields/lit/collection.py)
    module = make_module(cfg) if make_module is not None else _single_module(cfg, dm)
    if cfg.model.get("compile"):
        module.field.compile()  # in place: parameter names (and so checkpoints) stay those of the plain field
    return module


def _single_module(cfg: DictConfig, dm: pl.LightningDataModule) -> pl.LightningModule:
    from nfields.lit.single import FieldModule

    return FieldModule(
        field=build_field(cfg, out_dim=dm.channels),
        task=instantiate(cfg.task),
        image=dm.image,
        optimizer=instantiate(cfg.model.optimizer),
        scheduler=instantiate(cfg.model.scheduler) if cfg.model.get("scheduler") else None,
        batch_size=cfg.data.get("batch_size"),
        render_chunk=cfg.model.render_chunk,
        config=OmegaConf.to_container(cfg, resolve=True),
        steps_per_call=cfg.model.get("steps_per_call", 1),
        compact=cfg.model.get("compact_pixels", True),
    )


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    return [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]


def build_loggers(cfg: DictConfig) -> list[Any]:
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]


def build_trainer(cfg: DictConfig, callbacks: list[pl.Callback], loggers: list[Any]) -> pl.Trainer:
    from nfields.checkpoint import AtomicCheckpointIO

    k = cfg.model.get("steps_per_call", 1)  # Lightning counts validation intervals in calls, not optimiser steps
    interval = cfg.trainer.get("val_check_interval")
    extra = {"val_check_interval": interval // k} if k > 1 and isinstance(interval, int) else {}
    return instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()], **extra
    )


def _read_nfields_checkpoint(path: str | Path, map_location: str | torch.device) -> tuple[dict, DictConfig]:
    from nfields.resume import read_checkpoint

    ckpt = read_checkpoint(path, map_location=map_location)  # weights_only: no code runs from the file
    if "nfields_config" not in ckpt or ckpt["nfields_config"] is None:
        raise ValueError(f"{path} holds no nfields config; was it written by nfields' train.py?")
    return ckpt, as_config(ckpt["nfields_config"])


def load_field(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[NeuralField, tuple[int, ...]]:
    """The trained field and the training image's (H, W, C) from a checkpoint alone: no data is read."""
    ckpt, cfg = _read_nfields_checkpoint(path, map_location)
    shape = ckpt.get("nfields_image_shape")
    if shape is None:  # older checkpoints: rebuild the module, which reads the image again
        module = load_checkpoint(path, map_location)
        return module.field, module.image_shape
    field = build_field(cfg, out_dim=int(shape[-1]))
    prefix = "field."
    field.load_state_dict({k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)})
    return field.eval(), tuple(shape)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> pl.LightningModule:
    """Rebuild a trained module from its checkpoint alone (config stored inside)."""
    from nfields.resume import check_state_dict

    ckpt, cfg = _read_nfields_checkpoint(path, map_location)
    module = build_module(cfg, build_datamodule(cfg))
    check_state_dict(module, ckpt["state_dict"], path)  # names the mismatching parameter
    module.load_state_dict(ckpt["state_dict"])
    return module.eval()
