"""CollectionModule: one conditional field for many images (cond=concat|film|hypernet, or none).

A training step takes a batch of images from the DataLoader, samples pixels of each on
the device, gets each image's code from the latent source (autodecoder table or CNN
encoder) and fits field(coords, code) to the colours, plus the source's L2 prior.

Validation and test images are never trained on: their codes come from test-time
optimisation (network frozen, `model.val_tto_steps` / `model.tto_steps` steps on the
observed pixels); PSNR is measured on all pixels. The test pass also records the
PSNR-vs-TTO-step curve and keeps codes for the latent interpolation figure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from nfields.callbacks.media import tile
from nfields.field import NeuralField
from nfields.latents.sources import build_source
from nfields.latents.sources.base import LatentSource
from nfields.latents.tto import TTOResult, decode, optimize_codes
from nfields.metrics import ssim
from nfields.tasks.base import pixel_grid


class CollectionModule(pl.LightningModule):
    def __init__(
        self,
        field: NeuralField,
        source: LatentSource | None,
        optimizer: Callable[..., torch.optim.Optimizer],
        image_shape: tuple[int, int],
        scheduler: Callable[..., Any] | None = None,
        pixels_per_image: int | None = None,
        tto_steps: int = 100,
        val_tto_steps: int = 20,
        tto_lr: float = 1e-2,
        n_grid: int = 8,
        config: dict | None = None,
    ) -> None:
        super().__init__()
        for key, val in (("tto_steps", tto_steps), ("val_tto_steps", val_tto_steps)):
            if val < 0:
                raise ValueError(f"model.{key} must be >= 0, got {val}")
        self.field, self.source = field, source
        self.optimizer_fn, self.scheduler_fn = optimizer, scheduler
        self.image_shape, self.pixels_per_image = tuple(image_shape), pixels_per_image
        self.tto_steps, self.val_tto_steps, self.tto_lr, self.n_grid = tto_steps, val_tto_steps, tto_lr, n_grid
        self.config = config
        h, w = self.image_shape
        self.register_buffer("coords", pixel_grid(h, w).reshape(-1, 2), persistent=False)  # (HW, 2)
        self.grid: dict[str, torch.Tensor] = {}  # fixed first images of the last evaluated split, for panels
        self.tto_curve: list[tuple[int, float]] = []
        self.endpoints: torch.Tensor | None = None  # (2, code_dim) TTO codes of two test images
        self._curve_sum: dict[int, float] = {}
        self._curve_n = 0

    # ---- training -------------------------------------------------------------------------
    def sample(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, H, W, C) -> coords (B, P, 2), values (B, P, C): P random pixels per image (or all)."""
        b, h, w, c = images.shape
        flat = images.reshape(b, h * w, c)
        if self.pixels_per_image is None or self.pixels_per_image >= h * w:
            return self.coords.expand(b, -1, -1), flat
        idx = torch.randint(0, h * w, (b, self.pixels_per_image), device=images.device)  # (B, P)
        return self.coords[idx], torch.gather(flat, 1, idx.unsqueeze(-1).expand(-1, -1, c))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        idx, images = batch  # (B,), (B, H, W, C)
        coords, values = self.sample(images)
        if self.source is None:  # cond=none: one field for every image
            pred, reg = self.field(coords), images.new_zeros(())
        else:
            codes = self.source(idx, images)  # (B, code_dim)
            pred, reg = self.field(coords, codes), self.source.regularization(codes)
        mse = torch.mean((pred.float() - values) ** 2)
        b = images.shape[0]
        self.log("train/loss", mse, prog_bar=True, batch_size=b)
        self.log("train/psnr", -10 * torch.log10(mse.detach()), batch_size=b)
        self.log("train/code_reg", reg.detach(), batch_size=b)
        return mse + reg

    def configure_optimizers(self) -> Any:
        groups = [{"params": list(self.field.parameters())}]
        if self.source is not None:
            source_group = {"params": list(self.source.parameters())}
            if self.source.lr is not None:
                source_group["lr"] = self.source.lr  # the autodecoder codes' own learning rate
            groups.append(source_group)
        opt = self.optimizer_fn(params=groups)
        if self.scheduler_fn is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_fn(optimizer=opt), "interval": "step"}}

    # ---- evaluation: test-time optimisation --------------------------------------------------
    def tto(self, images: torch.Tensor, steps: int, mask: torch.Tensor | None = None) -> TTOResult:
        """Fresh codes for unseen images (B, H, W, C); `mask` (B, H, W) bool = observed pixels (None: all)."""
        with torch.inference_mode(False), torch.enable_grad():  # Lightning evaluates under inference mode
            images = images.clone()
            mask = None if mask is None else mask.clone()
            return optimize_codes(self.field, self.source, images, steps, self.tto_lr, mask, self.pixels_per_image)

    def evaluate(self, stage: str, images: torch.Tensor, batch_idx: int, steps: int) -> TTOResult:
        res = self.tto(images, steps)
        b = images.shape[0]
        # Under DDP each rank scores its own shard of images: sync_dist averages the ranks' means.
        self.log(f"{stage}/psnr", res.psnr.mean(), prog_bar=stage == "val", batch_size=b, sync_dist=True)
        self.log(f"{stage}/psnr_tto0", res.curve[0][1], batch_size=b, sync_dist=True)  # before optimising the codes
        self.log(f"{stage}/ssim", ssim(res.pred.clamp(0, 1), images), batch_size=b, sync_dist=True)
        if batch_idx == 0:
            n = min(self.n_grid, b)
            self.grid = {"ground truth": images[:n].detach().float(), "prediction": res.pred[:n].detach()}
        return res

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.evaluate("val", batch[1], batch_idx, self.val_tto_steps)

    def on_test_epoch_start(self) -> None:
        self._curve_sum, self._curve_n, self.endpoints = {}, 0, None

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images = batch[1]
        res = self.evaluate("test", images, batch_idx, self.tto_steps)
        b = images.shape[0]
        for step, psnr in res.curve:  # batch-size-weighted mean curve over the test set
            self._curve_sum[step] = self._curve_sum.get(step, 0.0) + psnr * b
        self._curve_n += b
        if batch_idx == 0 and res.codes is not None and b >= 2:
            self.endpoints = res.codes[:2].clone()

    def on_test_epoch_end(self) -> None:
        self.tto_curve = [(s, v / max(self._curve_n, 1)) for s, v in sorted(self._curve_sum.items())]

    # ---- figures ----------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, codes: torch.Tensor | None, n: int = 1) -> torch.Tensor:
        """codes (B, code_dim) -> images (B, H, W, C) in [0, 1]; None (cond=none): the one shared image."""
        h, w = self.image_shape
        return decode(self.field, codes, n if codes is None else codes.shape[0], h, w).clamp(0, 1)

    @torch.no_grad()
    def interpolation(self, n: int = 8) -> torch.Tensor | None:
        """Decoded codes on the line between two test images' codes -> (n, H, W, C), or None."""
        if self.endpoints is None:
            return None
        t = torch.linspace(0, 1, n, device=self.endpoints.device).unsqueeze(1)  # (n, 1)
        return self.decode((1 - t) * self.endpoints[0] + t * self.endpoints[1])

    def panel_images(self) -> dict[str, torch.Tensor]:
        """The fixed grid of evaluated images beside their reconstructions (ReconstructionPanels)."""
        return {name: tile(imgs, cols=4) for name, imgs in self.grid.items()}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["nfields_config"] = self.config


def build_collection_module(cfg: DictConfig, dm: Any) -> CollectionModule:
    """The module for a collection datamodule (dm.channels, dm.image_shape, dm.n_train, dm.pixels_per_image)."""
    from hydra.utils import instantiate

    from nfields.build import build_field

    m = cfg.model
    field = build_field(cfg, out_dim=dm.channels, own_code=False)
    source = None
    if field.cond is not None:
        source = build_source(
            m.latent_source,
            code_dim=field.code_dim,
            n_train=dm.n_train,
            channels=dm.channels,
            lr=m.latent_lr,
            reg_weight=m.code_reg,
        )
    return CollectionModule(
        field=field,
        source=source,
        optimizer=instantiate(m.optimizer),
        image_shape=dm.image_shape,
        scheduler=instantiate(m.scheduler) if m.get("scheduler") else None,
        pixels_per_image=dm.pixels_per_image,
        tto_steps=m.tto_steps,
        val_tto_steps=m.val_tto_steps,
        tto_lr=m.tto_lr,
        config=OmegaConf.to_container(cfg, resolve=True),
    )
