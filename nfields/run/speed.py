"""model.steps_per_call=auto: how many optimiser steps one Lightning call takes, chosen before the trainer.

Lightning counts its intervals (validation, logging) in calls, so k steps per call must divide every
step count the run acts on: trainer.max_steps, log.val_every_n_steps (validations and checkpoints),
log.gif_every_n_steps and the guard's interval (training metrics are logged per optimiser step, at
trainer.log_every_n_steps whatever k: SteppedModule.log_training). Within those divisors auto
takes the one that makes a call nearest to TARGET_CALL_S, from a timing probe of the run's own step on
its device (a copy of the field; the run's weights and random streams are untouched). Results do not
depend on k (tests/test_steps_per_call.py): it only decides how often Lightning's per-call Python runs.

With more than one process (DDP) each rank would time its own probe and the ranks must agree, so auto
is 1 there; an explicit integer is honoured everywhere. A resumed run keeps the checkpoint's k: Lightning's
saved loop state counts calls, and its validation interval is read in calls.
"""

from __future__ import annotations

import ctypes
import math
import os

import torch
from omegaconf import DictConfig

from nfields.core.errors import ConfigError
from nfields.lit.base import BaseModule
from nfields.lit.stepped import SteppedModule
from nfields.run.members import on_cuda
from nfields.run.resume import read_checkpoint
from nfields.run.validate import SCHEDULE_KEYS, check_divides, select

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
TARGET_CALL_S = 0.1  # a call of about 0.1 s: Lightning's fixed Python per call is then under 1 %


def schedule_gcd(cfg: DictConfig) -> int:
    """The largest k dividing every positive step count in SCHEDULE_KEYS (0 when there is none)."""
    counts = [v for v in (select(cfg, key)[1] for key in SCHEDULE_KEYS) if isinstance(v, int) and v > 0]
    return math.gcd(*counts) if counts else 0


def one_process(cfg: DictConfig) -> bool:
    """True unless the trainer runs several processes (DDP, several devices or nodes)."""
    devices, nodes, strategy = (select(cfg, f"trainer.{k}")[1] for k in ("devices", "num_nodes", "strategy"))
    return devices in (None, 1, "1") and nodes in (None, 1) and strategy in (None, "auto", "single_device")


def nearest_divisor(n: int, want: float) -> int:
    """The divisor of n nearest to `want` by ratio (want 15 of 500: 20, not 10; ties go down)."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(math.log(d / max(want, 1e-9))), d))


def resumed_k(cfg: DictConfig) -> int | None:
    """The steps per call of the checkpoint this run resumes (SteppedModule stores them), None for a new run."""
    path = select(cfg, "ckpt_path")[1]
    return int(read_checkpoint(path).get("nfields_steps_per_call", 1)) if path else None


def choose_steps_per_call(cfg: DictConfig, module: BaseModule) -> int:
    """The module's steps per call: its integer, the resumed checkpoint's, or for "auto" the divisor of the
    schedule nearest to a TARGET_CALL_S call from the probe (1 with several processes)."""
    if not isinstance(module, SteppedModule):
        return 1
    k, resumed = module.steps_per_call, resumed_k(cfg)
    if resumed is not None:
        if k not in ("auto", resumed):
            raise ConfigError("model.steps_per_call", k, f"must be {resumed} (or auto) to resume this checkpoint")
        check_divides(cfg, resumed, f"{resumed}, the resumed run's steps per call")
        return resumed
    if k != "auto":  # it divides the schedule (run/validate.py, before any work)
        return int(k)
    n = schedule_gcd(cfg)
    if n <= 1 or not one_process(cfg):
        return 1
    step_s = module.probe_step_s(torch.device("cuda" if on_cuda(cfg) else "cpu"))  # the device it trains on
    return nearest_divisor(n, TARGET_CALL_S / max(step_s, 1e-9))


def drop_needless_nvml_check() -> bool:
    """Unset PYTORCH_NVML_BASED_CUDA_CHECK on a machine without an NVIDIA driver -> True if it was dropped.

    Lightning sets it when imported, so that torch.cuda.is_available() asks NVML instead of initialising CUDA
    before a fork; torch's Adam calls is_available() every step, and each call then tries to dlopen
    libnvidia-ml (a measurable share of a tiny CPU step: scripts/bench.py --case tiny). Without the driver the
    variable protects nothing and torch's own cached check answers the same. With a driver it stays."""
    if os.environ.get(NVML_CHECK) != "1":
        return False
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        del os.environ[NVML_CHECK]
        return True
    return False
