"""PerfTimer: training steps per second, start-up and validation excluded."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

from pytorch_lightning import Callback, LightningModule, Trainer


class PerfTimer(Callback):
    """Times the training loop from the end of the first step (warm-up, lazy init) to the
    last, minus validation and any work other callbacks report through `excluded()`."""

    def __init__(self) -> None:
        self.t_start: float | None = None
        self.t_end: float | None = None
        self.steps = 0
        self.excluded_s = 0.0
        self._t_val = 0.0
        self._step0 = 0

    @contextmanager
    def excluded(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.excluded_s += time.perf_counter() - t

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        now = time.perf_counter()
        if self.t_start is None:
            self.t_start, self._step0 = now, trainer.global_step
        else:  # optimiser steps, not calls: model.steps_per_call > 1 takes several per call
            self.steps = trainer.global_step - self._step0
            self.t_end = now

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._t_val = time.perf_counter()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.t_start is not None and trainer.training:
            self.excluded_s += time.perf_counter() - self._t_val

    @property
    def steps_per_s(self) -> float | None:
        if not self.steps or self.t_end is None:
            return None
        return self.steps / max(self.t_end - self.t_start - self.excluded_s, 1e-9)


def find_timer(trainer: Trainer) -> PerfTimer | None:
    return next((c for c in trainer.callbacks if isinstance(c, PerfTimer)), None)


@contextmanager
def untimed(trainer: Trainer):
    """Run a block (snapshot renders, image logging) without counting it as training time."""
    timer = find_timer(trainer)
    if timer is None:
        yield
    else:
        with timer.excluded():
            yield
