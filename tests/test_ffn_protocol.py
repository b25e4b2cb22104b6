"""The Fourier-features Table 1 protocol (experiment=ffn_div2k|ffn_text): split, B matrices, settings, table."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from nfields.analysis.ffn_table import search_table, table
from nfields.analysis.report import find_runs
from nfields.fields.encodings.basic import Basic
from nfields.fields.encodings.fourier import GaussianFourier
from nfields.fields.encodings.positional import Positional
from nfields.tasks.interpolate import Interpolate
from tests.conftest import ROOT


def test_split_is_the_even_grid_for_training_and_the_odd_grid_for_test() -> None:
    img = torch.rand(16, 16, 3)
    obs = Interpolate(factor=2).observe(img)
    rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    assert torch.equal(obs.train_mask, (rows % 2 == 0) & (cols % 2 == 0))  # [::2, ::2]: 64 of 256 pixels
    assert torch.equal(obs.eval_mask, (rows % 2 == 1) & (cols % 2 == 1))  # [1::2, 1::2]
    assert not (obs.train_mask & (obs.eval_mask | obs.val_mask)).any()  # no scored pixel is trained on
    assert torch.equal(obs.values, img[::2, ::2].reshape(-1, 3))


def notebook_features(x: np.ndarray, B: np.ndarray) -> np.ndarray:
    """input_mapping of the notebook: [sin(2 pi x B^T), cos(2 pi x B^T)] (nfields puts cos first)."""
    p = 2 * np.pi * x @ B.T
    return np.concatenate([np.cos(p), np.sin(p)], -1)


def test_b_matrices_are_the_notebooks() -> None:
    x = np.random.default_rng(0).random((50, 2)).astype(np.float32)
    xt = torch.from_numpy(x)
    # basic: B = I
    assert np.allclose(Basic()(xt).numpy(), notebook_features(x, np.eye(2)), atol=1e-5)
    # positional: bvals = 2^linspace(0, s, 128) - 1; B = [[bvals, 0], [0, bvals]] (256 rows, 512 features)
    bvals = 2.0 ** np.linspace(0, 6, 128) - 1
    B = np.concatenate([np.stack([bvals, np.zeros(128)], 1), np.stack([np.zeros(128), bvals], 1)])
    pos = Positional(n_features=256, scale=6.0)
    assert pos.out_dim == 512 and np.allclose(pos(xt).numpy(), notebook_features(x, B), atol=1e-4)
    # gaussian: sigma * N(0, 1) of shape (256, 2), the same draw for every image of a set (same seed)
    a, b = GaussianFourier(n_features=256, sigma=10.0, seed=0), GaussianFourier(n_features=256, sigma=10.0, seed=0)
    assert a.B.shape == (256, 2) and torch.equal(a.B, b.B)
    assert abs(float(a.B.std()) - 10.0) < 1.5
    assert torch.allclose(GaussianFourier(sigma=14.0, seed=0).B, a.B * 1.4)  # sigma only scales the draw


@pytest.mark.parametrize(
    "experiment, lrs, scale, sigma",
    [("ffn_div2k", {"none": 1e-2, "basic": 1e-2, "positional": 1e-3, "fourier": 1e-3}, 6.0, 10.0),
     ("ffn_text", {"none": 1e-3, "basic": 1e-3, "positional": 1e-3, "fourier": 1e-3}, 5.0, 14.0)],
)  # fmt: skip
def test_the_experiments_set_the_papers_hyperparameters(make_cfg, experiment, lrs, scale, sigma) -> None:
    for enc, lr in lrs.items():
        cfg = make_cfg(f"experiment={experiment}", "data.root=/nowhere", f"encoding={enc}")
        assert cfg.model.lr == lr, enc
        assert cfg.trainer.max_steps == 2000 and cfg.data.batch_size is None and cfg.task.factor == 2
        assert cfg.network.n_neurons == 256 and cfg.network.n_hidden_layers == 3 and cfg.network.init == "glorot_normal"
        if enc == "positional":
            assert cfg.encoding.scale == scale and instantiate(cfg.encoding).out_dim == 512
        if enc == "fourier":
            assert cfg.encoding.sigma == sigma and instantiate(cfg.encoding).B.shape == (256, 2)
    assert make_cfg("encoding=fourier").encoding.sigma == 10.0  # outside a protocol: the encoding's default


def fake_run(d: Path, encoding: str, psnr: float, size: int = 128, steps: int = 500, extra: dict | None = None) -> None:
    (d / ".hydra").mkdir(parents=True)
    cfg = {"data": {"size": size, "split": "test"}, "trainer": {"max_steps": steps}, "encoding": {"sigma": 3.0}}
    cfg["protocol"] = {"name": "div2k", "paper": {"none": 19.32, "fourier": 25.57}, "paper_std": {"none": 2.48}}
    OmegaConf.save(OmegaConf.merge(cfg, extra or {}), d / ".hydra" / "config.yaml")
    OmegaConf.save({"hydra": {"runtime": {"choices": {"encoding": encoding}}}}, d / ".hydra" / "hydra.yaml")
    (d / "metrics.json").write_text(json.dumps({"test/psnr": psnr}))


def test_the_table_puts_each_cell_beside_the_paper_and_names_a_reduced_run(tmp_path: Path) -> None:
    for i, (enc, p) in enumerate([("none", 18.0), ("none", 20.0), ("fourier", 26.0), ("fourier", 27.0)]):
        fake_run(tmp_path / str(i), enc, p)
    md, result = table(find_runs(tmp_path))
    assert "REDUCED protocol, not the paper's: 128² images, 500 steps, 2 images" in md
    assert "| none | 19.00 ± 1.00 (n=2) | 19.32 ± 2.48 | -0.32 |" in md  # numpy's std (ddof 0), as the notebook
    assert "| fourier | 26.50 ± 0.50 (n=2) |" in md and "+0.93" in md
    assert result["protocol"]["mode"] == "reduced" and "does NOT hold" in md  # basic/positional missing


def test_the_search_picks_the_best_mean_on_its_split(tmp_path: Path) -> None:
    for i, (sigma, p) in enumerate([(2.0, 20.0), (2.0, 22.0), (4.0, 23.0), (4.0, 23.5), (8.0, 19.0)]):
        fake_run(tmp_path / str(i), "fourier", p, extra={"protocol": {"sigma": sigma}})
    md, result = search_table(find_runs(tmp_path), "protocol.sigma")
    assert result["best"] == 4.0 and "| 4 (best) | 23.25 | 2 |" in md and "Best: protocol.sigma=4" in md


@pytest.mark.slow
def test_the_reduced_table_runs_end_to_end_through_train_py(tmp_path: Path) -> None:
    """Two tiny images, 5 steps: 4 jobs (one per encoding, the 2 images as members) through train.py, then the table."""
    (tmp_path / "set" / "test").mkdir(parents=True)
    for i in range(2):
        a = np.random.default_rng(i).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(a).save(tmp_path / "set" / "test" / f"{i:02d}.png")
    cmd = [sys.executable, str(ROOT / "train.py"), "experiment=ffn_text", f"data.root={tmp_path / 'set'}",
           "data.limit=2", "trainer.max_steps=5", f"hydra.sweep.dir={tmp_path / 'sweep'}"]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (tmp_path / "sweep" / "ffn_table.md").read_text()
    assert "set text: REDUCED protocol" in md and "5 steps, 2 images" in md
    cells = json.loads((tmp_path / "sweep" / "ffn_table.json").read_text())["cells"]
    assert sorted(cells) == ["basic", "fourier", "none", "positional"]
    assert all(len(c["psnr"]) == 2 and math.isfinite(c["mean"]) for c in cells.values())
    assert (tmp_path / "sweep" / "ffn_table.png").stat().st_size > 1000
