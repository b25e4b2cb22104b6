"""Task interface: observe(image) -> Observation; loss(field_fn, obs); evaluate(pred, clean, obs, stage) -> metrics.

A task sees the clean image (H, W, C) and returns what the model may train on: an
`Observation`, the one type for observed pixels. It carries each observation's value, where
it was taken and what the field is measured over (the footprint), so the task's forward model
reads everything it needs from the observation it is given, never from state of an earlier call;
plus an image of the observation for display and the masks scored at validation and test.
Evaluation compares a full-resolution render against the clean image on the pixels the task
scores (all pixels when nothing is held out).

Validation and test are scored on *disjoint* pixel sets (`val_mask`, `eval_mask`)
whenever the task has a target the model never sees, so sweeps that select on
val/* never look at the test pixels. See docs/tasks.md.

The API is per image: a collection module calls `task.observe(image, key=i)` for
image i (key seeds its private noise/mask) and `task.evaluate(pred, clean, obs, stage)`
on each rendered image. For a given image size, N (observed pixels) is the same for
every image and key, so observations of a collection stack (`Observation.stack`: (B, N, 2) / (B, N, C)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from nfields.core.checks import check_arg, integer
from nfields.core.coords import flat_pixel_coords
from nfields.core.metrics import ImageScore

FieldFn = Callable[[torch.Tensor], torch.Tensor]  # coords (..., M, 2) -> colours (..., M, C)
Band = tuple[int, int, int]  # (r0, r1, lo): image rows [r0, r1), given as rows from lo (with context)
Index = torch.Tensor | slice  # which observations: (B,) indices, or a slice


@dataclass
class Observation:
    """N observations of an image (or, stacked, of B images: a leading (B,) dim on values, coords, display).

    Observation i has the value values[i] and was taken at a point, in this order:
      coords[i]                          when coords is given (any point: superres's block centres), else
      the i-th True pixel of train_mask  in row-major order (the order of `image[train_mask]`): the
                                         observations are pixels of the grid and their coordinates are
                                         implied (`points()`), so storage may keep pixel indices or nothing.
    The field is measured at each point plus each offset of `footprint` (K, 2), combined by the task's
    forward model (superres: the mean over the f^2 full-resolution pixel centres of a block); no footprint:
    at the point itself. A subset (`take`: a training batch) is measured exactly as the whole.
    """

    values: torch.Tensor  # (..., N, C) observed values: float, or uint8 levels for a task that accepts_uint8
    coords: torch.Tensor | None = None  # (..., N, 2) where each was taken; None: implied by train_mask
    train_mask: torch.Tensor | None = None  # (H, W) bool: the observed pixels, when they lie on the pixel grid
    footprint: torch.Tensor | None = None  # (K, 2) offsets from a point that its observation sees; None: the point
    display: torch.Tensor | None = None  # (..., H, W, C) the observation as an image: panels, the encoder's input
    eval_mask: torch.Tensor | None = None  # (H, W) bool: pixels scored by `test/*`; None = all
    val_mask: torch.Tensor | None = None  # (H, W) bool: pixels scored by `val/*`; None = same as eval_mask
    baselines: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (H, W, C): `<stage>/psnr_<name>`

    def points(self) -> torch.Tensor:
        """(..., N, 2) coordinates of the observations, rebuilt from train_mask (row-major) when not stored:
        task=fit does not build the float grid of every pixel (0.5 GB at 8192^2) unless it is used."""
        if self.coords is not None:
            return self.coords
        if self.train_mask is None:
            raise ValueError("this Observation has no points: give coords (N, 2) or train_mask (H, W)")
        h, w = self.train_mask.shape
        return flat_pixel_coords(self.train_mask.flatten().nonzero().squeeze(1), h, w)

    def take(self, idx: Index) -> Observation:
        """A subset, measured with the same footprint (a training batch; coords stored, values float):
        observations idx (P,) (or a slice) of one image, or idx (B, P) of each of B stacked images."""
        values, coords = self.values, self.points()
        if values.dim() == 3 and isinstance(idx, torch.Tensor):  # stacked: P of each image's own N
            pick = idx.unsqueeze(-1)  # (B, P, 1)
            coords = torch.gather(coords.expand(values.shape[0], -1, -1), 1, pick.expand(-1, -1, 2))
            values = torch.gather(values, 1, pick.expand(-1, -1, values.shape[-1]))
        else:
            values, coords = values[..., idx, :], coords[..., idx, :]
        values = values.float() / 255 if values.dtype == torch.uint8 else values
        return Observation(values, coords=coords, footprint=self.footprint)

    def for_scoring(self) -> Observation:
        """A copy without the observations themselves (values, coords): what evaluate() reads (masks,
        baselines) and the display, for a module whose storage holds the observed values on its device."""
        return replace(self, values=self.values[..., :0, :], coords=None)

    def clone(self) -> Observation:
        """A copy whose tensors are clones (under inference mode: normal tensors that autograd may save)."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        fields = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in fields.items()}
        fields["baselines"] = {k: v.clone() for k, v in self.baselines.items()}
        return Observation(**fields)

    def mask(self, stage: str) -> torch.Tensor | None:
        """The (H, W) bool mask scored at `stage` ('val' or 'test'); None = every pixel."""
        return self.val_mask if stage == "val" and self.val_mask is not None else self.eval_mask

    @staticmethod
    def stack(each: list[Observation]) -> Observation:
        """The observations of B images of one size -> one of (B, N, ...): values, coords, display.
        Masks and baselines stay with each image's own Observation (evaluate reads them per image)."""
        first = each[0].footprint
        for o in each[1:]:
            same = (o.footprint is None) == (first is None) and (first is None or torch.equal(o.footprint, first))
            if not same:
                raise ValueError("observations of different footprints do not stack: the images must share one size")
        display = torch.stack([o.display for o in each]) if each[0].display is not None else None
        return Observation(
            torch.stack([o.values for o in each]),
            coords=torch.stack([o.points() for o in each]),
            footprint=first,
            display=display,
        )


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
    # True: observe() only selects pixels, so an 8-bit image may be passed as uint8 levels (values and display
    # stay uint8: nothing image-sized in float; the modules store them compactly). False, the default: the
    # task gets floats in [0, 1], as a task that computes with colours (noise, block means) must.
    accepts_uint8 = False

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
    def forward_model(self, field_fn: FieldFn, obs: Observation) -> torch.Tensor:
        """What the field predicts for the observations `obs` (values (..., N, C)) -> (..., N, C).

        The identity here: an observation is the field at its point (obs.points() (..., N, 2)). A task
        whose observations see a footprint overrides this (superres averages the field over each
        low-resolution pixel's block). `field_fn` maps coordinates (..., M, 2) to colours (..., M, C)."""
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
