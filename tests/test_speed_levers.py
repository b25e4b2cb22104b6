"""Speed levers chosen by config (model.compile, model.optimizer.fused): same results, same checkpoints.

Their speed is measured in scripts/bench.py (BENCHMARKS.md), never asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train
from nfields.run.validate import validate_config

TINY = ["debug=fast", "logger=none", "data.size=16", "network.n_neurons=32", "trainer.max_steps=30"]


def run(make_cfg, tmp_path: Path, name: str, *over: str) -> dict:
    cfg = make_cfg(*TINY, *over, run_dir=tmp_path / name)
    train(cfg)
    return json.loads((tmp_path / name / "metrics.json").read_text())


def test_fused_adam_matches_the_default(make_cfg, tmp_path: Path) -> None:
    base = run(make_cfg, tmp_path, "base")
    fused = run(make_cfg, tmp_path, "fused", "model.optimizer.fused=true")
    assert fused["test/psnr"] == pytest.approx(base["test/psnr"], abs=0.05)  # the same update, one kernel


@pytest.mark.slow
def test_compiled_field_trains_like_the_plain_one(make_cfg, tmp_path: Path) -> None:
    base = run(make_cfg, tmp_path, "base")
    compiled = run(make_cfg, tmp_path, "compiled", "model.compile=true")
    assert compiled["test/psnr"] == pytest.approx(base["test/psnr"], abs=0.1)
    keys = torch.load(tmp_path / "compiled/checkpoints/last.ckpt", weights_only=False)["state_dict"].keys()
    plain = torch.load(tmp_path / "base/checkpoints/last.ckpt", weights_only=False)["state_dict"].keys()
    assert list(keys) == list(plain)  # compiling in place keeps the parameter names


def test_compile_flag_compiles_in_place(make_cfg) -> None:
    cfg = make_cfg(*TINY, "model.compile=true")
    module = build_module(cfg, build_datamodule(cfg))
    assert module.field._compiled_call_impl is not None  # nn.Module.compile(): compiled on first call
    assert all(not k.startswith("_orig_mod") for k in module.state_dict())


def test_bad_lever_values_are_rejected_before_training(make_cfg) -> None:
    with pytest.raises(ConfigError, match="model.optimizer.fused"):
        validate_config(make_cfg(*TINY, "model.optimizer.fused=2"))  # torch would run unfused without a word
    cfg = make_cfg(*TINY, "model.compile=maybe")
    with pytest.raises(
        ConfigError, match=r"model.compile=maybe: must be true or false \(true = field\), or field or step"
    ):
        build_module(cfg, build_datamodule(cfg))  # the module checks its own key


def test_several_steps_per_call_reproduce_one_step_per_call(make_cfg, tmp_path: Path) -> None:
    """model.steps_per_call=5 takes the same 30 optimiser steps (and validations) in 6 Lightning calls."""
    sched = ["log.val_every_n_steps=10", "log.gif_every_n_steps=10", "data.batch_size=64"]
    one = run(make_cfg, tmp_path, "one", *sched)
    five = run(make_cfg, tmp_path, "five", *sched, "model.steps_per_call=5")
    assert five["step"] == one["step"] == 30
    assert five["test/psnr"] == pytest.approx(one["test/psnr"], abs=1e-3)  # same samples, same updates
    history = [json.loads((tmp_path / n / "history.json").read_text())["val"] for n in ("one", "five")]
    assert [h["step"] for h in history[1]] == [h["step"] for h in history[0]] == [10, 20, 30]
    ckpt = torch.load(tmp_path / "five/checkpoints/last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 30


@pytest.mark.parametrize(
    "over, key",
    [
        (["trainer.max_steps=32"], "trainer.max_steps"),
        (["trainer.max_steps=30", "log.val_every_n_steps=7"], "log.val_every_n_steps"),
    ],
)
def test_steps_per_call_must_divide_the_schedule(make_cfg, over: list[str], key: str) -> None:
    cfg = make_cfg(*TINY, "log.val_every_n_steps=10", "log.gif_every_n_steps=10", "model.steps_per_call=5", *over)
    with pytest.raises(ConfigError, match=key):
        validate_config(cfg)


def test_steps_per_call_is_a_key_of_the_single_image_module_only(make_cfg) -> None:
    """model=collection has no steps_per_call: Hydra names the key in one line (train.py prints it)."""
    with pytest.raises(Exception, match="Could not override 'model.steps_per_call'"):
        make_cfg(*TINY, "data=synthetic", "model.steps_per_call=5")


def test_several_steps_per_call_still_log_the_training_loss(make_cfg, tmp_path: Path) -> None:
    """Lightning counts log_every_n_steps in calls; with 5 steps per call global_step + 1 is never a multiple."""
    over = ["model.steps_per_call=5", "trainer.max_steps=100", "trainer.log_every_n_steps=10", "logger=csv"]
    run(make_cfg, tmp_path, "five", *over, "log.val_every_n_steps=50", "log.gif_every_n_steps=50")
    rows = (next((tmp_path / "five").glob("**/metrics.csv"))).read_text().splitlines()
    assert "train/loss" in rows[0].split(","), rows[0]
    losses = [r.split(",")[rows[0].split(",").index("train/loss")] for r in rows[1:]]
    assert sum(1 for v in losses if v) >= 2  # logged at calls 10 and 20 (steps 50 and 100)
