"""Task interface: observe(image) -> Observation; evaluate(pred, clean, obs, stage) -> metrics.

A task sees the clean image (H, W, C) and returns what the model may train on:
coordinates and values of the observed pixels, plus an image of the observation
for display. Evaluation compares a full-resolution render against the clean image
on the pixels the task scores (all pixels when nothing is held out).

Validation and test are scored on *disjoint* pixel sets (`val_mask`, `eval_mask`)
whenever the task has a target the model never sees, so sweeps that select on
val/* never look at the test pixels. See docs/tasks.md.

The API is per image: a collection module calls `task.observe(image, key=i)` for
image i (key seeds its private noise/mask) and `task.evaluate(pred, clean, obs, stage)`
on each rendered image. For a given image size, N (observed pixels) is the same for
every image and key, so observations of a collection stack into (B, N, 2) / (B, N, C).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from nfields.core.checks import check_arg, integer
from nfields.core.coords import flat_pixel_coords
from nfields.core.metrics import ImageScore

FieldFn = Callable[[torch.Tensor], torch.Tensor]  # coords (..., M, 2) -> colours (..., M, C)
Band = tuple[int, int, int]  # (r0, r1, lo): image rows [r0, r1), given as rows from lo (with context)


@dataclass
class Observation:
    coords: torch.Tensor | None  # (N, 2) coordinates of observed pixels; None: those of train_mask (points())
    values: torch.Tensor  # (N, C) their observed colours (uint8 levels when the task passes an 8-bit image on)
    display: torch.Tensor  # (h, w, C) the observation as an image, for panels
    eval_mask: torch.Tensor | None = None  # (H, W) bool: pixels scored by `test/*`; None = all
    val_mask: torch.Tensor | None = None  # (H, W) bool: pixels scored by `val/*`; None = same as eval_mask
    baselines: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (H, W, C): `<stage>/psnr_<name>`
    train_mask: torch.Tensor | None = None  # (H, W) bool: the observed pixels, when they lie on the pixel grid

    def points(self) -> torch.Tensor:
        """(N, 2) coordinates of the observed pixels, rebuilt from train_mask (row-major) when not stored:
        task=fit does not build the float grid of every pixel (0.5 GB at 8192^2) unless it is used."""
        if self.coords is not None:
            return self.coords
        h, w = self.train_mask.shape
        return flat_pixel_coords(self.train_mask.flatten().nonzero().squeeze(1), h, w)

    def mask(self, stage: str) -> torch.Tensor | None:
        """The (H, W) bool mask scored at `stage` ('val' or 'test'); None = every pixel."""
        return self.val_mask if stage == "val" and self.val_mask is not None else self.eval_mask


def split_mask(mask: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the True pixels of an (H, W) mask into two disjoint random halves -> (val, test).

    With fewer than two pixels both halves are the whole mask (nothing to split).
    """
    idx = mask.flatten().nonzero().squeeze(1)  # (M,)
    if idx.numel() < 2:
        return mask.clone(), mask.clone()
    idx = idx[torch.randperm(idx.numel(), generator=gen)]
    val, test = torch.zeros_like(mask).flatten(), torch.zeros_like(mask).flatten()
    val[idx[: idx.numel() // 2]] = True
    test[idx[idx.numel() // 2 :]] = True
    return val.view_as(mask), test.view_as(mask)


class Task:
    """What is observed of an image (observe), how the field is measured against it (forward_model, loss)
    and what is scored (evaluate). Subclasses: fit, interpolate, superres, denoise, inpaint."""

    name = "task"
    # observe() only selects pixels, so an 8-bit image may be passed as uint8 levels (values and display
    # stay uint8: nothing image-sized in float). Tasks that compute with colours set False and get floats.
    accepts_uint8 = True

    def __init__(self, seed: int = 0) -> None:
        check_arg("task.seed", seed, integer(lo=0, hi=2**32 - 1))
        self.seed = seed

    def generator(self, key: int = 0) -> torch.Generator:
        """A private, seeded RNG (per image `key`) so observations do not depend on global RNG state."""
        return torch.Generator().manual_seed(int(self.seed) * 1_000_003 + int(key))

    def observe(self, image: torch.Tensor, key: int = 0) -> Observation:
        """The clean image (H, W, C) -> what the model may train on; `key` seeds per-image randomness."""
        raise NotImplementedError

    # ---- the training objective: what single-image training, collection training and TTO all call ----
    def forward_model(self, field_fn: FieldFn, coords: torch.Tensor) -> torch.Tensor:
        """What the field predicts for the observations at `coords` (..., N, 2) -> (..., N, C).

        The identity here (a pixel observes the field at its centre); superres averages the field over each
        low-resolution pixel's footprint. `field_fn` maps coordinates (..., M, 2) to colours (..., M, C)."""
        return field_fn(coords)

    def loss(
        self,
        field_fn: FieldFn,
        coords: torch.Tensor,
        values: torch.Tensor,
        weight: torch.Tensor | None = None,
        count: float | None = None,
    ) -> torch.Tensor:
        """Mean squared error between the forward model at coords (..., N, 2) and the observed values (..., N, C).

        weight (..., N, 1) in {0, 1}: which points count, the mean taken per leading index (image) over its
        counted points and then over images. count: divide the sum of squared errors by count * C instead of
        taking the mean (a DDP rank's shard of a full batch divides by N / world_size: exact over ranks)."""
        err = (self.forward_model(field_fn, coords).float() - values.float()).pow(2)  # (..., N, C)
        if weight is not None:
            per = (err * weight).flatten(-2).sum(-1) / (weight.flatten(-2).sum(-1) * err.shape[-1]).clamp_min(1)
            return per.mean()
        if count is not None:
            return err.sum() / (count * err.shape[-1])
        return err.mean()

    def evaluate(self, pred: torch.Tensor, clean: torch.Tensor, obs: Observation, stage: str = "test") -> dict:
        """pred, clean (H, W, C) -> {'ssim', 'psnr', ...} for `stage` ('val' or 'test').

        psnr: on the stage's scored pixels (all when the task holds none out); ssim: whole image;
        psnr_all: whole image (tasks that score a subset); psnr_<baseline>: the task's baselines
        on the same pixels as psnr.
        """
        score = ImageScore(*pred.shape[:2])
        self.score_rows(score, pred.clamp(0, 1), clean, obs, stage, (0, pred.shape[0], 0))
        return score.result()

    def score_rows(
        self, score: ImageScore, pred: torch.Tensor, clean: torch.Tensor, obs: Observation, stage: str, band: Band
    ) -> None:
        """Add a band of rows to `score`. band = (r0, r1, lo): pred, clean (rows, W, C) in [0, 1] hold the
        image's rows from `lo`, i.e. rows [r0, r1) plus the context rows SSIM reads around them
        (FieldModule.evaluate streams a large image through this, band by band)."""
        r0, r1, lo = band
        own = slice(r0 - lo, r1 - lo)
        score.add_ssim(pred, clean, own)
        mask = obs.mask(stage)
        mask = mask[r0:r1].to(pred.device) if mask is not None else None

        def scored(x: torch.Tensor) -> torch.Tensor:  # (rows, W, C) -> the stage's scored pixels (M, C)
            return x if mask is None else x[mask]

        p, c = pred[own], clean[own]
        score.add_psnr("psnr", scored(p), scored(c))
        if mask is not None:
            score.add_psnr("psnr_all", p, c)
        for name, img in obs.baselines.items():
            score.add_psnr(f"psnr_{name}", scored(img[r0:r1].to(pred.device)), scored(c))
