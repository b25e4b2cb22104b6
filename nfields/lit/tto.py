"""Test-time optimisation (TTO): fit fresh codes to unseen signals with the network frozen.

Images below stand for the signals of any grid (data/grid.py): a batch is (B, *grid, C), an image's (B, H, W, C),
an audio clip's (B, T, C), a video's (B, T, H, W, C); pixels are its cells.

Only the codes are optimised (Adam, model.tto_lr) on what is observed of each image,
with the source's L2 prior; each step uses `pixels` random observed points per image
(None = all, like data.pixels_per_image in training). What is observed is the images' stacked
`Observation` (tasks/base.py: the task's observations; default every pixel of the clean images), and
the loss is the task's own (task.loss), so superres fits block means through its box forward model.
PSNR against the clean images is measured along the way (on `score_mask`, default all
pixels), giving the PSNR-vs-step curve.

A source with its own inner loop (model.latent_source=meta) is not optimised with Adam: `meta_codes` runs its
meta-SGD steps from zero codes on the same task loss, each signal's own (`batch_loss`: their sum, whose gradient
row b is signal b's), in training and for unseen images (`meta_tto`, which measures the curve at META_STEPS).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from nfields.core.checks import check_arg, integer
from nfields.core.coords import cell_grid
from nfields.core.media import as_float
from nfields.fields.base import Field
from nfields.fields.field import conditioned
from nfields.fields.latents.meta import BatchLoss, MetaSource
from nfields.fields.latents.source import LatentSource
from nfields.tasks.base import Observation, Task


def every_pixel(images: torch.Tensor) -> Observation:
    """Every cell of signals (B, *grid, C) observed as it is -> their stacked Observation (B, N, ...), N cells."""
    b, grid, c = images.shape[0], images.shape[1:-1], images.shape[-1]
    coords = cell_grid(grid, device=images.device).reshape(1, -1, len(grid)).expand(b, -1, -1)  # (B, N, d)
    return Observation(images.reshape(b, -1, c), coords=coords, display=images)


@dataclass
class TTOResult:
    codes: torch.Tensor | None  # (B, code_dim) after optimisation; None for an unconditioned field
    pred: torch.Tensor  # (B, *grid, C) in [0, 1], decoded from the final codes
    psnr: torch.Tensor  # (B,) per-image PSNR on all pixels, final
    curve: list[tuple[int, float]]  # (step, mean PSNR over the batch)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters get no gradients inside the block (restored after): TTO cannot change the network."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(f)


def per_image_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, *grid, C) pairs in [0, 1], optional (B, *grid) bool mask of scored cells -> (B,) PSNR in dB."""
    err = (pred.clamp(0, 1) - target).pow(2)
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        m = mask.unsqueeze(-1).to(err.dtype)
        mse = (err * m).flatten(1).sum(1) / (m.flatten(1).sum(1) * err.shape[-1]).clamp_min(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


def decode(field: Field, codes: torch.Tensor | None, b: int, grid: tuple[int, ...]) -> torch.Tensor:
    """codes (B, code_dim) (None: unconditioned) -> signals (B, *grid, C) rendered on the grid's cells (an
    image's grid is (h, w))."""
    coords = cell_grid(grid, device=next(field.parameters()).device).reshape(-1, len(grid))  # (N, d)
    out = field(coords) if codes is None else field(coords, codes)  # (N, C) | (B, N, C)
    return out.float().reshape(-1, *grid, out.shape[-1]).expand(b, *([-1] * (len(grid) + 1)))


TTO_STEPS = (0, 1, 3, 10, 100)  # TTO steps at which evaluation reports PSNR (`<stage>/psnr_tto<k>`), when run


def optimize_codes(
    field: Field,
    source: LatentSource | None,
    task: Task,
    images: torch.Tensor,
    steps: int,
    lr: float = 1e-2,
    pixels: int | None = None,
    observed: Observation | None = None,
    score_mask: torch.Tensor | None = None,
    on_step: Callable[[], None] | None = None,
    at: Collection[int] | None = None,
) -> TTOResult:
    """images (B, *grid, C) clean, in [0, 1]; fit to `observed` (B images' stacked Observation, default: every
    pixel of the images) through the task's objective (task.loss: its forward model, e.g. superres's block means).

    `score_mask` (B, *grid) bool: the cells the curve and the final PSNR are measured on (None = all).
    `on_step`: called after each optimiser step (the test pass's progress bar).
    `at`: the steps the curve is measured at (each a render of every image); None: about 20 of them and TTO_STEPS.
    The last step is always measured (it is the result); a timing passes only it (scripts/meta_compare.py).
    """
    b, grid = images.shape[0], tuple(images.shape[1:-1])
    check_arg("model.tto_steps", steps, integer(lo=0))
    if source is None or field.cond is None:  # nothing to optimise: the field is the same for every image
        with torch.no_grad():
            pred = decode(field, None, b, grid)
        psnr = per_image_psnr(pred, images, score_mask)
        return TTOResult(None, pred, psnr, [(0, float(psnr.mean()))])
    obs = observed if observed is not None else every_pixel(images)
    n = obs.values.shape[1]
    if at is None:  # the curve at about 20 steps, the reported ones (TTO_STEPS) and the last
        at = {0, *range(0, steps + 1, max(1, steps // 20)), *(s for s in TTO_STEPS if s <= steps)}
    at, curve = {*at, steps}, []
    with frozen(field), frozen(source):
        codes = source.init_codes(obs.display).detach().clone().requires_grad_(True)  # (B, code_dim)
        opt = torch.optim.Adam([codes], lr=lr)
        for step in range(steps + 1):
            if step in at:  # the last (step == steps) is the result: the final codes, decoded once
                with torch.no_grad():
                    pred = decode(field, codes, b, grid)
                    psnr = per_image_psnr(pred, images, score_mask)
                curve.append((step, float(psnr.mean())))
            if step == steps:
                break
            batch = obs
            if pixels is not None and pixels < n:
                batch = obs.take(torch.randint(0, n, (b, pixels), device=images.device))  # (B, P) of each image
            loss = task.loss(conditioned(field, codes), batch) + source.regularization(codes)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step()
    return TTOResult(codes.detach(), pred, psnr, curve)


META_STEPS = (0, 1, 3, 10)  # inner steps at which meta evaluation reports PSNR (`<stage>/psnr_step<k>`)


def batch_loss(field: Field, task: Task, footprint: torch.Tensor | None) -> BatchLoss:
    """The sum over B signals of each one's task loss, as a function of their codes: (codes (B, code_dim),
    values (B, N, C), coords (B, N, d)) -> (), through the field's own weights. The same task.loss that training
    and TTO call, divided by one signal's N * C instead of the batch's (`count`: every signal has N points), so
    it is sum_b L_b with L_b signal b's mean (superres's footprint: the observations' own)."""

    def loss(codes: torch.Tensor, values: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        obs = Observation(values, coords=coords, footprint=footprint)  # (B, N, ...)
        return task.loss(conditioned(field, codes), obs, count=values.shape[-2])

    return loss


def meta_codes(
    field: Field,
    source: MetaSource,
    task: Task,
    obs: Observation,
    steps: int | None = None,
    keep: tuple[int, ...] = (),
    first_order: bool | None = None,
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Codes (B, code_dim) of B signals after the source's inner steps on their observations `obs` (B, N, ...):
    training keeps the graph to the field and the step sizes (second order unless model.first_order)."""
    data = (as_float(obs.values).float(), obs.points())  # values (B, N, C) float32 in [0, 1], coords (B, N, d)
    return source.adapt(batch_loss(field, task, obs.footprint), data, steps, first_order, keep)


def meta_tto(
    field: Field,
    source: MetaSource,
    task: Task,
    images: torch.Tensor,
    observed: Observation | None = None,
    score_mask: torch.Tensor | None = None,
) -> TTOResult:
    """Unseen signals (B, *grid, C): codes from zero by the source's inner steps on every observed point, first
    order (nothing is trained here; the network and step sizes are frozen), scored after inner_steps; the curve
    holds the PSNR after each of META_STEPS and inner_steps."""
    b, grid = images.shape[0], tuple(images.shape[1:-1])
    obs = observed if observed is not None else every_pixel(images)
    keep = sorted({*META_STEPS, source.inner_steps})
    with frozen(field), frozen(source), field.reusing():  # the inner passes share the code-independent part
        codes, kept = meta_codes(field, source, task, obs, keep[-1], tuple(keep), first_order=True)
        curve = []
        with torch.no_grad():
            for s in keep:
                curve.append((s, float(per_image_psnr(decode(field, kept[s], b, grid), images, score_mask).mean())))
            codes = kept[source.inner_steps]
            pred = decode(field, codes, b, grid)
    return TTOResult(codes, pred, per_image_psnr(pred, images, score_mask), curve)
