"""The hand-written loop timed alongside an nfields run, in lock-step: the paired measurement of scripts/bench.py.

On a shared or virtual machine the CPU's speed drifts by 20-30 % over seconds (both the wall clock and
the process's CPU time: it is the host, not the scheduler), so two runs timed one after the other compare
the machine's moods as much as the two loops. Here the hand-written loop (scripts/baselines/ffn_loop.py)
advances inside the nfields run: after each Lightning call of k optimiser steps, this callback runs k
steps of the hand loop and times them, outside nfields' own clock (`untimed`: PerfTimer subtracts the
block). Both loops then see the same seconds of the machine, and the ratio of their rates cancels the drift.

The bench installs it through the config like any callback (`+callbacks.alongside._target_=...`) after
putting the loop in `PENDING`; the nfields run's first call is the warm-up of both (nfields' timer starts
after it, and the hand loop's block there is not timed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer

from nfields.lit.callbacks.perf import untimed

PENDING: list[Callable[[], None]] = []  # the hand loop's step for the next run (set by the bench's case)
# This module as the run's config names it: benchcases.alongside under scripts/bench.py, scripts.benchcases.alongside
# from the repository root (tests); either way the callback reads the PENDING the bench filled.
TARGET = f"{__name__}.Alongside"


class Alongside(Callback):
    """Runs as many hand-loop steps as nfields took in each call; `steps_per_s` is the hand loop's timed rate."""

    last: Alongside | None = None  # the most recent instance, read by the bench after the run

    def __init__(self) -> None:
        if not PENDING:
            raise RuntimeError("scripts/benchcases/alongside.py: put the hand loop's step in PENDING before the run")
        self.step = PENDING.pop()
        self.done, self.timed_steps, self.seconds, self.calls = 0, 0, 0.0, 0
        self.total_s = 0.0  # every block, the warm-up's too: what the run's wall clock holds of the hand loop
        Alongside.last = self

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        n = trainer.global_step - self.done  # the optimiser steps nfields took in this call
        self.done = trainer.global_step
        sync = torch.cuda.synchronize if pl_module.device.type == "cuda" else (lambda: None)
        with untimed(trainer):
            sync()  # nfields' queued work is its own
            t0 = time.perf_counter()
            for _ in range(n):
                self.step()
            sync()
            dt = time.perf_counter() - t0
        self.calls += 1
        self.total_s += dt
        if self.calls > 1:  # the first call is both loops' warm-up
            self.timed_steps += n
            self.seconds += dt

    @property
    def steps_per_s(self) -> float:
        return self.timed_steps / self.seconds if self.seconds > 0 else float("nan")
