"""metrics.json: the run's final metrics with flat keys ("val/psnr", "test/psnr", ...)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.utilities import rank_zero_only

from nfields.core.files import atomic_path
from nfields.lit.base import BaseModule
from nfields.lit.callbacks.perf import find_timer
from nfields.lit.stepped import SteppedModule


def write_json_atomic(path: Path, data: dict) -> None:
    """Write to a temporary file and rename: a reader never sees a half-written file."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


class MetricsFile(Callback):
    """Collects val/* and test/* from Lightning's callback metrics, adds perf/steps_per_s, perf/first_step_s
    (seconds from the start of training to the end of the first call: compilation shows here),
    perf/steps_per_call (what model.steps_per_call=auto chose), step and model/params (the field's
    trainable parameters: the size the PSNR was bought with; a collection's per-image codes and encoder
    are not the field's and are not counted; model=many: one member's).

    Also keeps every validation's val/* with its step in history.json ("val"), and the training metrics at each
    logged step (trainer.log_every_n_steps; "train": the module's train_log), so curves can be
    plotted from the run directory alone (scripts/compare.py), whichever loggers ran. The history
    travels in the checkpoint (state_dict), so a resumed run's history.json holds every validation
    of both parts; the checkpoint is written after its step's validation (configs/callbacks/default.yaml).
    """

    KEEP = ("val/", "test/")

    def __init__(self, run_dir: str) -> None:
        self.path = Path(run_dir) / "metrics.json"
        self.history_path = Path(run_dir) / "history.json"
        self.metrics: dict[str, float] = {}
        self.history: list[dict[str, float]] = []
        self.train_history: list[dict[str, float]] = []

    def state_dict(self) -> dict[str, Any]:
        # plain lists, dicts and floats: read back with weights_only
        return {"history": self.history, "train_history": self.train_history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
        self.train_history = list(state_dict.get("train_history", []))

    def on_train_batch_end(self, trainer: Trainer, pl_module: BaseModule, *args: Any) -> None:
        rows = pl_module.train_log
        if rows:  # before this step's validation, so the checkpoint written after it holds them
            self.train_history.extend(rows)
            rows.clear()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row = {k: _finite(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self.history.append({"step": trainer.global_step, **row})

    def collect(self, trainer: Trainer) -> None:
        self.metrics["model/params"] = trainer.lightning_module.field_params()  # BaseModule's: one member of many
        for k, v in trainer.callback_metrics.items():
            if k.startswith(self.KEEP):
                self.metrics[k] = _finite(v)
        last = self.history[-1] if self.history else {}
        if last.get("step") == trainer.global_step and not any(k.startswith("val/") for k in self.metrics):
            # a resume with no step left to train validates nothing: this step's validation is in the history
            self.metrics.update({k: v for k, v in last.items() if k != "step"})
        timer = find_timer(trainer)
        if timer is not None and timer.steps_per_s is not None:
            self.metrics["perf/steps_per_s"] = timer.steps_per_s
        if timer is not None and timer.first_step_s is not None:  # start-up: compilation, CUDA graph capture
            self.metrics["perf/first_step_s"] = timer.first_step_s
        module = trainer.lightning_module
        if isinstance(module, SteppedModule) and isinstance(module.steps_per_call, int):  # what auto chose
            self.metrics["perf/steps_per_call"] = module.steps_per_call
        self.metrics["step"] = trainer.global_step

    @rank_zero_only
    def write(self, trainer: Trainer) -> None:
        self.collect(trainer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, self.metrics)
        if self.history or self.train_history:
            write_json_atomic(self.history_path, {"val": self.history, "train": self.train_history})

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.write(trainer)

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.write(trainer)


def _finite(v) -> float | None:
    """JSON has no NaN: a diverged metric is written as null."""
    f = float(v)
    return f if math.isfinite(f) else None
