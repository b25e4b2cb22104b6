"""FieldModule: fits one image; the image and its observation live on the device as buffers.

A training step samples pixel indices on the device (or takes every observed
pixel when data.batch_size is null): no DataLoader over single pixels, so a step
costs one randint and one gather, not a Python collate of thousands of items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import torch

from nfields.core.checks import POSITIVE_INT, boolean, check_arg, one_of
from nfields.core.media import quantize
from nfields.core.metrics import BAND_PIXELS, ImageScore, baseline_psnrs, row_bands, ssim_pad
from nfields.data.image import ImageDataModule
from nfields.fields.base import Field
from nfields.fields.field import render
from nfields.lit.base import FieldsModule, Optimizer
from nfields.lit.inner import InnerLoop, time_step
from nfields.lit.pixels import PixelStore, as_float, as_uint8, observe
from nfields.tasks.base import Band, Observation, Task


class FieldModule(FieldsModule):
    """model=single: one field fitted to one image (data=image|text)."""

    data_type = ImageDataModule
    data_kind = "one image (data=image|text)"
    compile_modes = (False, True, "field", "step")  # step: forward, loss, backward and the update compiled

    def __init__(
        self,
        field: Field,
        task: Task,
        data: ImageDataModule,
        optimizer: Optimizer,
        lr: float = 1e-3,
        scheduler: Callable[..., Any] | None = None,
        compile: bool | str = False,
        latent_dim: int | None = None,
        render_chunk: int = 65536,
        steps_per_call: int | str = "auto",
        compact_pixels: bool = True,
        keep_features: bool = True,
        run_config: dict | None = None,
    ) -> None:
        super().__init__(field, task, optimizer, lr, scheduler, compile, latent_dim, run_config)
        check_arg("model.steps_per_call", steps_per_call, POSITIVE_INT | one_of("auto"))
        check_arg("model.render_chunk", render_chunk, POSITIVE_INT)
        check_arg("model.compact_pixels", compact_pixels, boolean())
        check_arg("model.keep_features", keep_features, boolean())
        self.keep_features = keep_features  # a full batch's fixed features computed once per fit (Field.keep_input)
        self.steps_per_call = steps_per_call  # "auto": the run chooses (nfields/run/speed.py) before the trainer
        # The optimiser steps inside training_step (lit/inner.py): one or several per Lightning call.
        self.automatic_optimization = False
        self.batch_loss = task.loss  # model.compile=step replaces it with its compiled version
        self.last_reg: torch.Tensor | None = None
        self.penalised: bool | None = None  # the field adds a penalty to the loss (None: ask it every step)
        self.graphed = False  # the loss is computed in a CUDA graph (model.compile=step on CUDA)
        self.full_batch: tuple[Observation, float | None] | None = None  # sample() fills it
        self.shown: dict[str, float] = {}  # the progress bar's train/loss (log_training)
        image, batch_size, compact = data.image, data.batch_size, compact_pixels
        self.batch_size, self.render_chunk = batch_size, render_chunk
        self.eval_band_pixels = BAND_PIXELS  # pixels rendered and scored at a time by evaluate()
        obs = observe(task, image)  # uint8 levels only to a task that accepts them; else floats in [0, 1]
        # Non-persistent buffers: data is rebuilt from the config, not stored in checkpoints.
        # Random batches keep the image and its observed pixels compact (uint8, pixel indices; lit/pixels.py).
        compact = compact and batch_size is not None
        self.image_shape = tuple(image.shape)  # (H, W, C)
        self.pixels = PixelStore(obs, image.shape[0], image.shape[1], compact)
        stored = as_uint8(image) if compact else None
        stored = as_float(image) if stored is None else stored
        # task=fit observes the image itself: its stored colours are the clean image, kept once on the device.
        px = self.pixels
        shared = px.all_pixels and px.values.dtype == stored.dtype and px.values.data_ptr() == stored.data_ptr()
        self.register_buffer("clean_store", None if shared else stored, persistent=False)  # (H, W, C) or None
        # The observation's own copies are no longer needed (the panel's display is, unless it is the image).
        display = torch.empty(0) if obs.display is image else obs.display
        self.obs = replace(obs.for_scoring(), display=display)  # masks and baselines: what evaluate() reads
        mask = self.obs.eval_mask
        self.register_buffer("eval_mask", mask if mask is not None else None, persistent=False)

    @property
    def image_store(self) -> torch.Tensor:
        """The clean image (H, W, C) as stored: uint8 levels when that is exact and compact, else float."""
        return self.pixels.values.view(self.image_shape) if self.clean_store is None else self.clean_store

    def data_nbytes(self) -> int:
        """Bytes of data the module holds on its device: observed pixels and the clean image (not the field)."""
        store = self.clean_store
        return self.pixels.nbytes() + (0 if store is None else store.numel() * store.element_size())

    @property
    def clean(self) -> torch.Tensor:
        """The clean image (H, W, C), float in [0, 1]."""
        return self.clean_rows(0, self.image_shape[0])

    def clean_rows(self, lo: int, hi: int) -> torch.Tensor:
        """Rows [lo, hi) of the clean image -> (hi - lo, W, C) float in [0, 1] (one copy of the rows)."""
        return as_float(self.image_store[lo:hi])

    # ---- training -------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        # Each DDP rank draws its own pixels: a private generator seeded with (global seed, rank).
        self.sampler = torch.Generator(device=self.device)
        self.sampler.manual_seed(torch.initial_seed() + 7919 * self.global_rank)
        self.full_batch = None  # a new fit gathers its own (its device, its rank's share), and keeps its features

    def on_train_end(self) -> None:
        self.field.keep_input(None)  # what the field kept for training steps is not needed to test or render

    def sample(self) -> tuple[Observation, float | None]:
        """This rank's share of the step's pixels -> their Observation (coords (B, 2), colours (B, C), the
        footprint), and the count the squared errors are divided by. A random batch has data.batch_size /
        world_size pixels (with replacement; its own mean: None). A full batch is every world_size-th observed
        pixel, and each rank divides its sum by N / world_size, so that DDP's mean over ranks is exactly the mean
        over all N pixels, whatever the shards."""
        if self.full_batch is not None:  # the same pixels every step: gathered once per fit
            return self.full_batch
        n, world = self.pixels.n, self.trainer.world_size
        if self.batch_size is None or self.batch_size >= n:
            self.full_batch = (self.pixels.every(self.global_rank, world), None if world == 1 else n / world)
            if self.keep_features:
                self.field.keep_input(self.full_batch[0].coords)  # every step's coordinates from now on
            return self.full_batch
        idx = torch.randint(0, n, (max(1, self.batch_size // world),), device=self.device, generator=self.sampler)
        return self.pixels.take(idx), None

    def loss(self) -> torch.Tensor:
        """The task's data term on this step's pixels plus the field's regularization (encoding=grid's TV)."""
        batch, count = self.sample()
        field = self.field
        data = self.batch_loss(field, batch, count=count)  # the task's data term ()
        if self.penalised is False:
            return data  # nothing to add, nothing to keep (train/psnr reads the loss): the hot path of most fields
        # train/psnr measures the fit, not the regulariser (a copy: a CUDA graph reuses its output buffer)
        self.last_data_loss = data.detach().clone() if self.graphed else data.detach()
        reg = field.regularization()  # (): the constant 0 unless a part of the field penalises its parameters
        if not reg.requires_grad:
            return data
        self.last_reg = reg.detach()
        return data + reg

    def on_train_start(self) -> None:
        if self.steps_per_call == "auto":  # trained without nfields.run (its trainer counts calls as steps)
            self.steps_per_call = 1
        self.inner = InnerLoop(self)
        self.penalised = self.field.regularization().requires_grad  # a penalty on its parameters, or none at all
        if self.compile_mode == "step":
            # On CUDA, reduce-overhead captures CUDA graphs. A scheduler changes the learning rate every
            # step, which a compiled update would recompile for: with one, the update stays eager.
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self.graphed = mode is not None
            self.batch_loss = torch.compile(self.task.loss, mode=mode)  # guards on the task and field only
            # A fused optimiser is one kernel already; compiled, it runs slower (an opaque op in the graph)
            fused = bool(self.inner.optimizer.defaults.get("fused"))
            if self.inner.scheduler is None and not fused:
                self.inner.optimizer_step = torch.compile(self.inner.optimizer.step, mode=mode)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """model.steps_per_call optimiser steps on fresh samples (each counts in trainer.global_step, as
        Lightning's automatic loop would take them one per call); training metrics every
        trainer.log_every_n_steps optimiser steps, whatever k."""
        every, step = self.log_every(), self.global_step
        loss_of, optimise = self.loss, self.inner.step  # bound once: a 1 ms step feels every lookup
        for _ in range(self.steps_per_call):
            loss = loss_of()
            optimise(loss)  # trainer.global_step + 1
            step += 1
            if every and step % every == 0:
                self.log_training(loss.detach())
        return loss.detach()

    def log_training(self, loss: torch.Tensor) -> None:
        """train/loss, train/psnr, train/lr (and train/reg) at this optimiser step, straight to the loggers:
        self.log costs ~0.5 ms of Python a key (Lightning's result collection), as much as a small step.
        train/loss also goes to the progress bar (progress_metrics)."""
        metrics = {
            "train/loss": float(loss),
            "train/psnr": float(-10 * torch.log10(loss if self.penalised is False else self.last_data_loss)),
            "train/lr": float(self.inner.optimizer.param_groups[0]["lr"]),
        }
        if self.last_reg is not None:
            metrics["train/reg"] = float(self.last_reg)
        self.shown = {"train/loss": metrics["train/loss"]}
        self.train_log.append({"step": self.global_step, **metrics})
        for logger in self.trainer.loggers:  # they write on rank zero only
            logger.log_metrics(metrics, step=self.global_step)
            logger.save()

    def progress_metrics(self) -> dict[str, float]:
        return self.shown

    def probe_step_s(self, device: torch.device) -> float:
        """Seconds per optimiser step of this module's field on `device` (a probe on a copy; lit/inner.py)."""
        n, footprint = self.pixels.n, self.pixels.footprint
        if self.batch_size is None or self.batch_size >= n:
            batch = self.pixels.every()
        else:
            g = torch.Generator(device=self.pixels.values.device).manual_seed(0)
            idx = torch.randint(0, n, (self.batch_size,), generator=g, device=self.pixels.values.device)
            batch = self.pixels.take(idx)

        def loss(field: Field, coords: torch.Tensor, values: torch.Tensor) -> torch.Tensor:  # the probe moves them
            return self.task.loss(field, Observation(values, coords=coords, footprint=footprint))

        return time_step(self.field, loss, self.build_optimizer, (batch.coords, batch.values), device)

    # ---- evaluation -----------------------------------------------------------------------
    def render(self, h: int | None = None, w: int | None = None) -> torch.Tensor:
        """The field rendered at (h, w), default the image's resolution -> (h, w, C) in [0, 1]."""
        H, W = self.image_shape[:2]
        return render(self.field, h or H, w or W, self.render_chunk, self.device).float().clamp_(0, 1)

    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        """The field rendered at most `max_size` pixels high/wide, for progress.gif -> (h, w, C)."""
        h, w = self.image_shape[:2]
        s = min(1.0, max_size / max(h, w))
        return self.render(max(1, round(h * s)), max(1, round(w * s)))

    def rendered_bands(self) -> Iterator[tuple[Band, torch.Tensor]]:
        """The render in bands of about `eval_band_pixels` pixels -> ((r0, r1, lo), rows [lo, hi) in [0, 1]):
        each band's rows plus the context rows SSIM reads around them. Every row is rendered once: the
        context shared with the previous band is kept, not rendered again."""
        h, w, _ = self.image_shape
        kept, kept_lo = None, 0  # the previous band's rows [kept_lo, kept_lo + len)
        for r0, r1, lo, hi in row_bands(h, max(1, self.eval_band_pixels // w), ssim_pad(h, w)):
            start = lo if kept is None else kept_lo + kept.shape[0]  # the first row not rendered yet
            if start < hi:
                new = render(self.field, h, w, self.render_chunk, self.device, rows=(start, hi)).float().clamp_(0, 1)
                kept = new if kept is None else torch.cat([kept[lo - kept_lo :], new])
            else:  # the previous band's context already reaches the last row
                kept = kept[lo - kept_lo :]
            kept_lo = lo
            yield (r0, r1, lo), kept

    def evaluate(self, stage: str) -> dict[str, float]:
        """Render, score and keep the image band by band: memory beyond the stored image is bounded by
        the band, not the image. The render is kept on the host as uint8 (`last_render`) for the panels
        and prediction.png; the metrics use the float render."""
        h, w, c = self.image_shape
        score = ImageScore(h, w)
        self.last_render = torch.empty(h, w, c, dtype=torch.uint8)  # (H, W, C) host copy
        for (r0, r1, lo), pred in self.rendered_bands():
            self.task.score_rows(score, pred, self.clean_rows(lo, lo + pred.shape[0]), self.obs, stage, (r0, r1, lo))
            self.last_render[r0:r1] = quantize(pred[r0 - lo : r1 - lo]).cpu()
        metrics = score.result()
        # Every rank renders the same image with the same weights; sync_dist keeps them formally in step.
        logged = {f"{stage}/{k}": v for k, v in metrics.items()}
        logged["step"] = float(self.global_step)  # loggers plot against optimiser steps, not Lightning's calls
        self.log_dict(logged, prog_bar=stage == "val", batch_size=1, sync_dist=True)
        return metrics

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate("val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate("test")

    def panel_images(self) -> dict[str, torch.Tensor]:
        """Named (H, W, C) images for the side-by-side panel, left to right."""
        clean, display = self.image_store.cpu(), self.obs.display  # uint8 or float: the panel quantises
        same = display.numel() == 0 or (display.shape == clean.shape and torch.equal(display, clean))  # task=fit
        return {**({} if same else {"observed": display}), "prediction": self.last_render, "ground truth": clean}

    def panel_captions(self) -> dict[str, str]:
        """The prediction's PSNR from the evaluation the panel shows (the stage's epoch metrics), with the task's
        baselines: '28.31 dB (bicubic 27.10 dB)'."""
        stage = "test" if self.trainer.testing else "val"
        metrics = self.trainer.callback_metrics
        psnr, baselines = metrics.get(f"{stage}/psnr"), baseline_psnrs(metrics, stage)
        extra = f" ({', '.join(baselines)})" if baselines else ""
        return {} if psnr is None else {"prediction": f"{float(psnr):.2f} dB{extra}"}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resuming: continue at the checkpoint's optimiser step with this run's steps_per_call. The step count
        lives in the manual loop's progress (a checkpoint from automatic optimisation, nfields before
        lit/inner.py, has it in the automatic loop's), and Lightning's count of calls, which its validation
        interval reads, is recounted for this run's k (the checkpoint may have been written with another)."""
        loop = checkpoint.get("loops", {}).get("fit_loop")
        if not loop or not isinstance(self.steps_per_call, int):
            return
        manual_key = "epoch_loop.manual_optimization.optim_step_progress"
        automatic = loop.get("epoch_loop.automatic_optimization.optim_progress", {}).get("optimizer", {}).get("step")
        if automatic and automatic["total"]["completed"] > loop[manual_key]["total"]["completed"]:
            loop[manual_key] = {part: dict(automatic[part]) for part in ("total", "current")}
        calls = loop[manual_key]["total"]["completed"] // self.steps_per_call
        for part in ("total", "current"):
            loop["epoch_loop.batch_progress"][part].update(ready=calls, completed=calls, started=calls, processed=calls)
        loop["epoch_loop.state_dict"]["_batches_that_stepped"] = calls

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"nfields_image_shape": list(self.image_shape)}  # (H, W, C): render without the data
