"""Task interface: observe(signal) -> Observation; loss(field_fn, obs); evaluate(pred, clean, obs, stage) -> metrics.

A task sees a clean grid signal (*shape, C) of any dimension d (audio (T, C), image (H, W, C), video
(T, H, W, C), volume (D, H, W, C)) and returns what the model may train on: an `Observation`
(tasks/observation.py), the one type for observed values. It carries each observation's value, where it was
taken and what the field is measured over (the footprint), so the task's forward model reads everything it
needs from the observation it is given, never from state of an earlier call; plus the observation as a signal
for display and the masks scored at validation and test. Evaluation compares a full-resolution render against
the clean signal on the cells the task scores (all cells when nothing is held out).

Validation and test are scored on *disjoint* cell sets (`val_mask`, `eval_mask`) whenever the task has a
target the model never sees, so sweeps that select on val/* never look at the test cells. See docs/tasks.md.

The API is per signal: a collection module calls `task.observe(signal, key=i)` for signal i (key seeds its
private noise/mask) and `task.evaluate(pred, clean, obs, stage)` on each rendered signal. For a given shape,
N (observed cells) is the same for every signal and key, so observations of a collection stack
(`Observation.stack`: (B, N, d) / (B, N, C)).

`task.axes` (interpolate, superres): the array axes a task acts on, a list of distinct integers in 0..d-1, or
null for every axis (the image behaviour). Defaults for the data configs: audio [0] (samples), video [0] for
interpolate (time only: train on the even frames, score the odd ones, i.e. frame-rate up-conversion), volume
null (every axis); superres on video: [1, 2] for spatial super-resolution, null for space and time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from nfields.core.checks import Check, check_arg, integer, is_int, nullable
from nfields.core.errors import ConfigError
from nfields.core.media import as_float
from nfields.core.metrics import GridScore
from nfields.tasks.observation import Index, Observation, split_mask

__all__ = ["AXES", "Band", "FieldFn", "Index", "Observation", "Task", "grid_axes", "size", "split_mask"]

FieldFn = Callable[[torch.Tensor], torch.Tensor]  # coords (..., M, d) -> values (..., M, C)
Band = tuple[int, int, int]  # (r0, r1, lo): cells [r0, r1) along axis 0, given as cells from lo (with context)


def _axes_ok(v: Any) -> bool:
    return (
        isinstance(v, Sequence)
        and not isinstance(v, str)
        and len(v) > 0
        and all(is_int(a) and a >= 0 for a in v)
        and len(set(v)) == len(v)
    )


# task.axes: which array axes a task acts on; null = every axis
AXES = nullable(Check(_axes_ok, "a non-empty list of distinct array axes (integers >= 0)"))


def grid_axes(axes: Sequence[int] | None, shape: Sequence[int]) -> tuple[int, ...]:
    """task.axes for a grid of `shape` -> the sorted array axes (None: every axis); one-line ConfigError when an
    axis is not one of the grid's (the check of the key itself is AXES, when the task is built)."""
    d = len(shape)
    if axes is None:
        return tuple(range(d))
    bad = [a for a in axes if a >= d]
    if bad:
        raise ConfigError(
            "task.axes",
            list(axes),
            f"axis {bad[0]} is not an axis of a {d}-D signal of shape {size(shape)}; use axes in 0..{d - 1}, or null",
        )
    return tuple(sorted(int(a) for a in axes))


def size(shape: Sequence[int]) -> str:
    """(20, 18) -> '20x18', as messages write a grid's shape."""
    return "x".join(str(int(n)) for n in shape)


def signal_noun(shape: Sequence[int]) -> tuple[str, str]:
    """What messages call the signal and its cells: ('image', 'pixel') in 2-D, ('signal', 'cell') otherwise."""
    return ("image", "pixel") if len(shape) == 2 else ("signal", "cell")


class Task:
    """What is observed of a grid signal (observe), how the field is measured against it (forward_model, loss)
    and what is scored (evaluate). Subclasses: fit, interpolate, superres, denoise, inpaint."""

    name = "task"
    # True: observe() only selects cells, so an 8-bit signal may be passed as uint8 levels (values and display
    # stay uint8: nothing signal-sized in float; the modules store them compactly). False, the default: the
    # task gets floats in [0, 1], as a task that computes with values (noise, block means) must.
    accepts_uint8 = False

    def __init__(self, seed: int = 0) -> None:
        check_arg("task.seed", seed, integer(lo=0, hi=2**32 - 1))
        self.seed = seed

    def generator(self, key: int = 0) -> torch.Generator:
        """A private, seeded RNG (per signal `key`) so observations do not depend on global RNG state."""
        return torch.Generator().manual_seed(int(self.seed) * 1_000_003 + int(key))

    def observe(self, signal: torch.Tensor, key: int = 0) -> Observation:
        """The clean signal (*shape, C) -> what the model may train on; `key` seeds per-signal randomness."""
        raise NotImplementedError

    # ---- the training objective: what single-signal training, collection training and TTO all call ----
    def forward_model(self, field_fn: FieldFn, obs: Observation) -> torch.Tensor:
        """What the field predicts for the observations `obs` (values (..., N, C)) -> (..., N, C).

        The identity here: an observation is the field at its point (obs.points() (..., N, d)). A task
        whose observations see a footprint overrides this (superres averages the field over each
        low-resolution cell's block). `field_fn` maps coordinates (..., M, d) to values (..., M, C)."""
        if obs.footprint is not None:
            raise ValueError(f"task={self.name}: the observations have a footprint; override forward_model to use it")
        return field_fn(obs.points())

    def loss(self, field_fn: FieldFn, obs: Observation, count: float | None = None) -> torch.Tensor:
        """Mean squared error between the forward model and the observed values (..., N, C) (float, [0, 1]).

        count: divide the sum of squared errors by count * C instead of taking the mean (a DDP rank's shard
        of a full batch divides by N / world_size: exact over ranks)."""
        err = (self.forward_model(field_fn, obs).float() - obs.values.float()).pow(2)  # (..., N, C)
        if count is not None:
            return err.sum() / (count * err.shape[-1])
        return err.mean()

    def evaluate(
        self,
        pred: torch.Tensor,
        clean: torch.Tensor,
        obs: Observation,
        stage: str = "test",
        frames: bool = False,
        extra: tuple[str, ...] = (),
    ) -> dict:
        """pred, clean (*shape, C) -> {'psnr', 'ssim', ...} for `stage` ('val' or 'test').

        psnr: on the stage's scored cells (all when the task holds none out); ssim (2-D grids, and videos:
        `frames=True` says axis 0 is time, GridScore): whole signal; psnr_all: whole signal (tasks that score a
        subset); psnr_<baseline>: the task's baselines on the same cells as psnr; `extra`: the domain's scores
        on the whole signal (GridScore's snr, iou).
        """
        score = GridScore(pred.shape[:-1], frames=frames, extra=extra)
        self.score_rows(score, pred.clamp(0, 1), clean, obs, stage, (0, pred.shape[0], 0))
        return score.result()

    def score_rows(
        self, score: GridScore, pred: torch.Tensor, clean: torch.Tensor, obs: Observation, stage: str, band: Band
    ) -> None:
        """Add a slab along array axis 0 to `score` (image: a band of rows; video: frames; audio: samples;
        volume: slices). band = (r0, r1, lo): pred, clean (cells, *shape[1:], C) in [0, 1] hold the signal's cells
        from `lo` along axis 0, i.e. [r0, r1) plus the context SSIM reads around them (score.pad each side:
        2-D only). The lit module streams a large signal through this, slab by slab."""
        r0, r1, lo = band
        own = slice(r0 - lo, r1 - lo)
        score.add_ssim(pred, clean, own)
        mask = obs.mask(stage)
        mask = mask[r0:r1].to(pred.device) if mask is not None else None

        def scored(x: torch.Tensor) -> torch.Tensor:  # (cells, *shape[1:], C) -> the stage's scored cells (M, C)
            return x if mask is None else x[mask]

        p, c = pred[own], clean[own]
        score.add_psnr("psnr", scored(p), scored(c))
        if mask is not None:
            score.add_psnr("psnr_all", p, c)
        for name, img in obs.baselines.items():
            score.add_psnr(f"psnr_{name}", scored(as_float(img[r0:r1].to(pred.device))), scored(c))
