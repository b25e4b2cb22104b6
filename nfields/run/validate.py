"""Run-level config checks before any work, each a one-line ConfigError: what no nfields constructor owns
(components check their own arguments; docs/reliability.md, "How it works"). RULES: run-level keys and keys of
third-party components that accept bad values without a clear line (Lightning's Trainer, torch.optim); unknown
keys under any `_target_` node, from the constructor's signature; choices that do not go together across keys;
a resumed checkpoint (resume.py).
"""

from __future__ import annotations

import inspect
import pydoc
import re
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from nfields.core.checks import (
    POSITIVE_INT,
    Check,
    boolean,
    check_arg,
    closest,
    integer,
    is_int,
    nullable,
    number,
    one_of,
    string,
)
from nfields.core.errors import ConfigError
from nfields.run.compose import CONFIGS
from nfields.run.options import option_names
from nfields.run.resume import check_resume_config
from nfields.run.trusted import target_nodes

ABSENT = object()
PRECISIONS = ("64-true", "32-true", "16-true", "16-mixed", "bf16-true", "bf16-mixed", "64", "32", "16", "bf16")
PRECISIONS += (64, 32, 16, "transformer-engine", "transformer-engine-float16")

DEVICE_IDS = re.compile(r"-?\d+(,\d*)*")  # Lightning's "1", "0,1", "-1"

RULES: dict[str, Check] = {
    "seed": integer(lo=0, hi=2**32 - 1),
    "ckpt_path": nullable(string()),
    "optimized_metric": nullable(string()),
    # torch.optim accepts any value here without a word (Adam(fused=2) runs unfused)
    "model.optimizer.fused": nullable(boolean()),
    # trainer
    "trainer.max_steps": POSITIVE_INT | Check(lambda v: is_int(v) and v == -1, "-1 (no step limit)"),
    "trainer.precision": one_of(*PRECISIONS),
    "trainer.accelerator": one_of("auto", "cpu", "gpu", "cuda", "mps", "tpu"),
    "trainer.devices": POSITIVE_INT
    | one_of(-1, "auto")
    | Check(lambda v: isinstance(v, list) or (isinstance(v, str) and DEVICE_IDS.fullmatch(v) is not None), "ids"),
    "trainer.val_check_interval": POSITIVE_INT | number(gt=0, le=1),
    "trainer.log_every_n_steps": POSITIVE_INT,
    "trainer.deterministic": boolean() | one_of("warn"),
    # Lightning's trainer.val_check_interval reads it (configs/trainer/); the callbacks check their own log.* keys
    "log.val_every_n_steps": POSITIVE_INT,
    # validation itself
    "validate.max_size": POSITIVE_INT,
    "validate.allow_large": boolean(),
}


BUILT_BY_NFIELDS = {"field", "task", "data", "run_config"}  # constructor arguments the builder passes, never typed


def accepted_keywords(target: Any) -> set[str] | None:
    """Keyword names a target accepts, following **kwargs up a class's MRO; None = anything goes."""
    fns = [c.__init__ for c in inspect.getmro(target) if "__init__" in vars(c)] if inspect.isclass(target) else [target]
    names: set[str] = set()
    for fn in fns:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names - {"self"} - BUILT_BY_NFIELDS
    return None


def check_targets(cfg: DictConfig) -> None:
    """Unknown keys under a `_target_` node (a typo would otherwise be a Hydra traceback)."""
    plain = {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items() if k != "hydra"}
    for path, node in target_nodes(plain):  # values unresolved (reported as typed); the target resolved
        name = OmegaConf.select(cfg, f"{path}._target_")
        if not isinstance(name, str):
            continue
        try:  # pydoc.locate: None for a missing name, an error for a module that fails while importing; no logging
            target = pydoc.locate(name)
        except pydoc.ErrorDuringImport as e:
            reason = f"{e.exc.__name__}: {str(e.value).splitlines()[0] if str(e.value) else ''}"
            raise ConfigError(f"{path}._target_", name, f"cannot be imported ({reason})") from None
        if target is None:
            raise ConfigError(f"{path}._target_", name, "cannot be imported: no such module or name")
        known = accepted_keywords(target)
        if known is None:
            continue
        for key, value in node.items():
            if isinstance(key, str) and not (key.startswith("_") and key.endswith("_")) and key not in known:
                close = closest(key, known)
                hint = f" (did you mean {path}.{close}?)" if close else ""
                raise ConfigError(
                    f"{path}.{key}",
                    value,
                    f"unknown key for {name}; known keys: {', '.join(sorted(known))}{hint}",
                )


def hydra_context(cfg: DictConfig) -> tuple[dict[str, Any], list[str]]:
    """(group choices, command-line overrides) of this run, empty outside Hydra."""
    hc = HydraConfig.get() if HydraConfig.initialized() else cfg.get("hydra")
    if hc is None:
        return {}, []
    choices = OmegaConf.to_container(hc.runtime.choices) if "runtime" in hc else {}
    overrides = list(hc.overrides.task) if "overrides" in hc else []
    return choices or {}, overrides


def check_required(cfg: DictConfig) -> None:
    """The keys a preset lists in `required` (its own files: experiment=occupancy's data.path) must be set, and no
    value may be left '???'; one line naming the key, before any work. (A preset cannot write '???' over a data
    option's null: OmegaConf keeps the null, and the run would fit the option's generated default instead.)"""
    for key in map(str, cfg.get("required") or []):
        if OmegaConf.select(cfg, key, throw_on_missing=False) is None:
            raise ConfigError(key, None, f"required: set it on the command line ({key}=...)")
    for key in sorted(k for k in OmegaConf.missing_keys(cfg) if not k.startswith("hydra.")):
        raise ConfigError(key, "???", f"required: set it on the command line ({key}=...)")


def select(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """(present, value) of a dotted key, interpolations resolved; a `???` value is absent."""
    value = OmegaConf.select(cfg, key, default=ABSENT)
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    return (False, None) if value is ABSENT else (True, value)


# ---- choices that do not go together (each needs more than one component's arguments) ------------------
def latent_needs_conditioning(choices: dict[str, Any], typed: set[str]) -> None:
    """latent=... does nothing with cond=none: an explicit choice of both is a mistake (not the default's latent)."""
    latent, cond = choices.get("latent"), choices.get("cond", "none")
    if latent not in (None, "null") and cond in (None, "none") and "latent" in typed:
        conds = "|".join(n for n in option_names(CONFIGS, "cond") if n != "none")  # configs/cond/, not typed
        raise ConfigError(
            "latent", latent, f"a latent code needs a conditioning method: add cond={conds}, or drop latent="
        )


def data_size_within_bound(cfg: DictConfig) -> None:
    """A huge data.size is usually a typo (2048 vs 20480) and costs the memory of size^2 pixels."""
    present, size = select(cfg, "data.size")
    bound = select(cfg, "validate.max_size")[1] or 2048
    if present and isinstance(size, int) and size > bound and not select(cfg, "validate.allow_large")[1]:
        raise ConfigError(
            "data.size", size, f"is above {bound}: confirm with validate.allow_large=true (or raise validate.max_size)"
        )


def training_ends(cfg: DictConfig) -> None:
    """max_steps=-1 with no epoch limit never ends (a single image is an endless stream of steps)."""
    steps, epochs = select(cfg, "trainer.max_steps")[1], select(cfg, "trainer.max_epochs")[1]
    if steps == -1 and epochs in (None, -1):
        raise ConfigError("trainer.max_steps", -1, "never ends without trainer.max_epochs; set a step count >= 1")


def gpu_is_there(cfg: DictConfig) -> None:
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


def steps_per_call_divides_the_schedule(cfg: DictConfig) -> None:
    """model.steps_per_call=k: Lightning counts calls of k optimiser steps (run/speed.py)."""
    k = select(cfg, "model.steps_per_call")[1]
    if is_int(k) and k > 1:  # auto chooses a divisor itself; a bad value is the module's to refuse
        check_divides(cfg, k, f"model.steps_per_call={k}")


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError (one line: key, value, what is allowed) for the first problem found."""
    check_required(cfg)
    choices, overrides = hydra_context(cfg)
    typed = {o.lstrip("+~").split("=", 1)[0] for o in overrides}
    for key in sorted(RULES, key=lambda k: k not in typed):  # what the user typed is reported first
        present, value = select(cfg, key)
        if present:
            check_arg(key, value, RULES[key])
    check_targets(cfg)
    latent_needs_conditioning(choices, typed)
    for check in (data_size_within_bound, training_ends, gpu_is_there, steps_per_call_divides_the_schedule):
        check(cfg)
    if path := select(cfg, "ckpt_path")[1]:  # exists, is readable, from a compatible config: before the data
        check_resume_config(cfg, path)
