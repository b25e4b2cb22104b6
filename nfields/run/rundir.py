"""ProtectRunDir: a run never writes into a directory that holds another run's results.

Hydra writes <run dir>/.hydra/*.yaml before the task starts, so the check has to be a
Hydra callback (on_run_start / on_multirun_start), not code in train(). The default
run dirs carry microseconds and never collide; this guards an explicit
`hydra.run.dir=...` / `hydra.sweep.dir=...`. Resuming (`ckpt_path=` inside that dir) is allowed; resuming
a run that already reached trainer.max_steps says so and changes nothing (its record stays as it was).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from nfields.core.echo import fail
from nfields.core.errors import CheckpointError, ConfigError
from nfields.run.resume import read_checkpoint, requeued

RESULTS = ("metrics.json", "checkpoints/last.ckpt")


def existing_results(run_dir: Path, jobs: str = "") -> list[Path]:
    """What another run left: run_dir itself when it is a file, else its RESULTS (jobs="*/": a sweep's jobs')."""
    if run_dir.exists() and not run_dir.is_dir():
        return [run_dir]
    return [p for name in RESULTS for p in sorted(run_dir.glob(jobs + name))]


def refuse(key: str, run_dir: Path, found: Path) -> NoReturn:
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    held = f"already holds another run ({found.relative_to(run_dir)}); choose a new directory, or resume that run"
    is_file = "is a file, not a directory; choose a new directory"
    fail(ConfigError(key, run_dir, is_file if found == run_dir else f"{held} with ckpt_path={ckpt}"))


def resuming_inside(config: DictConfig, run_dir: Path) -> bool:
    """ckpt_path points into run_dir: the run continues itself (resuming run A into run B's dir does not count)."""
    if requeued():  # SLURM restarted this job: it continues in its own directory (nfields.run.resume)
        return True
    ckpt = config.get("ckpt_path")
    return bool(ckpt) and Path(str(ckpt)).resolve().is_relative_to(run_dir.resolve())


def finished_message(config: DictConfig, run_dir: Path) -> str | None:
    """The line for resuming a run that has nothing left to do: its checkpoint is at trainer.max_steps (or beyond)
    and its metrics.json is that step's (a run stopped during its final test is resumed, to test)."""
    ckpt, max_steps = config.get("ckpt_path"), config.get("trainer", {}).get("max_steps")
    metrics = run_dir / "metrics.json"
    if not ckpt or not isinstance(max_steps, int) or max_steps < 1 or not metrics.exists():
        return None
    try:
        step = read_checkpoint(str(ckpt)).get("global_step")
        done = json.loads(metrics.read_text()).get("step")
    except (CheckpointError, ValueError, OSError):
        return None  # an unusable checkpoint is reported by the resume checks, in their words
    if not isinstance(step, int) or step < max_steps or done != step:
        return None
    return (
        f"{run_dir}: the run is finished (step {step}, trainer.max_steps={max_steps}); nothing changed. "
        f"To train on, resume with a larger trainer.max_steps"
    )


class ProtectRunDir(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = Path(str(config.hydra.run.dir))
        if resuming_inside(config, run_dir):
            message = finished_message(config, run_dir)
            if message:
                print(message, flush=True)
                sys.exit(0)  # what was asked for (a run of trainer.max_steps steps) is there
            return
        if found := existing_results(run_dir):
            refuse("hydra.run.dir", run_dir, found[0])

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not resuming_inside(config, sweep_dir) and (found := existing_results(sweep_dir, jobs="*/")):
            refuse("hydra.sweep.dir", sweep_dir, found[0])
