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
from collections.abc import Sequence
from typing import Any

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm

from nfields.core.echo import echo
from nfields.lit.base import BaseModule

TTO_DESC = "test-time optimisation"
LINES_PER_RUN = 10  # without a terminal: at most about this many lines at validations over a run...
HEARTBEAT_S = 60.0  # ...and one at least this often when validations are rare


class StepProgress(TQDMProgressBar):
    """`metrics`: progress-bar metrics shown (those logged with prog_bar=True), in this order."""

    def __init__(self, refresh_rate: int = 5, metrics: Sequence[str] = ("train/loss", "val/psnr")) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.metrics = tuple(metrics)
        self.interactive = True
        self._total = 0
        self._shown = -1  # the step of the last plain line
        self._val_shown = -1  # the step of the last plain line after a validation
        self._every = 1  # steps between plain lines at validations
        self._t0 = self._t_line = 0.0
        self.tto_bar: Tqdm | None = None  # the test pass's test-time optimisation (TTO_DESC)
        self.training = False  # the training bar exists (validations before it, the sanity check, have none)
        self._tto_done = self._tto_total = 0
        self._tto_t0 = 0.0

    # ---- what is shown ----------------------------------------------------------------------------
    def postfix(self, trainer: Trainer) -> str:
        """'loss 0.00123  val/psnr 23.41 dB' from the latest progress-bar metrics."""
        module = trainer.lightning_module
        extra = module.progress_metrics() if isinstance(module, BaseModule) else {}
        shown, parts = {**trainer.progress_bar_metrics, **extra}, []
        for key in self.metrics:
            if key in shown:
                v = float(shown[key])
                name = key.removeprefix("train/")
                parts.append(f"{name} {v:.2f} dB" if key.endswith("psnr") else f"{name} {v:.3g}")
        return "  ".join(parts)

    def line(self, trainer: Trainer) -> str:
        """'step 200/500  loss 0.00123  val/psnr 23.41 dB  (12 s)'"""
        elapsed = time.perf_counter() - self._t0
        parts = [f"step {trainer.global_step}/{self._total}", self.postfix(trainer)]
        return "  ".join([*filter(None, parts), f"({elapsed:.{1 if elapsed < 10 else 0}f} s)"])

    def report(self, trainer: Trainer, again: bool = False) -> None:
        """Without a terminal: one plain line for this step (once, unless `again`: a validation's new value)."""
        if self.is_enabled and not self.interactive and (again or trainer.global_step != self._shown):
            self._shown, self._t_line = trainer.global_step, time.perf_counter()
            echo(self.line(trainer))

    # ---- training ---------------------------------------------------------------------------------
    def init_train_tqdm(self) -> Tqdm:
        """The bar over optimiser steps; without a terminal it stays silent (report() writes lines)."""
        return Tqdm(
            desc="train",
            total=self._total,
            initial=self._shown,
            unit="step",
            disable=self.is_disabled or not self.interactive,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_sanity_check_start(self, *_: Any) -> None:
        pass

    def on_sanity_check_end(self, *_: Any) -> None:
        pass

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.interactive = sys.stdout.isatty()
        self._t0 = self._t_line = time.perf_counter()
        self._total = trainer.max_steps if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)
        self._every = max(1, -(-self._total // LINES_PER_RUN))
        self._shown = self._val_shown = trainer.global_step  # a resumed run starts where it stopped
        self.train_progress_bar = self.init_train_tqdm()
        self.training = True

    def on_train_epoch_start(self, trainer: Trainer, *_: Any) -> None:
        pass  # one bar for the whole fit: no reset, no "Epoch N"

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if not self.interactive:
            if time.perf_counter() - self._t_line >= HEARTBEAT_S:
                self.report(trainer)
            return
        bar = self.train_progress_bar
        if not bar.disable and (step - bar.n >= self.refresh_rate or step >= self._total):
            bar.n = step
            bar.set_postfix_str(self.postfix(trainer), refresh=False)
            bar.refresh()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        pass

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.train_progress_bar.disable:
            self.train_progress_bar.n = trainer.global_step
            self.train_progress_bar.set_postfix_str(self.postfix(trainer), refresh=False)
        self.train_progress_bar.close()
        self.report(trainer)

    # ---- validation and test: no bars -------------------------------------------------------------
    def on_validation_start(self, *_: Any) -> None:
        pass

    def on_validation_batch_start(self, *_: Any, **__: Any) -> None:
        pass

    def on_validation_batch_end(self, *_: Any, **__: Any) -> None:
        pass

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or not self.training:
            return
        if not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix_str(self.postfix(trainer))
        elif not self.interactive and trainer.global_step >= self._val_shown + self._every:
            self._val_shown = trainer.global_step
            self.report(trainer, again=True)

    # ---- test: test-time optimisation of the test images' codes ------------------------------------
    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """A bar over the test pass's TTO steps (test batches x model.tto_steps) when the module optimises codes."""
        total = pl_module.tto_total(int(sum(trainer.num_test_batches))) if hasattr(pl_module, "tto_total") else 0
        if total <= 0 or not self.is_enabled:
            return
        self.interactive = sys.stdout.isatty()
        self._tto_done, self._tto_total = 0, total
        self._tto_t0 = self._t_line = time.perf_counter()
        disable = not self.interactive
        self.tto_bar = Tqdm(
            desc=TTO_DESC, total=total, unit="step", disable=disable, leave=True, dynamic_ncols=True,
            file=sys.stdout, smoothing=0, bar_format=self.BAR_FORMAT,
        )  # fmt: skip
        pl_module.on_tto_step = self.tto_step

    def tto_line(self) -> str:
        """'test-time optimisation 120/200 steps  (12 s)'"""
        elapsed = time.perf_counter() - self._tto_t0
        return f"{TTO_DESC} {self._tto_done}/{self._tto_total} steps  ({elapsed:.{1 if elapsed < 10 else 0}f} s)"

    def tto_step(self) -> None:
        """After each TTO step: the bar every refresh_rate steps, or a plain line every HEARTBEAT_S seconds."""
        self._tto_done += 1
        bar = self.tto_bar
        if bar is None:
            return
        if not bar.disable:
            if self._tto_done - bar.n >= self.refresh_rate or self._tto_done >= self._tto_total:
                bar.n = self._tto_done
                bar.refresh()
        elif time.perf_counter() - self._t_line >= HEARTBEAT_S:
            self._t_line = time.perf_counter()
            echo(self.tto_line())

    def on_test_batch_start(self, *_: Any, **__: Any) -> None:
        pass

    def on_test_batch_end(self, *_: Any, **__: Any) -> None:
        pass

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.tto_bar is None:
            return
        if not self.tto_bar.disable:
            self.tto_bar.n = self._tto_done
        self.tto_bar.close()
        if not self.interactive:
            echo(self.tto_line())
        self.tto_bar, pl_module.on_tto_step = None, None
