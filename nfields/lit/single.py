"""FieldModule: fits one signal on a grid (model=single): an image, audio, a video, a volume.

Its parts say what they are: the image's observed pixels and each step's batch (lit/samples.py),
k optimiser steps per Lightning call (lit/stepped.py), evaluation band by band (lit/bands.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nfields.core.checks import POSITIVE_INT, boolean, check_arg, nullable, string
from nfields.core.metrics import BAND_PIXELS, GridScore, baseline_psnrs
from nfields.core.views import shrink
from nfields.data.grid import GridDataModule
from nfields.fields.base import Field
from nfields.fields.field import render_grid
from nfields.lit.bands import evaluate_in_bands, render_slabs, rendered_bands
from nfields.lit.samples import GridSamples
from nfields.lit.stepped import SteppedModule, replace_update
from nfields.tasks.base import Observation, Task


class FieldModule(SteppedModule):
    """model=single: one field fitted to one signal (data=image|text|audio|video|volume)."""

    data_type = GridDataModule
    data_kind = "one signal (data=image|text|audio|video|volume)"
    compile_modes = (False, True, "field", "step")  # step: forward, loss, backward and the update compiled

    def __init__(
        self,
        field: Field,
        task: Task,
        data: GridDataModule,
        render_chunk: int = 65536,
        steps_per_call: int | str = "auto",
        compact_pixels: bool = True,
        keep_features: bool = True,
        init_from: str | None = None,
        **base: Any,  # BaseModule's: optimizer, lr, scheduler, compile, latent_dim, run_config
    ) -> None:
        super().__init__(field, task, steps_per_call=steps_per_call, **base)
        check_arg("model.render_chunk", render_chunk, POSITIVE_INT)
        check_arg("model.compact_pixels", compact_pixels, boolean())
        check_arg("model.keep_features", keep_features, boolean())
        check_arg("model.init_from", init_from, nullable(string()))  # the builder loads it (run/build.py)
        self.keep_features = keep_features  # a full batch's fixed features computed once per fit (Field.keep_input)
        self.render_chunk = render_chunk
        self.samples = GridSamples(task, data.signal, data.batch_size, compact_pixels)
        self.image_shape, self.obs = self.samples.shape, self.samples.obs  # (*grid, C); masks, baselines, display
        self.grid = self.image_shape[:-1]  # an image's (H, W), a video's (T, H, W), ...
        self.data = data  # the domain: its picture, file format, scores and rate (data/grid.py)
        self.batch_loss = task.loss  # model.compile=step replaces it with its compiled version
        self.penalised: bool | None = None  # the field adds a penalty to the loss (None: ask it every step)
        self.graphed = False  # the loss is computed in a CUDA graph (model.compile=step on CUDA)
        self.last_reg: torch.Tensor | None = None
        self.eval_band_pixels = BAND_PIXELS  # pixels rendered and scored at a time by evaluate()
        self.kept_rows: list[int] | None = None  # the axis-0 indices last_render holds (None: all of them)

    # ---- the image -----------------------------------------------------------------------------
    @property
    def pixels(self) -> Any:
        """The observed pixels as stored on the device (lit/pixels.py)."""
        return self.samples.pixels

    @property
    def clean_store(self) -> torch.Tensor | None:
        """The clean image's own buffer, or None when it is the observed pixels' (task=fit, compact)."""
        return self.samples.clean_store

    @property
    def image_store(self) -> torch.Tensor:
        """The clean image (H, W, C) as stored: uint8 levels when that is exact and compact, else float."""
        return self.samples.image

    @property
    def clean(self) -> torch.Tensor:
        """The clean image (H, W, C), float in [0, 1]."""
        return self.samples.clean_rows(0, self.image_shape[0])

    def data_nbytes(self) -> int:
        """Bytes of data the module holds on its device: observed pixels and the clean image (not the field)."""
        return self.samples.nbytes()

    # ---- training -------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self.samples.start(torch.initial_seed(), self.global_rank, self.trainer.world_size)

    def on_train_start(self) -> None:
        super().on_train_start()
        if self.keep_features and self.samples.full_batch():  # every step's coordinates from now on
            self.field.keep_input(self.samples.sample()[0].coords)
        self.penalised = self.field.regularization().requires_grad  # a penalty on its parameters, or none at all
        if self.compile_mode == "step":
            # On CUDA, reduce-overhead captures CUDA graphs. A scheduler changes the learning rate every
            # step, which a compiled update would recompile for: with one, the update stays eager.
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self.graphed = mode is not None
            self.batch_loss = torch.compile(self.task.loss, mode=mode)  # guards on the task and field only
            # A fused optimiser is one kernel already; compiled, it runs slower (an opaque op in the graph)
            raw = self.optimizer.optimizer
            if self.scheduler is None and not raw.defaults.get("fused"):
                replace_update(raw, torch.compile(self.torch_update, mode=mode), self.step_closure)

    def on_train_end(self) -> None:
        self.field.keep_input(None)  # what the field kept for training steps is not needed to test or render

    def loss(self) -> torch.Tensor:
        """The task's data term on this step's pixels plus the field's regularization (encoding=grid's TV)."""
        batch, count = self.samples.sample()
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

    def training_metrics(self, loss: torch.Tensor) -> dict[str, float]:
        """train/loss, train/psnr (of the data term), train/lr, and train/reg when the field adds a penalty."""
        metrics = {
            "train/loss": float(loss),
            "train/psnr": float(-10 * torch.log10(loss if self.penalised is False else self.last_data_loss)),
            "train/lr": self.current_lr(),
        }
        if self.last_reg is not None:
            metrics["train/reg"] = float(self.last_reg)
        return metrics

    def probe(self, device: torch.device) -> tuple[torch.nn.Module, Callable[[torch.nn.Module], None]]:
        batch = self.samples.probe_batch()
        coords, values = batch.coords.to(device), batch.values.to(device)  # (B, 2), (B, C)
        footprint = None if batch.footprint is None else batch.footprint.to(device)  # (K, 2)

        def backward(field: torch.nn.Module) -> None:
            self.task.loss(field, Observation(values, coords=coords, footprint=footprint)).backward()

        return self.field, backward

    # ---- evaluation -----------------------------------------------------------------------
    def render(self, h: int | None = None, w: int | None = None) -> torch.Tensor:
        """The field rendered on its grid -> (*grid, C) in [0, 1]; an image at another (h, w) if given."""
        grid = self.grid if h is None and w is None else (h or self.grid[0], w or self.grid[1])
        return render_grid(self.field, grid, self.render_chunk, self.device).float().clamp_(0, 1)

    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        """The field rendered for progress.gif -> (h, w, C): an image at most `max_size` pixels high/wide, any
        other signal as its picture (data.picture: a waveform, frames, slices)."""
        if len(self.grid) != 2:
            rows = self.data.picture_rows()  # a video: only the frames its picture shows are rendered
            if rows is None:
                return self.data.picture(self.render())
            grid, chunk = self.grid, self.render_chunk
            # each shown frame shrunk as it is rendered (the picture shrinks it the same): one full frame at a time
            frames = [
                shrink(render_grid(self.field, grid, chunk, self.device, rows=(i, i + 1))[0].float().clamp_(0, 1))
                for i in rows
            ]
            return self.data.picture(torch.stack(frames))
        h, w = self.grid
        s = min(1.0, max_size / max(h, w))
        return self.render(max(1, round(h * s)), max(1, round(w * s)))

    def evaluate(self, stage: str) -> dict[str, float]:
        """Render, score and keep the signal slab by slab (lit/bands.py); the render is kept on the host as uint8
        (`last_render`) for the panels and prediction.png: an image's whole, another signal's rows its picture
        reads (data.picture_rows: a video's shown frames); the metrics use the float render."""
        score = GridScore(self.grid, frames=self.data.ssim_frames, extra=self.data.scores)
        bands = rendered_bands(
            self.field, self.image_shape, self.eval_band_pixels, self.render_chunk, self.device, score.pad
        )

        def score_rows(score: GridScore, pred: torch.Tensor, clean: torch.Tensor, band: Any) -> None:
            self.task.score_rows(score, pred, clean, self.obs, stage, band)

        self.kept_rows = None if len(self.grid) == 2 else self.data.picture_rows()
        metrics, self.last_render = evaluate_in_bands(
            bands, self.image_shape, score, self.samples.clean_rows, score_rows, self.kept_rows
        )
        self.log_scores(stage, metrics)
        return metrics

    def panel_images(self) -> dict[str, torch.Tensor]:
        """Named (H, W, C) images for the side-by-side panel, left to right (other domains: their pictures)."""
        clean, display = self.image_store.cpu(), self.obs.display  # uint8 or float: the panel quantises
        same = display.numel() == 0 or (display.shape == clean.shape and torch.equal(display, clean))  # task=fit
        images = {**({} if same else {"observed": display}), "prediction": self.last_render, "ground truth": clean}
        if len(self.grid) == 2:
            return images
        rows = self.kept_rows  # the rows the picture reads (None: all); last_render holds only those
        if rows is not None:
            images = {name: x if name == "prediction" else x[rows] for name, x in images.items()}
        return {name: self.data.picture(x) for name, x in images.items()}  # uint8 or float: frames one by one

    def write_media(self, stem: Path) -> Path | None:
        """The field's render in the domain's own format at `stem` + suffix (audio .wav, video .mp4, volume .npy)
        -> its path; an image's is prediction.png already (None). Rendered again slab by slab and written as it
        comes (a video's frames are encoded one at a time): the evaluation kept only its picture's rows."""
        if len(self.grid) == 2:
            return None
        slabs = render_slabs(self.field, self.grid, self.eval_band_pixels, self.render_chunk, self.device)
        return self.data.write_slabs(slabs, stem)

    def panel_captions(self) -> dict[str, str]:
        """The prediction's PSNR from the evaluation the panel shows (the stage's epoch metrics), with the task's
        baselines: '28.31 dB (bicubic 27.10 dB)'."""
        stage = "test" if self.trainer.testing else "val"
        metrics = self.trainer.callback_metrics
        psnr, baselines = metrics.get(f"{stage}/psnr"), baseline_psnrs(metrics, stage)
        extra = f" ({', '.join(baselines)})" if baselines else ""
        return {} if psnr is None else {"prediction": f"{float(psnr):.2f} dB{extra}"}

    def checkpoint_extra(self) -> dict[str, Any]:
        # The signal's (*grid, C), its domain and rate (audio's sample rate, video's fps): render without the data
        shape, data = list(self.image_shape), self.data
        return {"nfields_image_shape": shape, "nfields_domain": data.domain, "nfields_rate": data.rate}
