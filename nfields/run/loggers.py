"""Logger factories. W&B must work with no account and no network: offline is chosen
automatically (no prompt, no hang) and the run stays syncable with `wandb sync`."""

from __future__ import annotations

import contextlib
import io
import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import wandb
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_warn

from nfields.core.checks import check_arg, nullable, one_of
from nfields.core.errors import ConfigError

WANDB_MODES = ("auto", "online", "offline", "disabled", "shared")  # auto: online with credentials, else offline


def wandb_api_key_available() -> bool:
    """True when W&B credentials exist (env var or ~/.netrc entry for the W&B host)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(mode: str | None) -> str:
    """An explicit mode (config or WANDB_MODE) wins; otherwise online only with credentials."""
    mode = mode or os.environ.get("WANDB_MODE")
    if mode in WANDB_MODES[1:]:
        return mode
    if mode not in (None, "", "auto"):  # a bad logger.wandb.mode is refused by wandb_logger: this is $WANDB_MODE
        raise ConfigError("WANDB_MODE", mode, f"must be one of {', '.join(WANDB_MODES)}")
    return "online" if wandb_api_key_available() else "offline"


def run_name(choices: Mapping[str, str | None]) -> str:
    """The W&B run name from the run's group choices: 'fourier-mlp-fit', 'fourier-mlp-film-collection-fit',
    'gaussians-fit'. cond is named unless none and model unless single (the default), so a FiLM collection and a
    model=many run do not share the plain single-image name; a field other than neural names itself instead of
    the encoding and network it ignores."""
    field = choices.get("field") or "neural"
    parts = [choices.get("encoding"), choices.get("network")] if field == "neural" else [field]
    parts += [choices.get("cond") if choices.get("cond") not in (None, "none") else None]
    parts += [choices.get("model") if choices.get("model") not in (None, "single") else None]
    return "-".join(str(p) for p in (*parts, choices.get("task")) if p)


class ResilientWandbLogger(WandbLogger):
    """A WandbLogger whose logging calls never raise: the first W&B failure (disk full, server gone)
    becomes one warning and W&B logging stops; training, metrics.json and the images go on."""

    w_and_b_failed = False


def _never_raises(name: str) -> Any:
    def method(self: ResilientWandbLogger, *args: Any, **kwargs: Any) -> Any:
        if self.w_and_b_failed:
            return None
        try:
            return getattr(WandbLogger, name)(self, *args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any W&B failure must not stop training
            self.w_and_b_failed = True
            rank_zero_warn(f"W&B logging failed ({type(e).__name__}: {e}); training goes on without W&B")
            return None

    method.__name__ = name
    return method


for _name in ("log_metrics", "log_hyperparams", "log_image", "log_video", "log_table", "after_save_checkpoint"):
    setattr(ResilientWandbLogger, _name, _never_raises(_name))


def wandb_logger(
    save_dir: str,
    mode: str | None = "auto",
    init_timeout: float = 30.0,
    resume_from: str | None = None,
    name: str | None = None,
    choices: Mapping[str, str | None] | None = None,
    **kwargs: Any,
) -> WandbLogger:
    """A WandbLogger whose run is created now, in `save_dir`/wandb, falling back to offline; named `name`, or
    run_name(choices) when it is null.

    Creating the run eagerly means a W&B problem (no network, unreachable server)
    surfaces before training, where it is turned into one warning and an offline run.
    """
    check_arg("logger.wandb.mode", mode, nullable(one_of(*WANDB_MODES)))
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")  # keep the progress bar out of W&B's console capture
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    mode = resolve_wandb_mode(mode)
    if resume_from and not kwargs.get("id"):  # resuming <run dir>/checkpoints/x.ckpt continues <run dir>/wandb's run
        runs = sorted((Path(resume_from).resolve().parent.parent / "wandb").glob("*run-*-*"))
        if runs:
            kwargs.update(id=runs[-1].name.rsplit("-", 1)[-1], resume="allow")
    kwargs["name"] = name or (run_name(choices) if choices else None)
    settings = wandb.Settings(init_timeout=init_timeout, silent=True)
    # Lightning passes anonymous=None to wandb.init, and W&B (>= 0.19) answers every run with "The anonymous
    # setting has no effect" (once per process: repeat=False). Said once here, where nobody sees it.
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        wandb.Settings(anonymous=None)
    # Online falls back to offline, offline (e.g. an unwritable or full disk) to disabled: never a failed run.
    modes = [mode] + [m for m in ("offline", "disabled") if mode != "disabled" and m != mode]
    for i, m in enumerate(modes):
        logger = ResilientWandbLogger(save_dir=save_dir, mode=m, settings=settings, **kwargs)
        try:
            _ = logger.experiment
            return logger
        except Exception as e:  # noqa: BLE001 - any W&B failure must not stop training
            if i == len(modes) - 1:
                raise
            rank_zero_warn(f"W&B {m} run could not start ({type(e).__name__}: {e}); logging {modes[i + 1]} instead")
    raise AssertionError("unreachable")
