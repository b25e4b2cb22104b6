"""Several optimiser steps per Lightning call (lit/stepped.py, run/speed.py) give the same run as one step per call.

Same seed, same metrics, the same loss at the same steps, validations and checkpoints at the same steps,
the scheduler stepped per optimiser step, and model.steps_per_call=auto a divisor of every interval.
Speed is measured by scripts/bench.py (BENCHMARKS.md), never here.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from nfields.core.errors import ConfigError
from nfields.run.build import build_datamodule, build_module
from nfields.run.speed import choose_steps_per_call, nearest_divisor, schedule_gcd
from nfields.run.train import train

# Random batches (the sampler's stream must be the same whatever k), validations every 10 steps,
# snapshots every 5, training metrics every 2 steps (not a multiple of k = 5: logged per optimiser step).
TINY = [
    "debug=fast",
    "logger=csv",
    "data.size=16",
    "data.batch_size=64",
    "trainer.max_steps=30",
    "trainer.log_every_n_steps=2",
]


def fit(make_cfg, tmp_path: Path, name: str, *over: str) -> dict:
    """Train; -> metrics.json with the validated steps, the logged train/loss per step and the checkpoint's step."""
    run = tmp_path / name
    train(make_cfg(*TINY, *over, run_dir=run))
    out = json.loads((run / "metrics.json").read_text())
    out["val_steps"] = [h["step"] for h in json.loads((run / "history.json").read_text())["val"]]
    rows = list(csv.DictReader(next(run.glob("**/metrics.csv")).open()))
    out["losses"] = {int(r["step"]): float(r["train/loss"]) for r in rows if r.get("train/loss")}
    out["lrs"] = {int(r["step"]): float(r["train/lr"]) for r in rows if r.get("train/lr")}
    out["ckpt_step"] = torch.load(run / "checkpoints/last.ckpt", weights_only=False)["global_step"]
    return out


def same_run(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] == a["ckpt_step"] == b["ckpt_step"] == 30
    assert a["val_steps"] == b["val_steps"] == [10, 20, 30]
    assert sorted(a["losses"]) == sorted(b["losses"]) == list(range(2, 31, 2))  # every 2 optimiser steps
    for step, loss in a["losses"].items():
        assert b["losses"][step] == pytest.approx(loss, rel=1e-6, abs=1e-9), step
    for key in ("test/psnr", "val/psnr", "test/ssim"):
        assert b[key] == pytest.approx(a[key], abs=1e-4), key


def test_results_do_not_depend_on_steps_per_call(make_cfg, tmp_path: Path) -> None:
    one = fit(make_cfg, tmp_path, "one", "model.steps_per_call=1")
    five = fit(make_cfg, tmp_path, "five", "model.steps_per_call=5")
    auto = fit(make_cfg, tmp_path, "auto")  # the default
    assert one["perf/steps_per_call"] == 1 and five["perf/steps_per_call"] == 5
    assert auto["perf/steps_per_call"] in (1, 5)  # a divisor of 30, 10 and 5
    same_run(one, five)
    same_run(one, auto)


def test_the_scheduler_steps_per_optimiser_step(make_cfg, tmp_path: Path) -> None:
    sched = [
        "model.scheduler=null",  # the default's cosine keys gone, then StepLR's
        "+model.scheduler._target_=torch.optim.lr_scheduler.StepLR",
        "+model.scheduler._partial_=true",
        "+model.scheduler.step_size=3",
        "+model.scheduler.gamma=0.5",
    ]
    one = fit(make_cfg, tmp_path, "one", "model.steps_per_call=1", *sched)
    five = fit(make_cfg, tmp_path, "five", "model.steps_per_call=5", *sched)
    assert five["lrs"] == one["lrs"]
    assert one["lrs"][2] == pytest.approx(1e-3) and one["lrs"][6] == pytest.approx(2.5e-4)  # halved every 3 steps
    same_run(one, five)


def test_bf16_autocast_is_kept_around_every_step_of_a_call(make_cfg, tmp_path: Path) -> None:
    """trainer.precision=bf16-mixed: autocast is Lightning's context around the call; k steps stay in it."""
    one = fit(make_cfg, tmp_path, "one", "model.steps_per_call=1", "trainer.precision=bf16-mixed")
    five = fit(make_cfg, tmp_path, "five", "model.steps_per_call=5", "trainer.precision=bf16-mixed")
    fp32 = fit(make_cfg, tmp_path, "fp32", "model.steps_per_call=1")
    same_run(one, five)
    assert one["losses"][30] != fp32["losses"][30]  # bf16 really ran


class CountingAdam(torch.optim.Adam):
    """An optimiser with its own zero_grad: every step must call it."""

    calls = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        CountingAdam.calls += 1
        super().zero_grad(set_to_none)


def test_an_optimiser_with_its_own_zero_grad_gets_it_called(make_cfg, tmp_path: Path) -> None:
    CountingAdam.calls = 0
    k = "model.steps_per_call=5"  # no timing probe (auto's), whose optimiser would count too
    own = fit(make_cfg, tmp_path, "own", k, "model.optimizer._target_=tests.test_steps_per_call.CountingAdam")
    assert CountingAdam.calls == 30  # once per optimiser step
    plain = fit(make_cfg, tmp_path, "plain", k)  # torch's own zero_grad
    assert CountingAdam.calls == 30
    same_run(own, plain)


def test_train_psnr_is_the_loss_s_psnr_without_a_penalty(make_cfg, tmp_path: Path) -> None:
    out = fit(make_cfg, tmp_path, "plain")
    rows = list(csv.DictReader(next((tmp_path / "plain").glob("**/metrics.csv")).open()))
    logged = [r for r in rows if r.get("train/psnr")]
    assert len(logged) == 15 and out["step"] == 30
    for r in logged:
        assert float(r["train/psnr"]) == pytest.approx(-10 * math.log10(float(r["train/loss"])), abs=1e-4)


def test_a_full_batch_s_fixed_features_are_computed_once_for_the_same_run(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """model.keep_features (default): the Fourier features of the full batch are computed at the first step
    only, and the run is the one that computes them every step."""
    from nfields.fields.encodings.base import ProjectionEncoding

    computed = ProjectionEncoding.phase_features
    sizes: list[int] = []

    def counting(self, x: torch.Tensor) -> torch.Tensor:
        sizes.append(x.shape[0])
        return computed(self, x)

    monkeypatch.setattr(ProjectionEncoding, "phase_features", counting)
    common = ["data.batch_size=null", "model.steps_per_call=5"]  # 16^2 / 4: 64 training pixels (even grid)
    kept = fit(make_cfg, tmp_path, "kept", *common, "task=interpolate")
    assert sizes.count(64) == 1  # the training batch's: once (validation renders all 256 pixels)
    sizes.clear()
    every = fit(make_cfg, tmp_path, "every", *common, "task=interpolate", "model.keep_features=false")
    assert sizes.count(64) == 30
    same_run(kept, every)


def test_auto_is_the_divisor_nearest_to_a_100_ms_call(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_cfg(*TINY, "trainer.max_steps=1000", "log.val_every_n_steps=500", "log.gif_every_n_steps=500")
    assert schedule_gcd(cfg) == 500
    assert [nearest_divisor(500, want) for want in (1, 3, 16, 20, 499, 10_000)] == [1, 4, 20, 20, 500, 500]
    module = build_module(cfg, build_datamodule(cfg))
    for step_s, k in ((1e-3, 100), (1.5e-3, 50), (5e-3, 20), (0.05, 2), (0.2, 1), (1e-6, 500)):
        monkeypatch.setattr(module, "probe_step_s", lambda device, s=step_s: s)
        assert choose_steps_per_call(cfg, module) == k, step_s
    ddp = cfg.copy()
    with open_dict(ddp):
        ddp.trainer.devices, ddp.trainer.strategy = 2, "ddp"
    assert choose_steps_per_call(ddp, module) == 1  # every rank would time its own probe
    assert module.probe_step_s is not None and module.steps_per_call == "auto"  # choosing sets nothing itself


def test_the_probe_leaves_the_run_untouched(make_cfg) -> None:
    cfg = make_cfg(*TINY)
    module = build_module(cfg, build_datamodule(cfg))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    rng = torch.get_rng_state()
    assert module.probe_step_s(torch.device("cpu")) > 0
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in before.items())
    assert torch.equal(rng, torch.get_rng_state())


@pytest.mark.slow
def test_compiled_step_follows_the_eager_loss_trajectory(make_cfg, tmp_path: Path) -> None:
    """model.compile=step (forward, loss, backward and the Adam update compiled; CPU needs a C++ compiler):
    the same loss at every logged step as eager, to float tolerance, and the compile time reported."""
    eager = fit(make_cfg, tmp_path, "eager", "model.steps_per_call=5")
    compiled = fit(make_cfg, tmp_path, "compiled", "model.steps_per_call=5", "model.compile=step")
    assert sorted(compiled["losses"]) == sorted(eager["losses"])
    for step, loss in eager["losses"].items():
        assert compiled["losses"][step] == pytest.approx(loss, rel=1e-3), step
    assert compiled["test/psnr"] == pytest.approx(eager["test/psnr"], abs=0.01)
    assert compiled["perf/first_step_s"] > 0


def test_a_resumed_run_keeps_the_checkpoints_steps_per_call(make_cfg, tmp_path: Path) -> None:
    """Lightning's saved loop state counts calls: a checkpoint from k=5 resumes with k=5 under auto, continues at
    step 15 and validates at 20 and 30; another explicit k, or a schedule that k does not divide, is refused in one
    line before any work."""
    first = tmp_path / "first"
    train(make_cfg(*TINY, "trainer.max_steps=15", "log.val_every_n_steps=5", "model.steps_per_call=5", run_dir=first))
    ckpt = first / "checkpoints/last.ckpt"
    assert torch.load(ckpt, weights_only=False)["nfields_steps_per_call"] == 5
    run = tmp_path / "auto"
    train(make_cfg(*TINY, f"ckpt_path={ckpt}", run_dir=run))
    out = json.loads((run / "metrics.json").read_text())
    assert out["step"] == 30 and out["perf/steps_per_call"] == 5
    # the first part's validations (every 5, from the checkpoint), then the resumed part's (every 10)
    assert [h["step"] for h in json.loads((run / "history.json").read_text())["val"]] == [5, 10, 15, 20, 30]
    with pytest.raises(ConfigError, match="model.steps_per_call=1: must be 5 \\(or auto\\) to resume"):
        train(make_cfg(*TINY, "model.steps_per_call=1", f"ckpt_path={ckpt}", run_dir=tmp_path / "k1"))
    with pytest.raises(ConfigError, match="trainer.max_steps=32: must be a multiple of 5"):
        train(make_cfg(*TINY, "trainer.max_steps=32", f"ckpt_path={ckpt}", run_dir=tmp_path / "k32"))


def test_the_probe_times_a_compiled_field_eagerly(make_cfg) -> None:
    """model.compile=field: the probe times an eager copy (compiling a copy would cost more than the probe)."""
    cfg = make_cfg(*TINY, "model.compile=field")
    module = build_module(cfg, build_datamodule(cfg))
    assert 0 < module.probe_step_s(torch.device("cpu")) < 1.0


def _no_library(name: str) -> None:
    raise OSError(f"{name}: cannot open shared object file")


def test_nvml_check_dropped_without_a_driver(monkeypatch):
    """Lightning's PYTORCH_NVML_BASED_CUDA_CHECK costs a dlopen per optimiser step; without libnvidia-ml it
    protects nothing and is dropped, and CUDA's availability reads the same."""
    from nfields.run import speed

    available = torch.cuda.is_available()
    monkeypatch.setenv(speed.NVML_CHECK, "1")
    monkeypatch.setattr(speed.ctypes, "CDLL", _no_library)
    assert speed.drop_needless_nvml_check()
    assert speed.NVML_CHECK not in os.environ
    assert torch.cuda.is_available() == available
    assert not speed.drop_needless_nvml_check()  # nothing left to drop


def test_nvml_check_kept_with_a_driver(monkeypatch):
    from nfields.run import speed

    monkeypatch.setenv(speed.NVML_CHECK, "1")
    monkeypatch.setattr(speed.ctypes, "CDLL", lambda name: object())  # the library loads: a driver is there
    assert not speed.drop_needless_nvml_check()
    assert os.environ[speed.NVML_CHECK] == "1"


@pytest.mark.parametrize(
    ("over", "fused"),
    [
        ([], True),
        (["model.compile=step"], False),
        (["model.optimizer.fused=false"], False),
        (["model.optimizer._target_=torch.optim.SGD"], False),  # another optimiser keeps its own default
    ],
)
def test_adam_is_fused_unless_the_update_is_compiled_or_the_user_says(make_cfg, over, fused) -> None:
    """model.optimizer.fused=null is nfields' choice: one fused kernel for the update, except where model.compile=step
    compiles it (a compiled plain Adam beats an opaque fused op in the graph); an explicit value is kept."""
    cfg = make_cfg(*TINY, *over)
    module = build_module(cfg, build_datamodule(cfg))
    opt = module.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt  # with the default schedule: {optimizer, lr_scheduler}
    assert bool(opt.defaults["fused"]) is fused


def test_an_explicit_k_must_divide_every_interval(make_cfg, tmp_path: Path) -> None:
    """Lightning schedules in calls: k = 7 does not divide the run's 30 steps, nor the guard's interval."""
    with pytest.raises(ConfigError, match=r"trainer.max_steps=30: must be a multiple of model.steps_per_call=7"):
        train(make_cfg(*TINY, "model.steps_per_call=7", run_dir=tmp_path / "k7"))
    guard = ["model.steps_per_call=5", "callbacks.guard.every_n_steps=7"]
    with pytest.raises(ConfigError, match=r"callbacks.guard.every_n_steps=7: must be a multiple of model.steps_per"):
        train(make_cfg(*TINY, *guard, run_dir=tmp_path / "guard"))
