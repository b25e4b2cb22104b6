"""scripts/zoo.py end to end on a tiny set: search on train, run on test, table and figure."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nfields.analysis.zoo import METHODS, best_of_grid, grid_overrides, on_edge
from nfields.lit.schedulers import ExponentialDecay
from nfields.run.build import build_datamodule, build_module
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
    cmd += ["--steps", "10", "--images", "2", "--budgets", "10000", "--tasks", "fit"]
    cmd += ["--methods", "grid,relu+fourier,gaussians", "--out", str(out)]  # gaussians: members one by one
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((out / "zoo.json").read_text())
    assert [r["method"] for r in rows] == ["grid", "relu+fourier", "gaussians"]
    for r in rows:
        assert len(r["psnr"]) == 2 and r["params"] <= 10000 and r["render_s"] > 0 and "model.lr" in r["best"]
    search = (out / "fit" / "10000" / "relu+fourier" / "search" / "members.csv").read_text().splitlines()
    assert len(search) == 1 + 2 * 9  # the 3 x 3 grid x 2 train images, one model=many run
    for r in rows:  # the chosen point is the grid's best mean val PSNR, and it is one of the grid's points
        assert max(p["val/psnr"] for p in r["grid"]) == pytest.approx(
            next(p["val/psnr"] for p in r["grid"] if all(p[k] == v for k, v in r["best"].items()))
        )
        assert set(r["best"]) == set(METHODS[r["method"]].grid) and len(r["grid"]) == len(
            list(product(*METHODS[r["method"]].grid.values()))
        )
    md = (out / "zoo.md").read_text()
    assert "| fit | 10,000 | grid |" in md and "relu+fourier (Tancik 2020" in md and "sigma {3, 6, 12}" in md
    assert (out / "zoo.png").stat().st_size > 1000


def test_the_grid_choice_is_the_best_mean_and_a_diverged_point_loses() -> None:
    method = METHODS["siren"]
    rows = [
        {"model.lr": "0.0005", "network.w0_initial": "30", "val/psnr": "30"},
        {"model.lr": "0.0005", "network.w0_initial": "30", "val/psnr": "20"},  # mean 25
        {"model.lr": "0.00016", "network.w0_initial": "15", "val/psnr": "24"},
        {"model.lr": "0.00016", "network.w0_initial": "15", "val/psnr": "24"},  # mean 24
        {"model.lr": "0.0016", "network.w0_initial": "60", "val/psnr": "40"},
        {"model.lr": "0.0016", "network.w0_initial": "60", "val/psnr": "nan"},  # one member diverged
    ]
    best, scores = best_of_grid(rows, method)
    assert best == {"model.lr": 0.0005, "network.w0_initial": 30.0} and len(scores) == 3
    assert on_edge({"model.lr": 0.0016, "network.w0_initial": 60.0}, method) == ["model.lr", "network.w0_initial"]
    assert on_edge(best, method) == []


@pytest.mark.parametrize("name", list(METHODS))
def test_every_zoo_search_is_a_sweep_model_many_can_stack(make_cfg, tmp_path: Path, name: str) -> None:
    """Each method's grid is a model=many sweep whose members really differ when stacked (built and checked
    against each member's own field: a value kept as a Python float in forward is refused)."""
    method = METHODS[name]
    (tmp_path / "set" / "test").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "set" / "test" / "00.png")
    over = [f"data.root={tmp_path / 'set'}", "data.size=8"]
    over += {"grid": [], "gaussians": ["field.n_gaussians=16"]}.get(name, ["network.n_neurons=8"])
    cfg = make_cfg("experiment=zoo", *method.over, *grid_overrides(method), *over)
    module = build_module(cfg, build_datamodule(cfg))
    assert module.n_members == len(list(product(*method.grid.values())))
    assert {k for m in module.members for k in m.sweep} == set(method.grid)
