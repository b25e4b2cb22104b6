"""Sweep definitions run the way their launchers would run them."""

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from sweep_command import agent_command  # noqa: E402


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
