"""BaseModule: what every nfields LightningModule shares (model=single|collection|...).

It holds the field and the task, builds the optimiser (and a per-step scheduler) from
their partials, stores the resolved run config in checkpoints so a checkpoint alone
rebuilds the model, and declares the interface the callbacks use (panels, progress
frames) and the datamodule type it trains on, so nothing is told apart by `hasattr`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch

from nfields.core.checks import POSITIVE, POSITIVE_INT, Check, check_arg, nullable
from nfields.fields.base import Field, n_params
from nfields.tasks.base import Task

Optimizer = Callable[..., torch.optim.Optimizer]


class BaseModule(pl.LightningModule):
    data_type: ClassVar[type] = pl.LightningDataModule  # the datamodule base class this module trains on
    data_kind: ClassVar[str] = "any data"  # how the error for another kind of data names it
    many_fields: ClassVar[bool] = False  # model=many: the builder gives it stacked members, not one field
    own_code: ClassVar[bool] = True  # a conditioned field gets one code of its own (collections: per-image codes)
    # model.compile: false, true (= field: torch.compile of the field), and what else the module implements
    compile_modes: ClassVar[tuple[Any, ...]] = (False, True, "field")

    def __init__(
        self,
        field: Field,
        task: Task,
        optimizer: Optimizer,
        lr: float = 1e-3,
        scheduler: Callable[..., Any] | None = None,
        compile: bool | str = False,
        latent_dim: int | None = None,
        run_config: dict | None = None,
    ) -> None:
        super().__init__()
        check_arg("model.lr", lr, POSITIVE)
        check_arg("model.latent_dim", latent_dim, nullable(POSITIVE_INT))  # read by latent=*.dim
        modes, names = self.compile_modes, " or ".join(m for m in self.compile_modes if isinstance(m, str))
        known = Check(
            lambda v: any(v is m if isinstance(m, bool) else v == m for m in modes),
            f"true or false (true = field), or {names}",
        )
        check_arg("model.compile", compile, known)
        self.field, self.task, self.lr = field, task, lr
        self.optimizer_fn, self.scheduler_fn = optimizer, scheduler
        self.config = run_config  # the resolved run config, stored in checkpoints
        # training metrics at each logged step ({"step", "train/psnr", ...}), moved by MetricsFile into
        # history.json's "train": the one curve a short run has (validation is every log.val_every_n_steps)
        self.train_log: list[dict[str, float]] = []
        self.compile_mode = "field" if compile is True else compile
        if self.compile_mode == "field":
            self.field.compile()  # in place: parameter names (and so checkpoints) stay those of the plain field

    # ---- optimisation ---------------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        """What the optimiser updates; a module with more than the field (codes, an encoder) adds groups."""
        return [{"params": list(self.field.parameters())}]

    def build_optimizer(self, params: Any) -> torch.optim.Optimizer:
        """model.optimizer over `params` at model.lr. For Adam and AdamW, `fused: null` (the default) is nfields'
        choice: the fused update (one kernel for every tensor, not one per tensor) unless model.compile=step
        compiles the update, where the compiled plain Adam is faster than an opaque fused kernel in the graph."""
        adam = getattr(self.optimizer_fn, "func", None) in (torch.optim.Adam, torch.optim.AdamW)
        if adam and getattr(self.optimizer_fn, "keywords", {}).get("fused", False) is None:
            tensors = [p for g in params for p in g["params"]] if isinstance(params[0], dict) else list(params)
            supported = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in tensors)
            return self.optimizer_fn(params=params, lr=self.lr, fused=supported and self.compile_mode != "step")
        return self.optimizer_fn(params=params, lr=self.lr)

    def configure_optimizers(self) -> Any:
        opt = self.build_optimizer(self.param_groups())
        if self.scheduler_fn is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_fn(optimizer=opt), "interval": "step"}}

    def field_params(self) -> int:
        """Trainable parameters of one field (metrics.json's model/params): a collection's codes and encoder
        are not the field's; model=many counts one member."""
        return n_params(self.field)

    # ---- the last step is always validated --------------------------------------------------------
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """At trainer.max_steps, ask Lightning to stop: it then validates this step even when it is not a multiple
        of the validation interval (its loop validates on `should_stop`), so metrics.json, history.json, the
        closing line and the optimised metric are the final step's, not those of the last multiple."""
        if 0 < self.trainer.max_steps <= self.global_step:
            self.trainer.should_stop = True

    def log_every(self) -> int:
        """trainer.log_every_n_steps, or 0 when no trainer runs this module (a step called by hand, as in tests)."""
        try:
            return int(self.trainer.log_every_n_steps or 0)
        except RuntimeError:  # Lightning: "... is not attached to a `Trainer`"
            return 0

    # ---- evaluation: val and test score held-out cells the same way ---------------------------------
    def evaluate(self, stage: str) -> dict[str, float]:
        """Render and score `stage` ('val' | 'test'), log the metrics (log_scores) and return them."""
        raise NotImplementedError

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate("val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate("test")

    def log_scores(self, stage: str, metrics: dict[str, float]) -> None:
        """Log `metrics` as `<stage>/<name>`, with `step` (loggers plot against optimiser steps, not Lightning's
        calls). Every rank scores the same render with the same weights: sync_dist keeps them formally in step."""
        logged = {f"{stage}/{k}": v for k, v in metrics.items()}
        logged["step"] = float(self.global_step)
        self.log_dict(logged, prog_bar=stage == "val", batch_size=1, sync_dist=True)

    # ---- what the callbacks use -------------------------------------------------------------------
    def panel_images(self) -> dict[str, torch.Tensor]:
        """Named (H, W, C) images for the reconstruction panel, left to right (after an evaluation)."""
        raise NotImplementedError

    def panel_captions(self) -> dict[str, str]:
        """Extra caption text per panel image (e.g. the prediction's PSNR); none by default."""
        return {}

    def progress_metrics(self) -> dict[str, float]:
        """Values for the progress bar that were not logged through self.log (none by default)."""
        return {}

    def write_media(self, stem: Path) -> Path | None:
        """Write the last test render in the data's own format (audio, video, ...) at `stem` + suffix -> the
        path; None when the panel's prediction.png is all there is (images, the default)."""
        return None

    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        """The current field rendered for progress.gif -> (h, w, C) in [0, 1]."""
        raise NotImplementedError

    def tto_total(self, n_batches: int) -> int:
        """Test-time optimisation steps of a test pass over n_batches batches, for the progress bar (0: none)."""
        return 0

    # ---- checkpoints -----------------------------------------------------------------------------
    def checkpoint_extra(self) -> dict[str, Any]:
        """What a checkpoint needs beyond the weights and the config to rebuild the model without data."""
        return {}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["nfields_config"] = self.config
        checkpoint.update(self.checkpoint_extra())
