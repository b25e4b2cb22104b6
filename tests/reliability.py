"""Helpers for the reliability tests: run train() exactly as train.py's main does and capture the exit."""

from __future__ import annotations

import pytest
from omegaconf import DictConfig

from nfields.run.exits import report_errors
from nfields.run.train import train


def entry_point(cfg: DictConfig) -> float | None:
    """What `python train.py` runs after Hydra composed the config (see train.py:main)."""
    return report_errors(train, cfg, batch_size=cfg.get("data", {}).get("batch_size"))


def expect_error(cfg: DictConfig, capsys: pytest.CaptureFixture, code: int = 2) -> str:
    """Run the entry point; assert it exits with `code` and printed exactly one 'Error: ' line. Returns it."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        entry_point(cfg)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("Error: ")]
    assert exc.value.code == code, err[-2000:]
    assert len(lines) == 1, err[-2000:]
    assert "Traceback" not in err
    return lines[0]
