"""Resume: a run killed mid-training continues from last.ckpt and ends where an uninterrupted run ends."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from nfields.run.rundir import ProtectRunDir
from nfields.run.train import train
from tests.conftest import ROOT, run_train

# model.scheduler=null: the killed run is told 100000 steps, so a decay over trainer.max_steps would differ
STEPS = 100  # the killed run checkpoints at step 20 or so; the resumed run trains the rest
ARGS = ["debug=fast", "logger=wandb", f"trainer.max_steps={STEPS}", "log.val_every_n_steps=10", "model.scheduler=null"]


def psnr(run: Path) -> float:
    return json.loads((run / "metrics.json").read_text())["test/psnr"]


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(make_cfg, tmp_path: Path) -> None:
    full, killed, resumed = tmp_path / "full", tmp_path / "killed", tmp_path / "resumed"
    train(make_cfg(*ARGS, run_dir=full))  # the uninterrupted reference needs no process of its own

    ckpt = killed / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *ARGS, "trainer.max_steps=100000", f"hydra.run.dir={killed}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    step = 0
    while time.time() < deadline and step < 20:
        time.sleep(0.05)
        if ckpt.exists():
            try:
                step = torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"]
            except Exception:  # noqa: BLE001 - never half-written (atomic), but be robust to races
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 20 <= step < STEPS, f"checkpoint at step {step}"

    out = run_train([*ARGS, f"ckpt_path={ckpt}", f"hydra.run.dir={resumed}"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((resumed / "metrics.json").read_text())["step"] == STEPS
    assert abs(psnr(resumed) - psnr(full)) < 0.3
    # the resumed run continues the killed run's W&B run (same id)
    killed_id = next((killed / "wandb").glob("offline-run-*")).name.rsplit("-", 1)[-1]
    assert next((resumed / "wandb").glob("offline-run-*")).name.endswith(killed_id)


@pytest.mark.slow
def test_requeued_slurm_job_resumes_from_its_own_checkpoint(make_cfg, capsys, tmp_path: Path) -> None:
    """SLURM requeues a preempted job into the same run dir with SLURM_RESTART_COUNT >= 1: it must continue
    from <run dir>/checkpoints/last.ckpt (and its W&B run), not refuse the dir or restart from step 0."""
    run = tmp_path / "job"
    train(make_cfg(*ARGS, "trainer.max_steps=30", run_dir=run))  # stands in for the preempted first attempt
    first_id = next((run / "wandb").glob("offline-run-*")).name.rsplit("-", 1)[-1]
    again = run_train([*ARGS, "trainer.max_steps=60", f"hydra.run.dir={run}"], env={"SLURM_RESTART_COUNT": "1"})
    assert again.returncode == 0, again.stderr[-3000:]
    assert "requeued SLURM job: resuming from" in again.stdout + again.stderr
    assert json.loads((run / "metrics.json").read_text())["step"] == 60
    steps = [h["step"] for h in json.loads((run / "history.json").read_text())["val"]]
    assert steps == list(range(10, 61, 10)), steps  # both attempts' validations (the checkpoint carries them)
    assert sorted(p.name.rsplit("-", 1)[-1] for p in (run / "wandb").glob("offline-run-*")) == [first_id] * 2
    assert f"upload them as one run with: wandb sync {run}/wandb/offline-run-*" in again.stdout + again.stderr
    # without the requeue marker the same command is refused: the dir holds another run (train.py's run-dir
    # check, called as Hydra calls it; test_reliability_runs checks the same refusal from the command line)
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        ProtectRunDir().on_run_start(OmegaConf.create({"ckpt_path": None, "hydra": {"run": {"dir": str(run)}}}))
    assert refused.value.code == 2 and "already holds another run" in capsys.readouterr().err
