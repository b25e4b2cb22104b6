"""scripts/zoo.py end to end on a tiny set: search on train, run on test, table and figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nfields.lit.schedulers import ExponentialDecay
from tests.conftest import ROOT


def test_the_zoo_schedule_decays_by_a_tenth_over_the_run() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = ExponentialDecay(opt, total_steps=10)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(lrs[:11], 0.1 ** (np.arange(11) / 10), rtol=1e-6)
    assert lrs[11] == pytest.approx(0.1)  # held after total_steps


@pytest.mark.slow
def test_the_zoo_searches_on_train_and_reports_test(tmp_path: Path) -> None:
    for split, seed in (("train", 0), ("test", 1)):
        (tmp_path / "set" / split).mkdir(parents=True)
        for i in range(2):
            a = np.random.default_rng([seed, i]).integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(a).save(tmp_path / "set" / split / f"{i:02d}.png")
    out = tmp_path / "zoo"
    cmd = [sys.executable, str(ROOT / "scripts" / "zoo.py"), "--root", str(tmp_path / "set"), "--size", "16"]
    cmd += ["--steps", "10", "--images", "2", "--trials", "2", "--budgets", "10000", "--tasks", "fit"]
    cmd += ["--methods", "grid,relu+fourier", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((out / "zoo.json").read_text())
    assert [r["method"] for r in rows] == ["grid", "relu+fourier"]
    for r in rows:
        assert len(r["psnr"]) == 2 and r["params"] <= 10000 and r["render_s"] > 0 and "model.lr" in r["best"]
    assert len(list((out / "fit" / "10000" / "grid" / "search").glob("trial*"))) == 2  # searched on train
    assert "| fit | 10,000 | grid |" in (out / "zoo.md").read_text() and (out / "zoo.png").stat().st_size > 1000
