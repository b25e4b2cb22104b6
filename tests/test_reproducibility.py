"""The same seed gives the same metrics on CPU (docs/reliability.md: what is and is not deterministic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfields.run.train import train
from tests.conftest import run_train

OVERRIDES = [
    "debug=fast",
    "logger=none",
    "trainer=cpu",
    "data.batch_size=64",
    "trainer.max_steps=10",
    "~callbacks.progress_gif",
]


def metrics(run: Path) -> dict:
    m = json.loads((run / "metrics.json").read_text())
    # wall-clock figures (speed, time to the first step) and steps_per_call=auto's choice from a timing
    # probe are never reproducible; the results must be, whatever k
    return {k: v for k, v in m.items() if not k.startswith("perf/")}


def test_same_seed_same_metrics_in_process(make_cfg, tmp_path: Path) -> None:
    """Random pixel batches (data.batch_size) make the global RNG matter; a different seed must differ."""
    runs = {name: tmp_path / name for name in ("a", "b", "c")}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        train(make_cfg(*OVERRIDES, f"seed={seed}", run_dir=runs[name]))
    a, b, c = (metrics(runs[n]) for n in "abc")
    assert a == b  # bitwise: exact float equality of every value
    assert a["test/psnr"] != c["test/psnr"]


@pytest.mark.slow
def test_same_seed_same_metrics_across_processes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        proc = run_train([*OVERRIDES, "seed=5", f"hydra.run.dir={tmp_path / name}"])
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
