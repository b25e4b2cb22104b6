"""DDP on CPU (2 gloo processes) under Hydra: one run dir and one W&B run per job, also in multiruns."""

import json
from pathlib import Path

import pytest

from tests.conftest import run_train


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.slow
def test_ddp_cpu_matches_one_process_with_the_same_total_batch(tmp_path: Path) -> None:
    common = ["debug=fast", "logger=wandb", "trainer.max_steps=40"]
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert run_train([*common, f"hydra.run.dir={single}"]).returncode == 0
    proc = run_train([*common, "trainer=ddp_cpu", f"hydra.run.dir={ddp}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MEMBER: 2/2" in proc.stdout + proc.stderr  # really two processes
    assert len(list((ddp / "wandb").glob("offline-run-*"))) == 1
    assert not (tmp_path / "outputs").exists() and (ddp / "checkpoints" / "last.ckpt").exists()
    # full batch: each rank takes every other pixel; averaged gradients equal the full-batch gradient
    assert abs(metrics(ddp)["test/psnr"] - metrics(single)["test/psnr"]) < 0.5
    assert metrics(ddp)["step"] == 40


@pytest.mark.slow
def test_ddp_inside_a_multirun(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_train(
        ["-m", "trainer=ddp_cpu", "encoding=none,fourier", "debug=fast", "logger=wandb", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    for job in ("0", "1"):
        assert len(list((sweep / job / "wandb").glob("offline-run-*"))) == 1
        assert metrics(sweep / job)["step"] == 30
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()  # no stray dirs
