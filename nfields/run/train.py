"""The training run: build from the config, fit, test, write metrics.json, return the optimised metric."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from functools import partial

import pytorch_lightning as pl
from omegaconf import DictConfig

from nfields.core.echo import echo
from nfields.lit.callbacks.perf import find_timer
from nfields.lit.stepped import SteppedModule
from nfields.run.budget import sized
from nfields.run.build import (
    build_callbacks,
    build_datamodule,
    build_field,
    build_loggers,
    build_module,
    build_trainer,
)
from nfields.run.console import closing_line, quiet_lightning, start_line, wandb_sync_hint
from nfields.run.ddp import isolated_job, launch_ranks
from nfields.run.exits import building
from nfields.run.resume import check_resume_weights, resume_requeued_job
from nfields.run.speed import choose_steps_per_call, drop_needless_nvml_check
from nfields.run.validate import validate_config

log = logging.getLogger("nfields")
drop_needless_nvml_check()  # after Lightning's import has set it: no per-step NVML probe without a driver

# Third-party noise that says nothing about the run.
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
# model.steps_per_call > 1: checkpoints hold the state after the last optimiser step, which is what resuming needs
warnings.filterwarnings("ignore", message=".*manual optimization and every_n_train_steps.*")


def finish_loggers() -> None:
    """Close the W&B run so the next job of a multirun gets its own (and offline files are flushed)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        try:
            wandb.finish()
        except Exception as e:  # noqa: BLE001 - a W&B problem (full disk, ...) must not fail a finished run
            log.warning(f"W&B could not finish the run ({type(e).__name__}: {e}); results are in the run dir")


def train(cfg: DictConfig) -> float | None:
    resume_requeued_job(cfg)  # a requeued SLURM job continues from its own last.ckpt
    validate_config(cfg)  # before any work: one-line ConfigError (nfields/run/validate.py)
    with isolated_job() as ranks:
        return _train(cfg, ranks)


def _train(cfg: DictConfig, ranks: list[subprocess.Popen]) -> float | None:
    quiet_lightning()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    with building():
        dm = build_datamodule(cfg)
        cfg = sized(cfg, dm.channels, partial(build_field, in_dim=dm.dims))  # budget.params: the sizing key derived
        module = build_module(cfg, dm)
        check_resume_weights(cfg, module)
        steps_per_call = choose_steps_per_call(cfg, module)  # model=single|many, auto: a short probe of the step
        if isinstance(module, SteppedModule):
            module.steps_per_call = steps_per_call
        loggers = build_loggers(cfg)
    try:
        with building():
            trainer = build_trainer(cfg, build_callbacks(cfg), loggers, steps_per_call)
        ranks += launch_ranks(trainer, cfg.trainer.get("strategy"))  # DDP: this node's other ranks of this job
        if trainer.is_global_zero:
            echo(start_line(cfg, dm, module, trainer))
        for lg in loggers:
            lg.log_hyperparams(module.config)
        trainer.fit(module, datamodule=dm, ckpt_path=cfg.get("ckpt_path"))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}  # val/* of the last validation
        trainer.test(module, datamodule=dm, verbose=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    finally:
        finish_loggers()
    if trainer.is_global_zero:  # every metric is in <run dir>/metrics.json; the console gets one line
        timer = find_timer(trainer)
        echo(closing_line(metrics, timer.steps_per_s if timer else None, cfg.run_dir))
        if hint := wandb_sync_hint(cfg.run_dir):
            echo(hint)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None
