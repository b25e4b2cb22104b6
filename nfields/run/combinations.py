"""Incompatible combinations of config choices, each a small registered check (see nfields/run/validate.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from nfields.core.checks import is_int
from nfields.core.errors import ConfigError
from nfields.run.compose import CONFIGS
from nfields.run.options import option_names

Combination = Callable[[DictConfig, dict[str, Any], list[str]], None]
COMBINATIONS: list[Combination] = []
ABSENT = object()


def combination(fn: Combination) -> Combination:
    """Register fn(cfg, choices, overrides) as a cross-key check; it raises ConfigError."""
    COMBINATIONS.append(fn)
    return fn


def select(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """(present, value) of a dotted key, interpolations resolved; a `???` value is absent."""
    value = OmegaConf.select(cfg, key, default=ABSENT)
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    return (False, None) if value is ABSENT else (True, value)


@combination
def latent_needs_conditioning(cfg: DictConfig, choices: dict[str, Any], overrides: list[str]) -> None:
    """latent=... does nothing with cond=none: an explicit choice of both is a mistake."""
    latent, cond = choices.get("latent"), choices.get("cond", "none")
    typed = any(o.lstrip("+~").split("=", 1)[0] == "latent" for o in overrides)  # not the default's latent
    if latent not in (None, "null") and cond in (None, "none") and typed:
        conds = "|".join(n for n in option_names(CONFIGS, "cond") if n != "none")  # configs/cond/, not typed
        raise ConfigError(
            "latent", latent, f"a latent code needs a conditioning method: add cond={conds}, or drop latent="
        )


@combination
def data_size_within_bound(cfg: DictConfig, choices: dict[str, Any], overrides: list[str]) -> None:
    """A huge data.size is usually a typo (2048 vs 20480) and costs the memory of size^2 pixels."""
    present, size = select(cfg, "data.size")
    bound = select(cfg, "validate.max_size")[1] or 2048
    if present and isinstance(size, int) and size > bound and not select(cfg, "validate.allow_large")[1]:
        raise ConfigError(
            "data.size", size, f"is above {bound}: confirm with validate.allow_large=true (or raise validate.max_size)"
        )


@combination
def training_ends(cfg: DictConfig, choices: dict[str, Any], overrides: list[str]) -> None:
    """max_steps=-1 with no epoch limit never ends (a single image is an endless stream of steps)."""
    steps, epochs = select(cfg, "trainer.max_steps")[1], select(cfg, "trainer.max_epochs")[1]
    if steps == -1 and epochs in (None, -1):
        raise ConfigError("trainer.max_steps", -1, "never ends without trainer.max_epochs; set a step count >= 1")


@combination
def gpu_is_there(cfg: DictConfig, choices: dict[str, Any], overrides: list[str]) -> None:
    """trainer=gpu on a machine without CUDA fails late inside Lightning; say so now."""
    if select(cfg, "trainer.accelerator")[1] in ("gpu", "cuda") and not torch.cuda.is_available():
        fix = "no CUDA GPU is visible here: use trainer=cpu or trainer=default"
        raise ConfigError("trainer.accelerator", "gpu", fix)


# Every step count Lightning acts on, in calls: with k optimiser steps per call, each must be a multiple of k.
SCHEDULE_KEYS = (
    "trainer.max_steps",
    "log.val_every_n_steps",
    "log.gif_every_n_steps",
    "callbacks.checkpoint.every_n_train_steps",
    "callbacks.guard.every_n_steps",
    "callbacks.progress_gif.every_n_steps",
)


def check_divides(cfg: DictConfig, k: int, what: str) -> None:
    """One line for the first positive step count in SCHEDULE_KEYS that k does not divide."""
    for key in SCHEDULE_KEYS:
        value = select(cfg, key)[1]
        if isinstance(value, int) and value > 0 and value % k:
            raise ConfigError(key, value, f"must be a multiple of {what}")


@combination
def steps_per_call_divides_the_schedule(cfg: DictConfig, choices: dict[str, Any], overrides: list[str]) -> None:
    """model.steps_per_call=k: Lightning counts calls of k optimiser steps (run/speed.py)."""
    k = select(cfg, "model.steps_per_call")[1]
    if is_int(k) and k > 1:  # auto chooses a divisor itself; a bad value is the module's to refuse
        check_divides(cfg, k, f"model.steps_per_call={k}")
