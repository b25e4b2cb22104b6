"""Shared fixtures: compose the real config (as train.py does) with test overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from nfields.run.compose import CONFIGS, compose_run_config

ROOT = CONFIGS.parent
# scripts/*.py import nfields as installed (pip install -e), which may be another checkout's: the scripts and
# train.py that tests start in subprocesses import this checkout's, the code under test.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)

if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n 2 (pyproject): two workers share the two cores,
    torch.set_num_threads(1)  # one thread each: two threads per worker oversubscribe them many times over


@pytest.fixture(autouse=True)
def _no_wandb_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests run as a new user would: no W&B credentials, so runs must go offline by themselves."""
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))


@pytest.fixture(scope="module")
def one_thread():
    """Small matmuls (complex ones above all) on the loaded 2-core machine run ~20x slower with two OpenMP
    threads than with one: modules of many small tensor tests pin one thread (as the xdist workers do)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_cfg(tmp_path: Path):
    def make(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return compose_run_config(list(overrides), run_dir or tmp_path / "run")

    yield make
    GlobalHydra.instance().clear()


def run_train(args: list[str], cwd: Path = ROOT, timeout: int = 600, env: dict | None = None):
    """`python train.py ARGS` as a user types it; returns the CompletedProcess."""
    import subprocess
    import sys

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
