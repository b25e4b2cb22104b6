"""Sweep definitions run the way their launchers would run them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts.sweep_command import agent_command
from tests.conftest import ROOT, run_train


def test_wandb_agent_command_trains(tmp_path: Path) -> None:
    sweep = yaml.safe_load((ROOT / "scripts" / "wandb_sweep.yaml").read_text())
    cmd = agent_command(sweep, ROOT)
    assert cmd[:3] == ["/usr/bin/env", sys.executable, str(ROOT / "train.py")]
    assert "encoding.sigma=1" in cmd and not any(c.startswith("--") for c in cmd)
    # The exact agent command, made tiny and pointed at a temporary run dir.
    run = tmp_path / "run"
    proc = subprocess.run(
        [*cmd, "debug=fast", "logger=none", f"hydra.run.dir={run}"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "metrics.json").exists()
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert cfg["encoding"]["sigma"] == 1 and cfg["model"]["lr"] == 1.0e-4


@pytest.mark.slow
def test_optuna_search_runs_trials_and_reports_the_best(tmp_path: Path) -> None:
    sweep = tmp_path / "optuna"
    proc = run_train(
        ["hparams_search=optuna", "debug=fast", "logger=none", "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={sweep}"]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    values = [json.loads((sweep / str(i) / "metrics.json").read_text())["val/psnr"] for i in range(4)]
    assert best["best_value"] == pytest.approx(max(values))
    assert set(best["best_params"]) == {"model.lr", "encoding.sigma"}
