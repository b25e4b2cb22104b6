"""FieldsModule: what every nfields LightningModule shares (model=single|collection|...).

It holds the field and the task, builds the optimiser (and a per-step scheduler) from
their partials, stores the resolved run config in checkpoints so a checkpoint alone
rebuilds the model, and declares the interface the callbacks use (panels, progress
frames) and the datamodule type it trains on, so nothing is told apart by `hasattr`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch

from nfields.core.checks import POSITIVE, POSITIVE_INT, boolean, check_arg, nullable
from nfields.fields.base import Field
from nfields.tasks.base import Task

Optimizer = Callable[..., torch.optim.Optimizer]


class FieldsModule(pl.LightningModule):
    data_type: ClassVar[type] = pl.LightningDataModule  # the datamodule base class this module trains on
    data_kind: ClassVar[str] = "any data"  # how the error for another kind of data names it
    own_code: ClassVar[bool] = True  # a conditioned field gets one code of its own (collections: per-image codes)

    def __init__(
        self,
        field: Field,
        task: Task,
        optimizer: Optimizer,
        lr: float = 1e-3,
        scheduler: Callable[..., Any] | None = None,
        compile: bool = False,
        latent_dim: int | None = None,
        run_config: dict | None = None,
    ) -> None:
        super().__init__()
        check_arg("model.lr", lr, POSITIVE)
        check_arg("model.latent_dim", latent_dim, nullable(POSITIVE_INT))  # read by latent=*.dim
        check_arg("model.compile", compile, boolean())
        self.field, self.task, self.lr = field, task, lr
        self.optimizer_fn, self.scheduler_fn = optimizer, scheduler
        self.config = run_config  # the resolved run config, stored in checkpoints
        if compile:
            self.field.compile()  # in place: parameter names (and so checkpoints) stay those of the plain field

    # ---- optimisation ---------------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        """What the optimiser updates; a module with more than the field (codes, an encoder) adds groups."""
        return [{"params": list(self.field.parameters())}]

    def configure_optimizers(self) -> Any:
        opt = self.optimizer_fn(params=self.param_groups(), lr=self.lr)
        if self.scheduler_fn is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_fn(optimizer=opt), "interval": "step"}}

    # ---- what the callbacks use -------------------------------------------------------------------
    def panel_images(self) -> dict[str, torch.Tensor]:
        """Named (H, W, C) images for the reconstruction panel, left to right (after an evaluation)."""
        raise NotImplementedError

    def panel_captions(self) -> dict[str, str]:
        """Extra caption text per panel image (e.g. the prediction's PSNR); none by default."""
        return {}

    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        """The current field rendered for progress.gif -> (h, w, C) in [0, 1]."""
        raise NotImplementedError

    # ---- checkpoints -----------------------------------------------------------------------------
    def checkpoint_extra(self) -> dict[str, Any]:
        """What a checkpoint needs beyond the weights and the config to rebuild the model without data."""
        return {}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["nfields_config"] = self.config
        checkpoint.update(self.checkpoint_extra())
