"""StepProgress: one progress bar for the whole fit, in optimiser steps, with the loss and the latest val/psnr.

Lightning's bar counts batches per epoch ("Epoch 0"), which for a single image is an endless
stream of ticks and for collections restarts every epoch; and it opens a bar for each validation
and test. Here the bar runs from trainer.global_step to trainer.max_steps (with
model.steps_per_call=k each call advances k), validation and test draw nothing, and without a
terminal (CI, a log file) the bar is replaced by a few plain lines instead of carriage returns:
one after a validation (at most about LINES_PER_RUN over the run), one at least every HEARTBEAT_S
seconds, and one at the end. The test pass of a collection, which optimises fresh codes for every test image
(test-time optimisation, minutes on a CPU), gets a bar of its own over those steps, with the same plain lines
without a terminal (every HEARTBEAT_S seconds and one at the end).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ProgressBar
from tqdm import tqdm

from nfields.core.echo import echo
from nfields.lit.base import BaseModule

TTO_DESC = "test-time optimisation"
LINES_PER_RUN = 10  # without a terminal: at most about this many lines at validations over a run...
HEARTBEAT_S = 60.0  # ...and one at least this often when validations are rare
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"  # Lightning's


class StepBar:
    """Steps counted up to `total`: a tqdm bar in a terminal (drawn every `every` steps and at the total); disabled
    without one, where the caller writes plain lines (`say`), and `due()` says when a heartbeat line is."""

    def __init__(self, desc: str, total: int, initial: int, every: int, disable: bool) -> None:
        self.total, self.every = total, every
        self.t0 = self.t_line = time.perf_counter()
        self.tqdm = tqdm(
            desc=desc, total=total, initial=initial, unit="step", disable=disable, leave=True, dynamic_ncols=True,
            file=sys.stdout, smoothing=0, bar_format=BAR_FORMAT,
        )  # fmt: skip

    def draw(self, n: int, postfix: Callable[[], str] | None = None, force: bool = False) -> None:
        """The bar at step n, with postfix() after it (only computed when drawn)."""
        bar = self.tqdm
        if not bar.disable and (force or n - bar.n >= self.every or n >= self.total):
            bar.n = n
            if postfix is not None:
                bar.set_postfix_str(postfix(), refresh=False)
            bar.refresh()

    def elapsed(self) -> str:
        """'(12 s)' since the bar started ('(1.5 s)' under ten seconds)."""
        s = time.perf_counter() - self.t0
        return f"({s:.{1 if s < 10 else 0}f} s)"

    def due(self) -> bool:
        """Without a terminal: HEARTBEAT_S seconds have passed since the last plain line."""
        return self.tqdm.disable and time.perf_counter() - self.t_line >= HEARTBEAT_S

    def say(self, line: str) -> None:
        self.t_line = time.perf_counter()
        echo(line)


class StepProgress(ProgressBar):
    """`metrics`: progress-bar metrics shown (those logged with prog_bar=True), in this order. Subclasses Lightning's
    base ProgressBar, which draws nothing of its own: validation and test get no bars."""

    def __init__(self, refresh_rate: int = 5, metrics: Sequence[str] = ("train/loss", "val/psnr")) -> None:
        super().__init__()
        self.refresh_rate, self.metrics = refresh_rate, tuple(metrics)
        self.enabled = True  # off on ranks other than zero (ProgressBar.setup) and while a tuner runs
        self.interactive = True
        self.bar: StepBar | None = None  # training's (validations before it, the sanity check, have none)
        self.tto_bar: StepBar | None = None  # the test pass's test-time optimisation (TTO_DESC)
        self._shown = self._val_shown = -1  # the steps of the last plain line, and of the last after a validation
        self._every = 1  # steps between plain lines at validations
        self._tto_done = 0

    @property
    def is_enabled(self) -> bool:
        return self.enabled and self.refresh_rate > 0

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    # ---- what is shown ----------------------------------------------------------------------------
    def postfix(self, trainer: Trainer) -> str:
        """'loss 0.00123  val/psnr 23.41 dB' from the latest progress-bar metrics."""
        shown, parts = {**trainer.progress_bar_metrics, **trainer.lightning_module.progress_metrics()}, []
        for key in self.metrics:
            if key in shown:
                v = float(shown[key])
                name = key.removeprefix("train/")
                parts.append(f"{name} {v:.2f} dB" if key.endswith("psnr") else f"{name} {v:.3g}")
        return "  ".join(parts)

    def report(self, trainer: Trainer, again: bool = False) -> None:
        """Without a terminal: 'step 200/500  loss 0.00123  val/psnr 23.41 dB  (12 s)' for this step (once, unless
        `again`: a validation's new value)."""
        if self.is_enabled and not self.interactive and (again or trainer.global_step != self._shown):
            self._shown = trainer.global_step
            parts = [f"step {trainer.global_step}/{self.bar.total}", self.postfix(trainer), self.bar.elapsed()]
            self.bar.say("  ".join(filter(None, parts)))

    # ---- training ---------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.interactive = sys.stdout.isatty()
        total = trainer.max_steps if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)
        self._every = max(1, -(-total // LINES_PER_RUN))
        self._shown = self._val_shown = trainer.global_step  # a resumed run starts where it stopped
        disable = not self.is_enabled or not self.interactive  # without a terminal report() writes lines
        self.bar = StepBar("train", total, trainer.global_step, self.refresh_rate, disable)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        if not self.interactive:
            if self.bar.due():
                self.report(trainer)
            return
        self.bar.draw(trainer.global_step, lambda: self.postfix(trainer))

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.bar.draw(trainer.global_step, lambda: self.postfix(trainer), force=True)
        self.bar.tqdm.close()
        self.report(trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or self.bar is None:
            return
        if not self.bar.tqdm.disable:
            self.bar.tqdm.set_postfix_str(self.postfix(trainer))
        elif not self.interactive and trainer.global_step >= self._val_shown + self._every:
            self._val_shown = trainer.global_step
            self.report(trainer, again=True)

    # ---- test: test-time optimisation of the test images' codes ------------------------------------
    def on_test_start(self, trainer: Trainer, pl_module: BaseModule) -> None:
        """A bar over the test pass's TTO steps (test batches x model.tto_steps) when the module optimises codes."""
        total = pl_module.tto_total(int(sum(trainer.num_test_batches)))
        if total <= 0 or not self.is_enabled:
            return
        self.interactive = sys.stdout.isatty()
        self._tto_done = 0
        self.tto_bar = StepBar(TTO_DESC, total, 0, self.refresh_rate, disable=not self.interactive)
        pl_module.on_tto_step = self.tto_step

    def tto_line(self) -> str:
        """'test-time optimisation 120/200 steps  (12 s)'"""
        return f"{TTO_DESC} {self._tto_done}/{self.tto_bar.total} steps  {self.tto_bar.elapsed()}"

    def tto_step(self) -> None:
        """After each TTO step: the bar every refresh_rate steps, or a plain line every HEARTBEAT_S seconds."""
        self._tto_done += 1
        if self.tto_bar is None:
            return
        self.tto_bar.draw(self._tto_done)
        if self.tto_bar.due():
            self.tto_bar.say(self.tto_line())

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.tto_bar is None:
            return
        self.tto_bar.draw(self._tto_done, force=True)
        self.tto_bar.tqdm.close()
        if not self.interactive:
            echo(self.tto_line())
        self.tto_bar, pl_module.on_tto_step = None, None
