"""DDP under Hydra: one run directory and one W&B run per job, also inside a multirun.

Lightning's `ddp` strategy would start ranks 1..N-1 by re-running the script with `sys.argv` plus a
run-dir pattern. Inside a multirun that argv still holds `-m` and the sweep lists, so every child
would launch a sweep of its own into new directories (a known pain point of Hydra + Lightning).
nfields starts this node's other ranks itself, as torchrun would: with the documented environment
(MASTER_ADDR, MASTER_PORT, NODE_RANK, LOCAL_RANK, WORLD_SIZE) Lightning takes the processes as
launched externally, and each child runs the *job's* overrides in this job's output directory with
`hydra.mode=RUN`: every rank works in the same run directory, and only rank zero logs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from pytorch_lightning.strategies import DDPStrategy, StrategyRegistry


def starts_by_script(spec: Any) -> bool:
    """True when trainer.strategy (a name, a config with a start_method, or default) starts its ranks by
    re-running the script (start_method popen); spawn and fork start them from this process."""
    if isinstance(spec, str) and spec in StrategyRegistry:
        return StrategyRegistry[spec]["init_params"].get("start_method", "popen") == "popen"
    return (spec.get("start_method", "popen") if isinstance(spec, Mapping) else "popen") == "popen"


def launch_ranks(trainer: pl.Trainer, strategy_spec: Any) -> list[subprocess.Popen]:
    """Start this node's ranks 1..N-1 of the current Hydra job where Lightning would re-run the script; none
    when the processes come from elsewhere (torchrun, SLURM) or there is one per node."""
    local = trainer.num_devices
    if not isinstance(trainer.strategy, DDPStrategy) or local <= 1 or not starts_by_script(strategy_spec):
        return []
    env = trainer.strategy.cluster_environment
    if env is None or env.creates_processes_externally:
        return []
    os.environ.update(
        MASTER_ADDR=env.main_address,
        MASTER_PORT=str(env.main_port),
        NODE_RANK=str(env.node_rank()),
        LOCAL_RANK="0",
        WORLD_SIZE=str(local * trainer.num_nodes),
    )
    hc, procs = HydraConfig.get(), []
    script = Path(sys.argv[0])
    script = script if script.is_absolute() else Path(hc.runtime.cwd) / script
    # the job's overrides in the job's run dir (rank zero alone writes .hydra/), never the multirun's sweep
    job = [sys.executable, str(script), *hc.overrides.task, f"hydra.run.dir={hc.runtime.output_dir}"]
    for rank in range(1, local):
        command = [*job, "hydra.output_subdir=null", f"hydra.job.name=train_ddp_rank_{rank}", "hydra.mode=RUN"]
        procs.append(subprocess.Popen(command, env={**os.environ, "LOCAL_RANK": str(rank)}, cwd=hc.runtime.cwd))
    threading.Thread(target=watch, args=(procs,), daemon=True).start()
    return procs


def watch(procs: list[subprocess.Popen], every_s: float = 2.0) -> None:
    """If a rank fails, stop the others and this one (SIGTERM: it saves last.ckpt): rank zero would otherwise
    wait in its next all-reduce for a process that is gone."""
    while all(p.poll() in (None, 0) for p in procs):
        if all(p.poll() == 0 for p in procs):
            return
        time.sleep(every_s)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def isolated_job() -> Iterator[list[subprocess.Popen]]:
    """Leave the process as the job found it, so the next job of a multirun can start DDP afresh; yields the
    list the job's launched ranks go in, and waits for them at the end.

    Starting ranks exports LOCAL_RANK, WORLD_SIZE, MASTER_PORT, ... into this process, and DDP keeps the
    process group; the next job would take them as 'launched externally' and wait for ranks that no longer
    exist. On exit: wait for the ranks, destroy the process group, restore the environment."""
    before, procs = dict(os.environ), []
    try:
        yield procs
    except BaseException:  # the other ranks would wait for this one in their next all-reduce
        for p in procs:
            p.terminate()
        raise
    finally:
        for p in procs:
            p.wait()
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key in set(os.environ) - set(before):
            del os.environ[key]
        os.environ.update(before)
