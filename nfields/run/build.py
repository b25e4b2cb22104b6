"""Build every run object from a composed config: the only place configs meet code.

train.py, the tests and scripts/render.py all go through these functions, so a
checkpoint (which stores the resolved config) rebuilds exactly the trained model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from nfields.core.checks import is_int
from nfields.core.errors import CheckpointError, ConfigError
from nfields.fields.base import Field
from nfields.fields.field import NeuralField
from nfields.lit.base import BaseModule
from nfields.run.checkpoint import AtomicCheckpointIO
from nfields.run.exits import building
from nfields.run.members import build_members
from nfields.run.resume import check_state_dict, checkpoint_of, read_checkpoint, state_dict_mismatch
from nfields.run.trusted import FIELD_KEYS, MODULE_KEYS, check_stored_config
from nfields.run.validate import hydra_context
from nfields.tasks.base import Task


def as_config(cfg: DictConfig | dict) -> DictConfig:
    return cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)


PART_NEEDS = {"latent": "cond"}  # a latent layout is built only for a conditioning: with cond=none it is ignored


def field_class(cfg: DictConfig) -> type[Field]:
    """The field's class, named by the config's `field._target_`; NeuralField when the config has no field node
    (the runs and checkpoints from before the field group)."""
    node = cfg.get("field")
    if not node:
        return NeuralField
    cls = get_class(node._target_)
    if not (isinstance(cls, type) and issubclass(cls, Field)):
        raise ConfigError("field._target_", node._target_, "must name an nfields field (a Field subclass)")
    return cls


def build_parts(cfg: DictConfig, names: Sequence[str], in_dim: int = 2) -> dict[str, Any]:
    """The config groups a field class is made of (its `parts`), each built by its `_target_`, in order; a group
    set to none (cond=none) or absent is None, and so is one whose PART_NEEDS is None (latent without cond).
    The encoding takes the data's coordinate width `in_dim`."""
    built: dict[str, Any] = {}
    for name in names:
        need = PART_NEEDS.get(name)
        wanted = bool(cfg.get(name)) and (need is None or built.get(need) is not None)
        extra = {"in_dim": in_dim} if name == "encoding" else {}
        built[name] = instantiate(cfg[name], **extra) if wanted else None
    return built


def build_field(cfg: DictConfig, out_dim: int, own_code: bool = True, in_dim: int = 2) -> Field:
    """field=<name> for data of `out_dim` channels on a grid of `in_dim` axes (images: 2): its class from
    `field._target_`, its own options from the field node, and the groups it lists in `parts` (field=neural:
    encoding + network, the network's in_dim from encoding.out_dim; cond and latent). `own_code` gives a
    conditional field (cond != none) one code of its own (a single image); collections pass codes instead. A
    config without a field node builds field=neural. Both widths come from the data, never from the config."""
    cls = field_class(cfg)
    typed = OmegaConf.select(cfg, "encoding.in_dim") if "encoding" in cls.parts else None
    if typed is not None and typed != in_dim:
        raise ConfigError("encoding.in_dim", typed, f"must be {in_dim}, the data's axes (leave it out: it is derived)")
    if cls.in_dims is not None and in_dim not in cls.in_dims:
        name = hydra_choice(cfg, "field") or cfg.field._target_
        dims = " or ".join(map(str, cls.in_dims))
        raise ConfigError("field", name, f"is defined on {dims}-D coordinates, the data has {in_dim}: use field=neural")
    make = instantiate(cfg.field, _partial_=True) if cfg.get("field") else cls
    return make(out_dim=out_dim, own_code=own_code, **build_parts(cfg, cls.parts, in_dim))


def build_datamodule(cfg: DictConfig, task: Task | None = None) -> pl.LightningDataModule:
    """The datamodule, observing its images through `task` (default: the config's); set up before any training,
    so bad data fails early."""
    dm = instantiate(cfg.data, task=task if task is not None else instantiate(cfg.task))
    dm.setup("fit")
    return dm


def build_module(cfg: DictConfig, dm: pl.LightningDataModule) -> BaseModule:
    """model=<name>: its class (by `_target_`) trains on the datamodule type it declares; one line otherwise."""
    cls = get_class(cfg.model._target_)
    if not (isinstance(cls, type) and issubclass(cls, BaseModule)):
        raise ConfigError("model._target_", cfg.model._target_, "must name an nfields LightningModule (BaseModule)")
    if not isinstance(dm, cls.data_type):
        choice = hydra_choice(cfg, "model") or cfg.model._target_
        raise ConfigError("model", choice, f"trains on {cls.data_kind}; data={hydra_choice(cfg, 'data')} is not that")
    make = instantiate(cfg.model, _partial_=True)  # the config's arguments; the run's objects are added below
    config = OmegaConf.to_container(cfg, resolve=True)
    if cls.many_fields:  # model=many: every member's field, stacked (nfields/run/members.py)
        fields, members, images = build_members(cfg, dm, build_field, cls.own_code)
        return make(field=fields, task=dm.task, data=dm, members=members, images=images, run_config=config)
    field = build_field(cfg, out_dim=dm.channels, own_code=cls.own_code, in_dim=dm.dims)
    if cfg.model.get("init_from"):  # model=single: start from another run's field (model=learnit's meta init)
        init_field(field, cfg.model.init_from, dm.dims, cfg)
    return make(field=field, task=dm.task, data=dm, run_config=config)


def init_field(field: Field, path: str | Path, dims: int, cfg: DictConfig | None = None) -> None:
    """model.init_from: load the field part of a checkpoint (a .ckpt, or a run dir's checkpoints/last.ckpt) into
    `field`, a field for `dims`-D data; one line for a missing file, another domain or another architecture
    (the first parameter whose shape differs, both shapes; or, with the run's `cfg`, another field, encoding or
    network class of the same shapes). Only weights are read (weights_only); the stored config is compared,
    never built."""
    key = "model.init_from"
    try:
        ckpt = read_checkpoint(checkpoint_of(path))
    except CheckpointError as e:  # its message names ckpt_path; this key is init_from
        raise ConfigError(key, path, str(e).split(": ", 1)[-1]) from None
    shape = ckpt.get("nfields_image_shape")
    if isinstance(shape, list | tuple) and len(shape) - 1 != dims:
        raise ConfigError(
            key,
            path,
            f"its field was trained on {len(shape) - 1}-D signals {tuple(shape)}, this run's data is {dims}-D",
        )
    stored = ckpt.get("nfields_config")
    for group in ("field", "encoding", "network") if cfg is not None and isinstance(stored, dict) else ():
        node, ours = stored.get(group), OmegaConf.select(cfg, f"{group}._target_")
        theirs = node.get("_target_") if isinstance(node, dict) else None
        if theirs is not None and ours is not None and theirs != ours:  # e.g. SIREN's weights in a ReLU MLP
            raise ConfigError(key, path, f"another architecture: its {group} is {theirs}, this run's {ours}")
    theirs = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("field.")}
    if why := state_dict_mismatch({f"field.{k}": v for k, v in field.state_dict().items()}, theirs):
        raise ConfigError(key, path, f"another architecture: {why}; use the encoding and network it was trained with")
    field.load_state_dict({k.removeprefix("field."): v for k, v in theirs.items()})


def hydra_choice(cfg: DictConfig, group: str) -> str | None:
    """The option chosen for a config group (from the run's Hydra config), or None outside Hydra."""
    return hydra_context(cfg)[0].get(group)


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    return [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]


def build_loggers(cfg: DictConfig) -> list[Any]:
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]


def build_trainer(
    cfg: DictConfig, callbacks: list[pl.Callback], loggers: list[Any], steps_per_call: int = 1
) -> pl.Trainer:
    """The Trainer; with k optimiser steps per call (nfields/run/speed.py) the validation interval, which
    Lightning counts in calls, is divided by k, so validations fall on the same optimiser steps as with k = 1
    (training metrics are logged per optimiser step by the module itself)."""
    k, interval = steps_per_call, cfg.trainer.get("val_check_interval")
    extra = {"val_check_interval": interval // k} if k > 1 and is_int(interval) and interval > 0 else {}
    return instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()], **extra
    )


def stored_config(
    ckpt: dict, path: str | Path, keys: Sequence[str], searchpath: Sequence[str | Path] = ()
) -> DictConfig:
    """The checkpoint's stored config, refused in one line unless the `keys` to be built name only targets that
    nfields' configs or the user's config dirs (`searchpath`, Hydra's entries: file://DIR) define
    (nfields/run/trusted.py): checked before any import, build or write."""
    return as_config(check_stored_config(ckpt.get("nfields_config"), f"checkpoint {path}", keys, searchpath))


def load_field(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    searchpath: Sequence[str | Path] = (),
    own_code: bool = True,
    ckpt: dict | None = None,
) -> tuple[Field, tuple[int, ...]]:
    """The trained field and the training image's (H, W, C) from a checkpoint alone: no data is read.
    `searchpath`: the config dirs of the user's own options it was trained with (hydra.searchpath). `own_code`:
    False for a conditional field trained with a table of codes (model=shape_set), called with a code given.
    `ckpt`: the checkpoint as read_checkpoint read it, when the caller has (its metadata): not read again."""
    ckpt = read_checkpoint(path, map_location=map_location) if ckpt is None else ckpt  # weights_only
    cfg = stored_config(ckpt, path, FIELD_KEYS, searchpath)
    shape = ckpt.get("nfields_image_shape")
    if shape is None:  # a module that stores no shape (model=collection): rebuilt, which reads its data again
        module = load_checkpoint(path, map_location, searchpath, ckpt=ckpt)
        return module.field, module.image_shape
    if not (isinstance(shape, list | tuple) and len(shape) >= 2 and all(is_int(n) and n > 0 for n in shape)):
        raise CheckpointError(f"checkpoint {path}: nfields_image_shape={shape} is not a signal's (*grid, C)")
    with building(f"checkpoint {path}: "):  # an allowed target's bad argument: its constructor's one line
        field = build_field(cfg, out_dim=int(shape[-1]), own_code=own_code, in_dim=len(shape) - 1)
    prefix = "field."
    field.load_state_dict({k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)})
    return field.eval(), tuple(shape)


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    searchpath: Sequence[str | Path] = (),
    ckpt: dict | None = None,
) -> pl.LightningModule:
    """Rebuild a trained module from its checkpoint alone (config stored inside; its data is read again).
    `ckpt`: the checkpoint as read_checkpoint read it, when the caller has: not read again."""
    ckpt = read_checkpoint(path, map_location=map_location) if ckpt is None else ckpt  # weights_only
    cfg = stored_config(ckpt, path, MODULE_KEYS, searchpath)
    with building(f"checkpoint {path}: "):
        module = build_module(cfg, build_datamodule(cfg))
    check_state_dict(module, ckpt["state_dict"], path)  # names the mismatching parameter
    module.load_state_dict(ckpt["state_dict"])
    return module.eval()
