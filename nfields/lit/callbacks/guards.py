"""FaultGuard: a diverged loss stops the run without touching the last good checkpoint;
SIGTERM / Ctrl+C save a checkpoint first; other exceptions get the step they happened at;
last.ckpt is written after every validation and at the final step.

The loss check costs a device sync, so on accelerators it runs every `every_n_steps`
(and before every checkpoint write, so NaN weights are never saved); on the CPU it
runs at every step, before the backward pass, so the bad update is never applied.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from nfields.core.checks import POSITIVE_INT, check_arg
from nfields.core.errors import TrainingStopped


def last_checkpoint_path(trainer: Trainer, run_dir: str | Path) -> Path:
    """Where ModelCheckpoint writes last.ckpt (or <run dir>/checkpoints/last.ckpt without one)."""
    for cb in trainer.callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.dirpath:
            return Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}"
    return Path(run_dir) / "checkpoints" / "last.ckpt"


def interrupt_message(e: BaseException) -> str | None:
    """The one-line report for a SIGTERM or Ctrl+C (KeyboardInterrupt) stop (None for anything else).

    FaultGuard.on_exception stored the step and the checkpoint on the exception; a KeyboardInterrupt
    without a step came before Lightning trained (imports, data, the speed probe)."""
    if isinstance(e, SIGTERMException):
        step, saved = getattr(e, "nfields_step", "?"), getattr(e, "nfields_checkpoint", None)
        where = f"checkpoint saved: {saved}; resume with ckpt_path={saved}" if saved else "no checkpoint could be saved"
        return f"stopped by SIGTERM at step {step}; {where}"
    if isinstance(e, KeyboardInterrupt):
        if not hasattr(e, "nfields_step"):
            return "Interrupted before training started: nothing to save"
        saved = getattr(e, "nfields_checkpoint", None)
        where = f"checkpoint saved, resume with ckpt_path={saved}" if saved else "no checkpoint saved"
        return f"Interrupted at step {e.nfields_step}: {where}"
    return None


class FaultGuard(Callback):
    def __init__(self, run_dir: str, lr: float | None = None, every_n_steps: int = 25) -> None:
        check_arg("callbacks.guard.every_n_steps", every_n_steps, POSITIVE_INT)
        self.run_dir, self.lr, self.every = run_dir, lr, every_n_steps
        self.bad: torch.Tensor | None = None  # device flag: some loss since the last check was NaN/inf
        self.bad_value = math.nan
        self.checked_step = 0
        self.saved_step = -1

    # ---- non-finite loss --------------------------------------------------------------------
    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor) -> None:
        if loss.device.type == "cpu":  # no sync to pay: stop before this step's update
            # A scalar loss is read as a Python float (a few microseconds; three tensor ops cost ~4x that)
            finite = math.isfinite(loss.item()) if loss.numel() == 1 else bool(torch.isfinite(loss.detach()).all())
            if not finite:
                self.bad = torch.tensor(True)
                self.check(trainer, step=trainer.global_step + 1, loss=loss)
            return
        bad = ~torch.isfinite(loss.detach()).all()
        self.bad = bad if self.bad is None else self.bad | bad

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        if trainer.global_step % self.every == 0:
            self.check(trainer, step=trainer.global_step)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        """Raising here aborts the write: a checkpoint with NaN weights never replaces a good one."""
        self.check(trainer, step=trainer.global_step)
        self.saved_step = trainer.global_step

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """last.ckpt after every validation: it then holds that validation (the history in metrics_file's state),
        and a resume does not validate its step again (ModelCheckpoint's step trigger writes before it). Callbacks
        run in the config's order: metrics_file has added the row by now."""
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self.save_last(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """The last step too, when it was not a validation's (ModelCheckpoint alone saves every n steps only)."""
        self.save_last(trainer)

    def save_last(self, trainer: Trainer) -> None:
        if trainer.global_step > 0 and self.saved_step != trainer.global_step and trainer.checkpoint_callback:
            # weights_only=False said, not defaulted: the full state, without Lightning's INFO line about the default
            trainer.save_checkpoint(last_checkpoint_path(trainer, self.run_dir), weights_only=False)

    def check(self, trainer: Trainer, step: int, loss: torch.Tensor | None = None) -> None:
        if self.bad is None or not bool(self.bad):
            self.checked_step = step
            return
        value = float(loss.detach().float().mean()) if loss is not None else math.nan
        when = f"at step {step}" if loss is not None else f"between steps {self.checked_step} and {step}"
        raise TrainingStopped(self.message(trainer, value, when))

    def message(self, trainer: Trainer, value: float, when: str) -> str:
        known = isinstance(self.lr, int | float)
        lr = f"model.lr={self.lr:g}" if known else "model.lr"
        fix = f"try a lower learning rate, e.g. model.lr={self.lr / 10:g}" if known else "lower model.lr"
        last = last_checkpoint_path(trainer, self.run_dir)
        kept = f"last good checkpoint kept: {last}" if last.exists() else "no checkpoint had been written yet"
        what = "inf" if math.isinf(value) else "NaN"
        return f"training loss became {what} {when} with {lr}: the optimisation diverged; {fix}; {kept}"

    # ---- interruptions ----------------------------------------------------------------------
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        exception.nfields_step = trainer.global_step  # type: ignore[attr-defined]  (BaseException has a __dict__)
        if not isinstance(exception, SIGTERMException | KeyboardInterrupt) or trainer.global_step == 0:
            return
        if self.bad is not None and bool(self.bad):
            return  # never save weights a NaN update may have touched
        path = last_checkpoint_path(trainer, self.run_dir)
        trainer.save_checkpoint(path, weights_only=False)
        # The line is printed by nfields.run.exits.report_errors (Lightning's own goes to a silenced logger)
        exception.nfields_checkpoint = str(path)  # type: ignore[attr-defined]
