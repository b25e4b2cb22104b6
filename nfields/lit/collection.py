"""CollectionModule: one conditional field for many images (cond=concat|film|hypernet, or none), or many signals
of another grid: audio and video clips (data=audio_collection, video_collection), whose batches are (B, *grid, C)
where an image's are (B, H, W, C); their panels show each signal's picture (a waveform, frames).

A training step takes a batch of images from the DataLoader (dicts, data/collection.py),
samples observed points of each on the device, gets each image's code from the latent
source (autodecoder table, or the CNN encoder applied to the observation) and fits
field(coords, code) to the observed colours, plus the source's L2 prior.

What is observed is the run's task (`task=`): all pixels (fit), a sub-grid (interpolate),
block means (superres), noisy pixels (denoise) or a subset (inpaint). Validation and test
images are never trained on: their codes come from test-time optimisation (network frozen,
`model.val_tto_steps` / `model.tto_steps` steps on their observations only); the render is
scored by `task.evaluate` per image, on the pixels the task scores, beside its baselines
and the mean training image (`<stage>/psnr_mean_image`). The test pass also records the
PSNR-vs-TTO-step curve and keeps codes for the latent interpolation figure.

model.latent_source=meta: every code, training or unseen, is fitted by the source's inner steps from zero on
the task's loss (lit/tto.py: meta_codes), and training backpropagates through them (docs/meta.md); unseen
images get the same steps instead of TTO, and `<stage>/psnr_step<k>` records the PSNR after k of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from pytorch_lightning.utilities import move_data_to_device

from nfields.core.checks import POSITIVE, check_arg, integer, one_of, string
from nfields.core.errors import ConfigError
from nfields.core.media import tile
from nfields.core.metrics import baseline_psnrs
from nfields.data.collection import CollectionDataModule, collate
from nfields.fields.base import Field
from nfields.fields.field import conditioned
from nfields.fields.latents.source import LatentSource
from nfields.lit.signals import Batch, SignalsModule, enlarged
from nfields.lit.tto import META_STEPS, TTO_STEPS, TTOResult, decode, meta_codes, meta_tto, optimize_codes
from nfields.tasks.base import Observation, Task


class CollectionModule(SignalsModule):
    """model=collection: one conditional field for many images (data=fashion_mnist|mnist|cifar10|...) or clips."""

    own_code = False  # codes come from the latent source, one per image
    data_kind = (
        "a collection of images or clips (data=fashion_mnist|mnist|cifar10|celeba|image_folder|synthetic|"
        "audio_collection|video_collection)"
    )

    def __init__(
        self,
        field: Field,
        task: Task,
        data: CollectionDataModule,
        latent_dim: int | None = 64,
        latent_source: str = "encoder",
        sources: dict[str, Callable[..., LatentSource]] | None = None,
        latent_lr: float | None = None,
        code_reg: float = 0.0,
        tto_steps: int = 100,
        val_tto_steps: int = 20,
        tto_lr: float = 1e-2,
        inner_steps: int = 3,
        first_order: bool = False,
        n_grid: int = 8,
        **base: Any,  # BaseModule's: optimizer, lr, scheduler, compile, run_config
    ) -> None:
        super().__init__(data, n_grid, field, task, latent_dim=latent_dim, **base)
        # latent_lr and code_reg are the model's keys for the autodecoder's own rate and L2 prior, inner_steps and
        # first_order the meta source's: their config nodes (model.sources.<name>) read them by interpolation, and
        # the source checks them when it is built.
        sources = sources or {}
        check_arg("model.latent_source", latent_source, one_of(*sources) if sources else string())
        for key, val in (("tto_steps", tto_steps), ("val_tto_steps", val_tto_steps)):
            check_arg(f"model.{key}", val, integer(lo=0))
        check_arg("model.tto_lr", tto_lr, POSITIVE)
        self.latent_source = latent_source
        # The code source is built here, its sizes derived: the field's code width, the number of training images.
        self.source: LatentSource | None = None
        if field.cond is not None:
            make = sources[latent_source]
            self.source = make(code_dim=field.code_dim, n_train=data.n_train, channels=data.channels)
            if self.source.dims is not None and data.dims not in self.source.dims:
                raise ConfigError(
                    "model.latent_source",
                    latent_source,
                    f"reads {' or '.join(f'{n}-D' for n in self.source.dims)} signals (a CNN over images); the data "
                    f"has {data.dims}-D signals: use model.latent_source=autodecoder",
                )
            if self.source.inner_loop and field.cond.stuck_at_zero:  # before training that would learn no code
                raise ConfigError(
                    "model.latent_source",
                    latent_source,
                    "codes start at zero and this conditioning's map from the code is linear and starts at zero, so "
                    "neither ever gets a gradient: use cond.identity_init=false (film) or cond.hidden > 0",
                )
        self.ssim_frames, self.scores = data.ssim_frames, tuple(data.scores)  # how the domain scores (video: per frame)
        self.tto_steps, self.val_tto_steps, self.tto_lr = tto_steps, val_tto_steps, tto_lr
        mean_image = data.mean_image()
        self.register_buffer("mean_image", mean_image, persistent=False)
        self.gif_batch: Batch | None = None  # fixed training images for progress.gif
        self.tto_curve: list[tuple[int, float]] = []
        self.endpoints: torch.Tensor | None = None  # (2, code_dim) TTO codes of two test images
        self._curve_sum: dict[int, float] = {}
        self._curve_n = 0
        self.on_tto_step: Callable[[], None] | None = None  # set by the progress bar for the test pass

    def tto_total(self, n_batches: int) -> int:
        """Test-time optimisation steps of a test pass over n_batches batches (0: no codes to optimise)."""
        if self.source is None or self.field.cond is None or self.source.inner_loop:  # meta: a few inner steps
            return 0
        return n_batches * self.tto_steps

    # ---- training -------------------------------------------------------------------------
    def codes(self, batch: Batch, observed: Observation | None = None) -> torch.Tensor | None:
        """Training images' codes (B, code_dim): the encoder sees the observation, never the clean image; meta
        takes its inner steps on `observed` (the step's sampled points; None: all of batch["observed"])."""
        if self.source is None:
            return None
        if self.source.inner_loop:
            seen = observed if observed is not None else batch["observed"]
            return meta_codes(self.field, self.source, self.task, seen)[0]
        return self.source(batch["index"], batch["observed"].display)

    def data_loss(self, batch: Batch, observed: Observation) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The training images' codes (B, code_dim) (None: cond=none) and the task's loss on `observed` (B, P, ...).
        Every pass on the step's points (meta's inner steps and this loss) shares the field's code-independent
        part, computed once (Field.reusing)."""
        with self.field.reusing():
            codes = self.codes(batch, observed)
            field_fn = conditioned(self.field, codes)  # cond=none (codes None): one field for every image
            return codes, self.task.loss(field_fn, observed)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        observed = self.sample(batch["observed"])  # (B, P, ...)
        codes, mse = self.data_loss(batch, observed)
        values = observed.values  # (B, P, C)
        reg = values.new_zeros(()) if codes is None else self.source.regularization(codes)
        field_reg = self.field.regularization()  # (): the field's own penalty (encoding=grid's TV), else 0
        b = values.shape[0]
        self.log_train(mse, b)
        self.log("train/code_reg", reg.detach(), batch_size=b)
        if field_reg.requires_grad:
            self.log("train/reg", field_reg.detach(), batch_size=b)
        return mse + reg + field_reg

    def param_groups(self) -> list[dict[str, Any]]:
        groups = super().param_groups()
        if self.source is not None:
            source_group: dict[str, Any] = {"params": list(self.source.parameters())}
            if self.source.lr is not None:
                source_group["lr"] = self.source.lr  # the autodecoder codes' own learning rate
            groups.append(source_group)
        return groups

    # ---- evaluation: test-time optimisation --------------------------------------------------
    def tto(
        self,
        images: torch.Tensor,
        steps: int,
        observed: Observation | None = None,
        score: torch.Tensor | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> TTOResult:
        """Fresh codes for unseen images (B, H, W, C) fitted to `observed` (their stacked Observation; None: every
        pixel), scored on `score`."""
        with torch.inference_mode(False), torch.enable_grad():  # Lightning evaluates under inference mode
            # clones turn inference tensors into normal ones that autograd may save
            images, score = images.clone(), None if score is None else score.clone()
            observed = None if observed is None else observed.clone()  # every tensor of the Observation
            if self.source is not None and self.field.cond is not None and self.source.inner_loop:
                return meta_tto(self.field, self.source, self.task, images, observed, score)
            return optimize_codes(
                self.field, self.source, self.task, images, steps, self.tto_lr, self.pixels_per_image,
                observed=observed, score_mask=score, on_step=on_step,
            )  # fmt: skip

    def evaluate(self, stage: str, batch: Batch, batch_idx: int, steps: int) -> TTOResult:
        images, obs, score = batch["image"], batch["obs"], self.score_mask(batch, stage)  # (B, H, W, C), B, (B, H, W)
        res = self.tto(images, steps, batch["observed"], score, self.on_tto_step if stage == "test" else None)
        frames = self.ssim_frames
        metrics = [
            self.task.evaluate(res.pred[i], images[i], self.with_mean(o), stage, frames, self.scores)
            for i, o in enumerate(obs)
        ]
        b = images.shape[0]
        # Under DDP each rank scores its own shard of images: sync_dist averages the ranks' means.
        for key in metrics[0]:
            value = sum(m[key] for m in metrics) / b
            self.log(f"{stage}/{key}", value, prog_bar=stage == "val" and key == "psnr", batch_size=b, sync_dist=True)
        self.log(f"{stage}/psnr_tto0", res.curve[0][1], batch_size=b, sync_dist=True)  # before optimising the codes
        # PSNR after k steps: meta's inner steps from zero codes, or the others' TTO steps (the run's tto_steps)
        inner = self.source is not None and self.source.inner_loop
        name, steps = ("step", META_STEPS) if inner else ("tto", TTO_STEPS)
        for step, psnr in res.curve:
            if step in steps and (inner or step > 0):  # psnr_tto0 is logged above
                self.log(f"{stage}/psnr_{name}{step}", psnr, batch_size=b, sync_dist=True)
        if batch_idx == 0:
            n = min(self.n_grid, b)
            display = batch["observed"].display[:n].float()
            self.grid = {} if torch.equal(display, images[:n]) else {"observed": display.clamp(0, 1)}  # fit: omit
            self.grid |= {"prediction": res.pred[:n].detach(), "ground truth": images[:n].detach().float()}
        return res

    def with_mean(self, obs: Observation) -> Observation:
        """The observation with the mean training image added to its baselines (psnr_mean_image)."""
        if self.mean_image is None:
            return obs
        return replace(obs, baselines={**obs.baselines, "mean_image": self.mean_image})

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.evaluate("val", batch, batch_idx, self.val_tto_steps)

    def on_test_epoch_start(self) -> None:
        self._curve_sum, self._curve_n, self.endpoints = {}, 0, None

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        res = self.evaluate("test", batch, batch_idx, self.tto_steps)
        b = batch["image"].shape[0]
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
        """codes (B, code_dim) -> signals (B, *grid, C) in [0, 1]; None (cond=none): the one shared signal."""
        return decode(self.field, codes, n if codes is None else codes.shape[0], self.image_shape).clamp(0, 1)

    @torch.no_grad()
    def interpolation(self, n: int = 8) -> torch.Tensor | None:
        """Decoded codes on the line between two test signals' codes -> their pictures (n, h, w, C), or None."""
        if self.endpoints is None:
            return None
        t = torch.linspace(0, 1, n, device=self.endpoints.device).unsqueeze(1)  # (n, 1)
        return self.pictures(self.decode((1 - t) * self.endpoints[0] + t * self.endpoints[1]))

    @torch.no_grad()
    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        """The first `n_grid` training images decoded from their current codes, tiled (ProgressGif) -> (h, w, C)."""
        if self.gif_batch is None:
            train = self.trainer.datamodule.splits["train"]
            items = [train[i] for i in range(min(self.n_grid, len(train)))]
            self.gif_batch = move_data_to_device(collate(items, keep_obs=False), self.device)
        frame = tile(self.pictures(self.decode(self.codes(self.gif_batch), len(self.gif_batch["index"]))), cols=4)
        return enlarged(frame, max_size)

    def panel_images(self) -> dict[str, torch.Tensor]:
        """The fixed grid of evaluated images beside their reconstructions (ReconstructionPanels)."""
        return {name: tile(self.pictures(imgs), cols=4) for name, imgs in self.grid.items()}

    def panel_captions(self) -> dict[str, str]:
        """The predictions' PSNR: the mean over the evaluated split (the grid shows its first images), with the
        baselines' means: '(mean 19.54 dB, mean image 10.93 dB)'."""
        stage = "test" if self.trainer.testing else "val"
        metrics = self.trainer.callback_metrics
        psnr, baselines = metrics.get(f"{stage}/psnr"), baseline_psnrs(metrics, stage)
        return {} if psnr is None else {"prediction": f"(mean {', '.join([f'{float(psnr):.2f} dB', *baselines])})"}
