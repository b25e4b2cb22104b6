"""The stepped loop's direct backward and step (lit/stepped.py): loss.backward() between the backward hooks that
do something, where that is all manual_backward would do, and the optimiser's step without Lightning's closure
where that closure only dispatches no-op hooks. They must give the same run as Lightning's own path, still call
every hook a callback or the module overrides at every optimiser step, and step aside where Lightning does more (a
module's own backward). Their speed is measured by scripts/bench.py --case tiny, never here.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch

import nfields.lit.stepped as stepped
from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train

TINY = ["debug=fast", "logger=none", "data.size=16", "data.batch_size=64", "trainer.max_steps=20"]


class HookCounter(pl.Callback):
    """Counts the per-step hooks Lightning's own path would call."""

    def __init__(self) -> None:
        self.calls = {"on_before_backward": 0, "on_after_backward": 0, "on_before_optimizer_step": 0}
        self.losses: list[float] = []

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        self.calls["on_before_backward"] += 1
        self.losses.append(float(loss.detach()))

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.calls["on_after_backward"] += 1
        grads = [p.grad for p in pl_module.parameters() if p.requires_grad]
        assert all(g is not None for g in grads)  # called after the backward pass, as Lightning calls it

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        self.calls["on_before_optimizer_step"] += 1


def fit_with_counter(
    make_cfg, tmp_path: Path, module_cls: type | None = None
) -> tuple[pl.LightningModule, HookCounter]:
    cfg = make_cfg(*TINY, "model.steps_per_call=5", run_dir=tmp_path / "run")
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    if module_cls is not None:
        module.__class__ = module_cls
    counter = HookCounter()
    trainer = pl.Trainer(
        max_steps=20, callbacks=[counter], logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1, limit_val_batches=0, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 20  # every optimiser step counted, 5 per call
    return module, counter


def test_every_overridden_hook_runs_at_every_step(make_cfg, tmp_path: Path) -> None:
    module, counter = fit_with_counter(make_cfg, tmp_path)
    assert module.backward_of != module.manual_backward  # one CPU device, 32-bit: the direct path
    assert module.step_closure  # the counter overrides on_before_optimizer_step: Lightning's closure runs
    assert counter.calls == {"on_before_backward": 20, "on_after_backward": 20, "on_before_optimizer_step": 20}
    first, last = counter.losses[:5], counter.losses[-5:]
    assert sum(last) < sum(first)  # and it trains (random batches: the means of five steps)


def test_a_module_with_its_own_backward_goes_through_lightning(make_cfg, tmp_path: Path) -> None:
    from nfields.lit.single import FieldModule

    class OwnBackward(FieldModule):
        def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
            self.own_backward_calls = getattr(self, "own_backward_calls", 0) + 1
            loss.backward(*args, **kwargs)

    module, counter = fit_with_counter(make_cfg, tmp_path, OwnBackward)
    assert module.backward_of == module.manual_backward
    assert module.own_backward_calls == 20
    assert counter.calls["on_before_backward"] == counter.calls["on_after_backward"] == 20


def test_the_direct_and_lightning_paths_give_the_same_run(make_cfg, tmp_path: Path, monkeypatch) -> None:
    """The same seed through both paths: the same training losses and the same test PSNR."""

    def run(name: str) -> dict:
        out = tmp_path / name
        train(make_cfg(*TINY, "model.steps_per_call=5", "trainer.log_every_n_steps=2", run_dir=out))
        return json.loads((out / "metrics.json").read_text()) | {
            "train": json.loads((out / "history.json").read_text())["train"]
        }

    seen: list[bool] = []
    real_direct_step = stepped.direct_step
    monkeypatch.setattr(stepped, "direct_step", lambda module: seen.append(real_direct_step(module)) or seen[-1])
    direct = run("direct")
    assert seen == [True]  # the default callbacks override no on_before_optimizer_step: the closure is skipped
    monkeypatch.setattr(stepped, "direct_backward", lambda module: None)  # every step through manual_backward
    monkeypatch.setattr(stepped, "direct_step", lambda module: False)  # and through Lightning's closure
    manual = run("manual")
    assert [r["step"] for r in direct["train"]] == [r["step"] for r in manual["train"]] == list(range(2, 21, 2))
    for a, b in zip(direct["train"], manual["train"], strict=True):
        assert a["train/loss"] == pytest.approx(b["train/loss"], rel=1e-6, abs=1e-9)
    assert direct["test/psnr"] == pytest.approx(manual["test/psnr"], abs=1e-5)


def test_the_closure_is_skipped_only_where_it_does_nothing(make_cfg, tmp_path: Path) -> None:
    """Without a callback of on_before_optimizer_step the optimiser skips Lightning's closure; every step is
    still counted in trainer.global_step (the step goes through the LightningOptimizer)."""
    cfg = make_cfg(*TINY, "model.steps_per_call=5", run_dir=tmp_path / "run")
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    trainer = pl.Trainer(
        max_steps=20, callbacks=[], logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1, limit_val_batches=0, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(module, datamodule=dm)
    assert not module.step_closure and trainer.global_step == 20
    assert stepped.direct_step(module)


def test_a_scheduler_keeps_working_on_the_replaced_step(make_cfg, tmp_path: Path) -> None:
    """With the closure skipped the optimiser's step is replaced after the LR scheduler wrapped it: the scheduler
    must still see its own step (no 'overridden' warning) and decay the rate as scheduled."""
    out = tmp_path / "run"
    cosine = "+model.scheduler={_target_:nfields.lit.schedulers.CosineDecay,_partial_:true,total_steps:20,final:0.0}"
    cfg = make_cfg(*TINY, "model.steps_per_call=5", "trainer.log_every_n_steps=5", cosine, run_dir=out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg)
    assert not [w for w in caught if "overridden" in str(w.message)]
    rates = [r["train/lr"] for r in json.loads((out / "history.json").read_text())["train"]]
    assert rates[0] < 1e-3 and rates == sorted(rates, reverse=True) and rates[-1] == pytest.approx(0.0, abs=1e-9)
