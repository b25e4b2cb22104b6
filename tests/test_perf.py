"""perf/steps_per_s is training steps per second: validation and work after the last step excluded.

The module's steps sleep a fixed time, so the true rate is known whatever the machine's speed; the bounds
are loose (a loaded 2-core machine) but far from what a timer that counts validation would report.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from nfields.lit.callbacks.perf import PerfTimer, untimed

STEP_S, VAL_S = 0.01, 0.3


class Forever(IterableDataset):
    def __iter__(self):
        while True:
            yield torch.zeros(1)


class Sleepy(pl.LightningModule):
    """Each training step sleeps STEP_S, each validation VAL_S; records how long its steps really took."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.step_s: list[float] = []

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        t = time.perf_counter()
        time.sleep(STEP_S)
        self.step_s.append(time.perf_counter() - t)
        return (self.w - 1).pow(2).sum()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        time.sleep(VAL_S)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(Forever(), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([torch.zeros(1)], batch_size=None)


class FinalSnapshot(pl.Callback):
    """Untimed work after the last step, as ProgressGif's last frame: not training time, and not inside it."""

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == trainer.max_steps:
            with untimed(trainer):
                time.sleep(VAL_S)


def fit(max_steps: int, val_every: int, *callbacks: pl.Callback) -> tuple[float, float]:
    """(timer's steps/s, the true rate: 1 / the module's mean step time)."""
    timer, module = PerfTimer(), Sleepy()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        val_check_interval=val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        callbacks=[timer, *callbacks],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module)
    assert timer.steps == max_steps - 1  # from the end of the first step to the end of the last
    return timer.steps_per_s, 1 / (sum(module.step_s) / len(module.step_s))


def test_validation_is_not_training_time() -> None:
    sps, true = fit(41, 10)  # validations at steps 10, 20, 30, 40: 1.2 s against 0.4 s of steps
    assert 0.7 * true < sps < 1.1 * true, (sps, true)  # counting validation gave 0.38x (at 2x sleep overshoot)


def test_work_after_the_last_step_is_not_subtracted() -> None:
    sps, true = fit(40, 40, FinalSnapshot())  # validation and a snapshot only after the last step
    assert 0.7 * true < sps < 1.1 * true, (sps, true)  # subtracting it gave 1.54x


def test_cpu_runs_never_synchronise(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise AssertionError("torch.cuda.synchronize on a CPU run")

    monkeypatch.setattr(torch.cuda, "synchronize", refuse)
    fit(5, 2)


def test_cuda_is_synchronised_at_the_boundaries_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start, each excluded interval and the last step read the clock after a sync; the other steps do not."""
    synced: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "synchronize", synced.append)
    cuda = torch.device("cuda", 1)
    timer = PerfTimer()
    timer.on_train_start(None, SimpleNamespace(device=cuda))
    trainer = SimpleNamespace(global_step=0, max_steps=4, should_stop=False)
    counts = []
    for step in range(1, 5):
        trainer.global_step = step
        timer.on_train_batch_end(trainer, None)
        if step == 2:
            timer.on_validation_start(trainer, None)
            with untimed(SimpleNamespace(callbacks=[timer])):  # nested in the validation: one interval
                pass
            timer.on_validation_end(trainer, None)
        counts.append(len(synced))
    assert counts == [1, 3, 3, 4], counts  # step 1: start; step 2: pause + resume; step 3: none; step 4: end
    assert set(synced) == {cuda} and timer.steps == 3 and timer.steps_per_s > 0
