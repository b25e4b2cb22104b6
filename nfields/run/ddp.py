"""DDP under Hydra: one run directory and one W&B run per job, also inside a multirun.

Lightning's `ddp` strategy starts ranks 1..N-1 by re-running the script with `sys.argv` plus
`hydra.run.dir=<run dir pattern>`. Inside a multirun that argv still holds `-m` and the sweep
lists, so every child would launch a sweep of its own into new directories (a known pain point of
Hydra + Lightning users). Here the children get the *job's* overrides instead, this job's output
directory, and `hydra.mode=RUN`: every rank works in the same run directory, and only rank zero
logs (Lightning's loggers are rank-zero only).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def job_subprocess_cmd(local_rank: int) -> tuple[list[str], str]:
    """The command that starts DDP rank `local_rank` for the current Hydra job, and its cwd."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    cwd = hc.runtime.cwd
    script = Path(sys.argv[0])
    script = script if script.is_absolute() else Path(cwd) / script
    command = [
        sys.executable,
        str(script),
        *hc.overrides.task,
        f"hydra.run.dir={hc.runtime.output_dir}",
        "hydra.output_subdir=null",  # rank zero alone writes .hydra/
        f"hydra.job.name=train_ddp_rank_{local_rank}",
        "hydra.mode=RUN",
    ]
    return command, cwd


def install_hydra_ddp_fix() -> None:
    """Make Lightning's subprocess launcher use `job_subprocess_cmd` (idempotent)."""
    from pytorch_lightning.strategies.launchers import subprocess_script

    subprocess_script._hydra_subprocess_cmd = job_subprocess_cmd


@contextmanager
def isolated_job() -> Iterator[None]:
    """Leave the process as the job found it, so the next job of a multirun can start DDP afresh.

    Lightning's launcher exports LOCAL_RANK, WORLD_SIZE, MASTER_PORT, ... into this process and
    keeps the process group; the next job would take them as 'launched externally' and wait for
    ranks that no longer exist. On exit: destroy the process group, restore the environment.
    """
    import os

    import torch.distributed as dist

    before = dict(os.environ)
    try:
        yield
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key in set(os.environ) - set(before):
            del os.environ[key]
        os.environ.update(before)
