"""Training faults: NaN/inf loss, CUDA out of memory, W&B failures (all simulated, no GPU, no network)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from nfields.lit.single import FieldModule
from tests.reliability import entry_point, expect_error


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(make_cfg, capsys, monkeypatch, tmp_path: Path) -> None:
    """Step 15 turns the loss to NaN: the run stops there (exit 3), last.ckpt from step 10 stays intact."""
    step_loss = FieldModule.loss  # one optimiser step's loss (several steps may share a Lightning call)

    def nan_at_15(self):
        loss = step_loss(self)
        return loss * math.nan if self.trainer.global_step + 1 >= 15 else loss

    monkeypatch.setattr(FieldModule, "loss", nan_at_15)
    cfg = make_cfg("debug=fast", "logger=none", "model.lr=0.01")
    line = expect_error(cfg, capsys, code=3)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert line == (
        "Error: training loss became NaN at step 15 with model.lr=0.01: the optimisation diverged; "
        f"try a lower learning rate, e.g. model.lr=0.001; last good checkpoint kept: {last}"
    )
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == 10
    assert all(torch.isfinite(t).all() for t in ckpt["state_dict"].values())


def test_real_divergence_is_caught(make_cfg, capsys) -> None:
    """An absurd learning rate with an unbounded output really diverges, before any checkpoint."""
    cfg = make_cfg("debug=fast", "logger=none", "model.lr=1e30", "network.output_activation=identity")
    line = expect_error(cfg, capsys, code=3)
    assert line.startswith("Error: training loss became ")
    assert "model.lr=1e+30: the optimisation diverged; try a lower learning rate" in line
    assert line.endswith("no checkpoint had been written yet")


def test_cuda_out_of_memory_suggests_a_smaller_batch(make_cfg, capsys, monkeypatch) -> None:
    step_loss = FieldModule.loss

    def oom_at_3(self):
        if self.trainer.global_step == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return step_loss(self)

    monkeypatch.setattr(FieldModule, "loss", oom_at_3)
    cfg = make_cfg("debug=fast", "logger=none", "data.batch_size=100000")
    line = expect_error(cfg, capsys, code=3)
    assert line == (
        "Error: CUDA out of memory at step 3 with data.batch_size=100000: try a smaller data.batch_size "
        "(e.g. data.batch_size=4096), a smaller data.size or network.n_neurons, or trainer.precision=bf16-mixed"
    )


@pytest.mark.slow
def test_wandb_unreachable_server_falls_back_to_offline(make_cfg, monkeypatch, tmp_path: Path) -> None:
    import wandb

    real_init = wandb.init

    def init(*args, **kwargs):
        if kwargs.get("mode") == "online":
            raise wandb.errors.CommError("Unable to connect to https://api.wandb.ai (simulated)")
        return real_init(*args, **kwargs)

    monkeypatch.setattr(wandb, "init", init)
    cfg = make_cfg("debug=fast", "logger=wandb", "logger.wandb.mode=online")
    with pytest.warns(UserWarning, match="W&B online run could not start .*logging offline instead"):
        entry_point(cfg)
    run = tmp_path / "run"
    assert json.loads((run / "metrics.json").read_text())["step"] == 30
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb"))


def test_wandb_failures_while_logging_never_stop_training(make_cfg, monkeypatch, tmp_path: Path) -> None:
    """Disk full inside W&B (log, video, finish): one warning each, the run completes with its files."""
    import wandb
    from wandb.sdk.wandb_run import Run

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    cfg = make_cfg("debug=fast", "logger=wandb")
    monkeypatch.setattr(Run, "log", disk_full)
    monkeypatch.setattr(wandb, "finish", disk_full)
    with pytest.warns(UserWarning, match="W&B logging failed \\(OSError"):
        assert entry_point(cfg) is not None
    monkeypatch.undo()
    wandb.finish()
    run = tmp_path / "run"
    for name in ("metrics.json", "reconstruction.png", "progress.gif", "checkpoints/last.ckpt"):
        assert (run / name).exists(), name


def test_a_diverged_multirun_job_returns_nan_and_the_sweep_goes_on(make_cfg, capsys, monkeypatch) -> None:
    """In a multirun (detected from Hydra's mode: see the slow real-sweep test) a diverged job returns NaN."""
    import nfields.run.exits

    monkeypatch.setattr(nfields.run.exits, "in_multirun", lambda: True)
    cfg = make_cfg("debug=fast", "logger=none", "model.lr=1e30", "network.output_activation=identity")
    assert math.isnan(entry_point(cfg))  # no SystemExit: the next job of the sweep runs
    assert "Error: training loss became " in capsys.readouterr().err


@pytest.mark.slow
def test_a_diverged_job_does_not_stop_a_real_sweep(tmp_path: Path) -> None:
    from tests.conftest import run_train

    args = ["-m", "debug=fast", "logger=none", "network.output_activation=identity", "model.lr=1e30,1e-3"]
    proc = run_train([*args, f"hydra.sweep.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("Error: training loss became ") == 1
    assert not (tmp_path / "0" / "metrics.json").exists()
    assert json.loads((tmp_path / "1" / "metrics.json").read_text())["step"] == 30
