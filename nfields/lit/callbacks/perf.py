"""PerfTimer: training steps per second, start-up and validation excluded; and the time to the first step."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer


class PerfTimer(Callback):
    """Times the training loop from the end of the first step (warm-up, lazy init) to the end of the
    last, minus the validations and any work other callbacks mark with `excluded()` (snapshots,
    image logging) that fall in between. Periodic checkpoints count: they are part of training.

    Exclusions nest (a panel logged during a validation is subtracted once), and work after the last
    step (the final validation, snapshot or checkpoint) is not subtracted: the end time is taken at
    the last step, so only exclusions up to then count. On CUDA the clock is read after
    synchronising the module's device at those boundaries only (never per step, which would stall
    the queue of kernels it measures; never on CPU).
    """

    def __init__(self) -> None:
        self._device = torch.device("cpu")
        self.reset()

    def reset(self) -> None:
        self.t_start: float | None = None
        self.t_end: float | None = None
        self.t_train: float | None = None  # on_train_start
        self.first_step_s: float | None = None  # from on_train_start to the end of the first call (compilation)
        self.steps = 0
        self.excluded_s = 0.0  # excluded seconds since t_start, up to now
        self._excluded_at_end = 0.0  # excluded_s when t_end was taken
        self._step0 = 0
        self._depth = 0  # nesting of excluded blocks
        self._t_pause: float | None = None  # when the outermost block began (None: before t_start)

    def _now(self) -> float:
        """The clock, after the device's queued work has finished (CUDA)."""
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        return time.perf_counter()

    # ---- excluded intervals -----------------------------------------------------------------------
    def pause(self) -> None:
        """Stop counting training time (calls nest; only the outermost pause and resume count)."""
        self._depth += 1
        if self._depth == 1:
            self._t_pause = None if self.t_start is None else self._now()

    def resume(self) -> None:
        if self._depth == 0:  # unmatched (a validation that began before this fit)
            return
        self._depth -= 1
        if self._depth == 0 and self._t_pause is not None:
            self.excluded_s += self._now() - self._t_pause
            self._t_pause = None

    @contextmanager
    def excluded(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    # ---- Lightning hooks --------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.reset()  # a second fit is timed on its own
        self._device = pl_module.device
        self.t_train = time.perf_counter()  # no sync: work queued before training is start-up too

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        step = trainer.global_step  # optimiser steps, not calls: model.steps_per_call > 1 takes several per call
        if self.t_start is None:
            self.t_start, self._step0, self.excluded_s = self._now(), step, 0.0
            self.first_step_s = None if self.t_train is None else self.t_start - self.t_train
            return
        last = trainer.should_stop or 0 < trainer.max_steps <= step
        # Only the last step's time is read after a sync; earlier ones are provisional (a run that ends
        # another way, e.g. max_epochs, keeps its latest reading).
        self.t_end = self._now() if last else time.perf_counter()
        self.steps, self._excluded_at_end = step - self._step0, self.excluded_s

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.pause()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.resume()

    @property
    def steps_per_s(self) -> float | None:
        if not self.steps or self.t_end is None or self.t_start is None:
            return None
        return self.steps / max(self.t_end - self.t_start - self._excluded_at_end, 1e-9)


def find_timer(trainer: Trainer) -> PerfTimer | None:
    return next((c for c in trainer.callbacks if isinstance(c, PerfTimer)), None)


def untimed(trainer: Trainer) -> AbstractContextManager[None]:
    """Run a block (snapshot renders, image logging) without counting it as training time."""
    timer = find_timer(trainer)
    return nullcontext() if timer is None else timer.excluded()
