"""Banded evaluation: render, score and keep an image band by band, so that memory beyond the stored image is
bounded by a band of about BAND_PIXELS pixels, not the image (an 8192^2 fit validates in a few hundred MB)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from nfields.core.media import quantize
from nfields.core.metrics import ImageScore, row_bands, ssim_pad
from nfields.fields.field import render
from nfields.tasks.base import Band

Rows = Callable[[int, int], torch.Tensor]  # (lo, hi) -> rows [lo, hi) of an image, (hi - lo, W, C)


def rendered_bands(
    field: Callable[[torch.Tensor], torch.Tensor],
    shape: tuple[int, ...],
    band_pixels: int,
    chunk: int,
    device: torch.device,
) -> Iterator[tuple[Band, torch.Tensor]]:
    """The field's render of an (H, W, C) image in bands -> ((r0, r1, lo), rows [lo, hi) in [0, 1]): each band's
    rows [r0, r1) plus the context rows SSIM reads around them. Every row is rendered once: the context shared
    with the previous band is kept, not rendered again."""
    h, w = shape[:2]
    kept, kept_lo = None, 0  # the previous band's rows [kept_lo, kept_lo + len)
    for r0, r1, lo, hi in row_bands(h, max(1, band_pixels // w), ssim_pad(h, w)):
        start = lo if kept is None else kept_lo + kept.shape[0]  # the first row not rendered yet
        if start < hi:
            new = render(field, h, w, chunk, device, rows=(start, hi)).float().clamp_(0, 1)
            kept = new if kept is None else torch.cat([kept[lo - kept_lo :], new])
        else:  # the previous band's context already reaches the last row
            kept = kept[lo - kept_lo :]
        kept_lo = lo
        yield (r0, r1, lo), kept


def evaluate_in_bands(
    bands: Iterator[tuple[Band, torch.Tensor]],
    shape: tuple[int, ...],
    clean_rows: Rows,
    score_rows: Callable[[ImageScore, torch.Tensor, torch.Tensor, Band], None],
) -> tuple[dict[str, float], torch.Tensor]:
    """Score each band against the same rows of the clean image -> (metrics, the render (H, W, C) as uint8 on
    the host, for panels and prediction.png). `score_rows(score, pred, clean, band)` adds a band's errors."""
    h, w, c = shape
    score = ImageScore(h, w)
    kept = torch.empty(h, w, c, dtype=torch.uint8)  # (H, W, C) host copy
    for (r0, r1, lo), pred in bands:
        score_rows(score, pred, clean_rows(lo, lo + pred.shape[0]), (r0, r1, lo))
        kept[r0:r1] = quantize(pred[r0 - lo : r1 - lo]).cpu()
    return score.result(), kept
