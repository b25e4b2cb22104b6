"""perf/steps_per_s is training steps per second: validation and work after the last step excluded.

The timer reads a virtual clock that only the module's steps and validations advance (a step takes
STEP_S, a validation VAL_S, Lightning's own work takes none), so the true rate is exactly 1 / STEP_S
whatever the machine's load, and the accounting is checked exactly rather than within timing bounds.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from nfields.lit.callbacks import perf
from nfields.lit.callbacks.perf import PerfTimer, untimed

STEP_S, VAL_S = 0.01, 0.3


class Clock:
    """A virtual time.perf_counter: advances only when told to."""

    def __init__(self) -> None:
        self.t = 100.0

    def perf_counter(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(perf, "time", c)  # the timer's clock only; Lightning keeps the real one
    return c


class Forever(IterableDataset):
    def __iter__(self):
        while True:
            yield torch.zeros(1)


class Sleepy(pl.LightningModule):
    """Each training step takes STEP_S of the virtual clock, each validation VAL_S."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.clock = clock

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self.clock.sleep(STEP_S)
        return (self.w - 1).pow(2).sum()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.clock.sleep(VAL_S)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(Forever(), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([torch.zeros(1)], batch_size=None)


class FinalSnapshot(pl.Callback):
    """Untimed work after the last step, as ProgressGif's last frame: not training time, and not inside it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == trainer.max_steps:
            with untimed(trainer):
                self.clock.sleep(VAL_S)


def fit(clock: Clock, max_steps: int, val_every: int, *callbacks: pl.Callback) -> float:
    """The timer's steps/s (the true rate is 1 / STEP_S)."""
    timer, module = PerfTimer(), Sleepy(clock)
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
    return timer.steps_per_s


def test_validation_is_not_training_time(clock: Clock) -> None:
    sps = fit(clock, 41, 10)  # validations at steps 10, 20, 30, 40: 1.2 s against 0.4 s of steps
    assert sps == pytest.approx(1 / STEP_S)  # counting validation gave 0.25x


def test_work_after_the_last_step_is_not_subtracted(clock: Clock) -> None:
    sps = fit(clock, 40, 40, FinalSnapshot(clock))  # validation and a snapshot only after the last step
    assert sps == pytest.approx(1 / STEP_S)  # subtracting it gave a negative time (the 1e-9 floor)


def test_cpu_runs_never_synchronise(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise AssertionError("torch.cuda.synchronize on a CPU run")

    monkeypatch.setattr(torch.cuda, "synchronize", refuse)
    fit(clock, 5, 2)


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
