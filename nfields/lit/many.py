"""ManyFieldsModule: M independent fields trained at once, one vectorised model (model=many).

Members are the signals of a set (images, audio or video clips), seeds and swept hyperparameters
(nfields/run/members.py builds them), on any grid domain (data/grid.py); each has its own weights,
Adam state, encoding draw and observation of its own signal through the task. Their parameters are
stacked (fields/stack.py) in chunks of at most `members.chunk` members: a step runs forward and
backward chunk by chunk (activation memory is bounded by one chunk) and then one optimiser step for
all of them (MemberAdam: Adam per member, with a learning rate per member). Members never share a
gradient, so member m follows exactly the trajectory of the field trained alone (tests/test_many.py
checks it against single runs).
Under DDP each rank computes its share of every chunk and the gradients are summed across ranks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nfields.core.checks import POSITIVE_INT, Check, check_arg
from nfields.core.errors import ConfigError
from nfields.core.media import as_float, quantize, tile
from nfields.core.metrics import GridScore
from nfields.data.grid import GridDataModule
from nfields.fields.field import render_grid
from nfields.lit.member import Member, MemberDraws, member_loss, summarize
from nfields.lit.member_adam import MemberAdam, as_real
from nfields.lit.pixels import observe
from nfields.lit.stepped import SteppedModule
from nfields.tasks.base import Observation, Task

NOT_COMPILED = Check(lambda v: v is False, "false: model=many does not compile its step (vmap) yet")


class ManyFieldsModule(SteppedModule):
    """model=many: independent fields of the signals of a set (or one signal), seeds and a sweep."""

    data_type = GridDataModule
    data_kind = "one signal or a set of them (data=image|image_set|audio|audio_set|video|video_set|volume)"
    many_fields = True

    def __init__(
        self,
        field: nn.ModuleList,
        task: Task,
        data: GridDataModule,
        members: list[Member],
        images: list[torch.Tensor],
        render_chunk: int = 65536,
        steps_per_call: int | str = "auto",
        compile: bool = False,
        **base: Any,  # BaseModule's: optimizer, lr, scheduler, latent_dim, run_config
    ) -> None:
        check_arg("model.compile", compile, NOT_COMPILED)
        check_arg("model.render_chunk", render_chunk, POSITIVE_INT)
        super().__init__(field, task, compile=False, steps_per_call=steps_per_call, **base)
        self.members, self.render_chunk, self.batch_size = members, render_chunk, data.batch_size
        sizes = [int(s.n) for s in field]
        if sum(sizes) != len(members) or len(images) != len(members):
            raise ValueError(f"{len(members)} members, {len(images)} images and stacks of {sizes} do not match")
        starts = [0, *torch.tensor(sizes).cumsum(0).tolist()[:-1]]
        self.chunks = [range(a, a + n) for a, n in zip(starts, sizes, strict=True)]  # members of each stack
        self.image_shape = tuple(images[0].shape)  # (*grid, C), every member's: an image's (H, W, C)
        self.grid = self.image_shape[:-1]
        self.clean_images = [as_float(im) for im in images]  # (*grid, C) float, on the host, for scoring
        # the domain's picture (panels, members/<id>.png) and scores, as a single run of the signal shows and scores it
        self.picture, self.ssim_frames, self.scores = data.picture, data.ssim_frames, tuple(data.scores)
        self.write_signal = data.write  # (*grid, C) in [0, 1], stem -> the domain's file (.wav, .mp4, .npy)
        self.obs: list[Observation] = []  # masks and baselines, what evaluate() reads: the values are in values_k
        values, coords = [], None
        for i, im in enumerate(images):
            obs = observe(task, im)  # uint8 levels only to a task that accepts them
            values.append(as_float(obs.values).float())  # (N, C)
            if i == 0:  # every member observes the same positions (same size and task), with the same footprint
                coords, footprint = obs.points(), obs.footprint  # (N, d), (K, d) or None
            elif values[i].shape != values[0].shape or not torch.equal(obs.points(), coords):
                raise ValueError(f"member {i} observes other cells than member 0: signals must share one shape")
            self.obs.append(obs.for_scoring())
        self.register_buffer("coords", coords, persistent=False)  # (N, d)
        self.register_buffer("footprint", footprint, persistent=False)  # (K, d) or None
        for k, r in enumerate(self.chunks):  # (Mk, N, C) per chunk: data is rebuilt from the config
            self.register_buffer(f"values_{k}", torch.stack(values[r.start : r.stop]), persistent=False)
        self.loss_fn = member_loss(task)
        self.member_metrics: dict[str, list[dict[str, float]]] = {}  # stage -> one row of metrics per member
        self.train_history: list[dict[str, Any]] = []  # every logged step's per-member training loss
        self.last_render: torch.Tensor | None = None  # (M, h, w, C) uint8 on the host: each member's picture

    @property
    def n_members(self) -> int:
        return len(self.members)

    def field_params(self) -> int:
        """One member's trainable parameters (every member has the same)."""
        return super().field_params() // self.n_members

    def configure_optimizers(self) -> Any:
        # member_lr (M,) in the parameters' chunk order: the stacked tensors of chunk k hold members chunks[k].
        member_lr = torch.tensor([m.lr for m in self.members])  # (M,)
        chunks = zip(self.field, self.chunks, strict=True)
        groups = [{"params": list(s.parameters()), "member_lr": member_lr[r.start : r.stop]} for s, r in chunks]
        opt = self.optimizer_fn(params=groups, lr=self.lr)
        if not isinstance(opt, MemberAdam) and bool((member_lr != self.lr).any()):
            raise ConfigError("model.optimizer", type(opt).__name__, "must be MemberAdam to give members their own lr")
        if self.scheduler_fn is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_fn(optimizer=opt), "interval": "step"}}

    # ---- training -------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self.draws = MemberDraws(self.members, self.coords.shape[0], self.batch_size, self.device)  # random batches

    def share(self, n: int) -> slice:
        """This rank's members of a chunk of n: an even, contiguous split across the DDP ranks (all of them alone)."""
        world, rank = self.trainer.world_size, self.trainer.global_rank
        return slice(n * rank // world, n * (rank + 1) // world)

    def sync_members(self, losses: torch.Tensor) -> torch.Tensor:
        """DDP: sum every member's gradient (zero on the ranks that did not compute it) and the (M, 2) losses
        across ranks, in one all-reduce; each rank then takes the same optimiser step. Returns the losses."""
        params = list(self.field.parameters())
        for p in params:
            if p.grad is None:  # a chunk with none of its members on this rank
                p.grad = torch.zeros_like(p)
        # Complex gradients (WIRE) as their real views (..., 2): one real buffer, so the losses stay real.
        grads = [as_real(p.grad) for p in params]
        flat = torch.cat([*(g.reshape(-1) for g in grads), losses.reshape(-1)])
        flat = self.trainer.strategy.reduce(flat, reduce_op="sum")
        offset = 0
        for g in grads:  # views of p.grad: writing them writes the gradients
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        return flat[offset:].view_as(losses)

    def sample(self, k: int, drawn: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, int | None]:
        """Chunk k's cells -> coords (N, d) shared or (Mk, B, d) per member, values (Mk, N|B, C), the
        coords' member dim (None: shared). `drawn`: the step's indices per seed (MemberDraws.step); None: full batch."""
        values = getattr(self, f"values_{k}")
        if drawn is None:
            return self.coords, values, None
        idx = self.draws.indices(drawn, self.chunks[k])  # (Mk, B)
        picked = torch.take_along_dim(values, idx.unsqueeze(-1), dim=1)  # (Mk, B, C)
        return self.coords[idx], picked, 0

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """model.steps_per_call optimiser steps (each counts in trainer.global_step); every
        trainer.log_every_n_steps steps the members' losses are kept (members_history.json) and logged."""
        every, logged = self.log_every(), None
        for _ in range(int(self.steps_per_call)):
            out = self.optimizer_step_of_members()  # (M, 2); trainer.global_step + 1
            if every and self.global_step % every == 0:
                self.train_history.append({"step": self.global_step, "loss": out.sum(1).tolist()})  # per member
                logged = out
        if logged is not None:  # self.log once per call (~0.5 ms a key)
            lr = self.current_lr()
            self.log("train/loss", logged.sum(1).mean(), prog_bar=True, batch_size=1)
            self.log_dict({"train/psnr": (-10 * torch.log10(logged[:, 0])).mean(), "train/lr": lr}, batch_size=1)
        return out.sum(1).mean()  # the mean member's training loss

    def optimizer_step_of_members(self) -> torch.Tensor:
        """One optimiser step of every member: forward and backward chunk by chunk (this rank's share of each
        under DDP), the gradients summed across ranks, one update -> the members' (data term, penalty) (M, 2)."""
        self.clear_grads()
        if self.trainer.world_size > 1:
            # Under DDP every rank holds every member and computes only its share of each chunk (share()). DDP's
            # own all-reduce (Lightning re-enables it after every training_step) would expect every parameter in
            # every backward and average in the other ranks' zero gradients: it is off for this step, and
            # sync_members sums the gradients instead, which gives exactly each member's own.
            self.trainer.strategy.model.require_backward_grad_sync = False
        parts, drawn = [], self.draws.step()
        for k, stack in enumerate(self.field):
            x, y, dim = self.sample(k, drawn)
            own = self.share(stack.n)  # every member on one device; this rank's share under DDP
            full = y.new_zeros(stack.n, 2)  # (Mk, 2): data term, penalty
            if own.start < own.stop:
                xs = x if dim is None else x[own]
                out = stack.per_member(self.loss_fn, xs, y[own], self.footprint, in_dims=(dim, 0, None), members=own)
                self.backward_of(out.sum())  # members' losses summed: each gets its own gradient
                full[own] = out.detach()
            parts.append(full)
        out = torch.cat(parts)  # (M, 2)
        if self.trainer.world_size > 1:
            out = self.sync_members(out)
        self.update()  # trainer.global_step + 1, and the scheduler's step
        return out

    def probe(self, device: torch.device) -> tuple[nn.Module, Callable[[nn.Module], None]]:
        coords = self.coords.to(device)  # (N, d): a full batch of every member
        footprint = None if self.footprint is None else self.footprint.to(device)
        values = [getattr(self, f"values_{k}").to(device) for k in range(len(self.chunks))]  # (Mk, N, C) each

        def backward(stacks: nn.Module) -> None:  # chunk by chunk, as a step goes
            for s, v in zip(stacks, values, strict=True):
                s.per_member(self.loss_fn, coords, v, footprint, in_dims=(None, 0, None)).sum().backward()

        return self.field, backward

    # ---- evaluation -------------------------------------------------------------------------------
    def render_chunk_members(self, k: int, shape: tuple[int, ...]) -> torch.Tensor:
        """Chunk k's members rendered on a grid of `shape` -> (Mk, *shape, C) in [0, 1]; render_chunk coordinates
        in all per pass."""
        stack = self.field[k]
        per = max(1, self.render_chunk // stack.n)  # coordinates per member per pass

        def every_member(coords: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, Mk * C), what render_grid fills
            return stack(coords).permute(1, 0, 2).reshape(coords.shape[0], -1)

        flat = render_grid(every_member, shape, per, self.device)  # (*shape, Mk * C)
        return flat.view(*shape, stack.n, -1).movedim(-2, 0).float().clamp_(0, 1)

    def member_picture(self, signal: torch.Tensor) -> torch.Tensor:
        """A member's signal (*grid, C) in [0, 1] -> its picture (h, w, C) uint8: an image itself, audio's waveform,
        a video's frames (data/grid.py GridDataModule.picture)."""
        return quantize(self.picture(signal.cpu()))

    def evaluate(self, stage: str) -> dict[str, float]:
        """Every member rendered and scored by the task, as its single run scores it (the domain's SSIM per frame,
        SNR, IoU); logs the mean and std over members of each metric."""
        rows, pictures = [], []
        for k, r in enumerate(self.chunks):
            preds = self.render_chunk_members(k, self.grid)  # (Mk, *grid, C)
            for j, m in enumerate(r):
                clean = self.clean_images[m].to(self.device)
                score = GridScore(self.grid, frames=self.ssim_frames, extra=self.scores)
                self.task.score_rows(score, preds[j], clean, self.obs[m], stage, (0, self.grid[0], 0))
                rows.append({f"{stage}/{key}": v for key, v in score.result().items()})
                pictures.append(self.member_picture(preds[j]))
        self.member_metrics[stage] = rows
        self.last_render = torch.stack(pictures)  # (M, h, w, C) uint8
        summary = summarize(rows)
        psnr = summary.pop(f"{stage}/psnr")
        # Under DDP every rank evaluates every member with the same weights: sync_dist keeps them formally in step.
        self.log(f"{stage}/psnr", psnr, prog_bar=stage == "val", batch_size=1, sync_dist=True)
        self.log_dict(summary, batch_size=1, sync_dist=True)
        return {f"{stage}/psnr": psnr, **summary}

    @torch.no_grad()
    def write_member_media(self, folder: Path) -> list[Path]:
        """Each member's render in its domain's own format, `folder/<id>` + suffix (audio .wav, video .mp4,
        volume .npy), as a single run writes prediction.*; nothing for images (members/<id>.png is the render).
        Rendered again chunk by chunk: evaluation keeps only the members' pictures."""
        if len(self.grid) == 2:
            return []
        paths = []
        for k, r in enumerate(self.chunks):
            preds = self.render_chunk_members(k, self.grid).cpu()  # (Mk, *grid, C) in [0, 1]
            paths += [self.write_signal(preds[j], folder / str(self.members[m].id)) for j, m in enumerate(r)]
        return paths

    def member_rows(self) -> list[dict[str, Any]]:
        """One row per member: its spec (id, image, seed, lr, swept values) and every metric it was scored on."""
        out = []
        for i, m in enumerate(self.members):
            row = m.row()
            for stage_rows in self.member_metrics.values():
                row.update(stage_rows[i])
            out.append(row)
        return out

    # ---- media -----------------------------------------------------------------------------------
    def grid_cols(self) -> int:
        return max(1, math.ceil(math.sqrt(self.n_members)))

    def panel_images(self) -> dict[str, torch.Tensor]:
        """The members' renders and their signals, each as one grid of pictures (a montage of all reconstructions)."""
        clean = torch.stack([self.member_picture(x) for x in self.clean_images])  # (M, h, w, C)
        pred = self.last_render if self.last_render is not None else torch.zeros_like(clean)
        return {"prediction": tile(pred, self.grid_cols()), "ground truth": tile(clean, self.grid_cols())}

    def panel_captions(self) -> dict[str, str]:
        psnr = self.trainer.callback_metrics.get(f"{'test' if self.trainer.testing else 'val'}/psnr")
        return {} if psnr is None else {"prediction": f"mean {float(psnr):.2f} dB of {self.n_members}"}

    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        """Every member rendered, as one grid at most about `max_size` pixels wide -> (h, w, C): images rendered
        small, other signals on their own grid, as their pictures."""
        shape = self.grid
        if len(shape) == 2:
            s = min(1.0, max_size / (self.grid_cols() * max(shape)))
            shape = tuple(max(1, round(n * s)) for n in shape)
        renders = torch.cat([self.render_chunk_members(k, shape).cpu() for k in range(len(self.chunks))])
        frames = renders if len(shape) == 2 else torch.stack([self.picture(x) for x in renders])
        return tile(frames, self.grid_cols())

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"nfields_image_shape": list(self.image_shape), "nfields_members": [m.row() for m in self.members]}
