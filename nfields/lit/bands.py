"""Evaluation in slabs: render, score and keep a signal slab by slab along array axis 0 (an image's rows, a
video's frames, audio's samples, a volume's slices), so that memory beyond the stored signal is bounded by a
slab of about BAND_PIXELS cells, not the signal (an 8192^2 fit validates in a few hundred MB)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from nfields.core.media import quantize
from nfields.core.metrics import GridScore, row_bands, slab_cells
from nfields.fields.field import render_grid
from nfields.tasks.base import Band

Rows = Callable[[int, int], torch.Tensor]  # (lo, hi) -> cells [lo, hi) of axis 0 of a signal, (hi - lo, ..., C)


def rendered_bands(
    field: Callable[[torch.Tensor], torch.Tensor],
    shape: tuple[int, ...],
    band_pixels: int,
    chunk: int,
    device: torch.device,
    pad: int,
) -> Iterator[tuple[Band, torch.Tensor]]:
    """The field's render of a signal (*grid, C) in slabs -> ((r0, r1, lo), cells [lo, hi) of axis 0 in [0, 1]):
    each slab's cells [r0, r1) plus `pad` context cells each side (what an image's SSIM reads). Every cell is
    rendered once: the context shared with the previous slab is kept, not rendered again."""
    grid = shape[:-1]
    kept, kept_lo = None, 0  # the previous slab's cells [kept_lo, kept_lo + len)
    for r0, r1, lo, hi in row_bands(grid[0], slab_cells(grid, band_pixels), pad):
        start = lo if kept is None else kept_lo + kept.shape[0]  # the first cell not rendered yet
        if start < hi:
            new = render_grid(field, grid, chunk, device, rows=(start, hi)).float().clamp_(0, 1)
            kept = new if kept is None else torch.cat([kept[lo - kept_lo :], new])
        else:  # the previous slab's context already reaches the last cell
            kept = kept[lo - kept_lo :]
        kept_lo = lo
        yield (r0, r1, lo), kept


def evaluate_in_bands(
    bands: Iterator[tuple[Band, torch.Tensor]],
    shape: tuple[int, ...],
    score: GridScore,
    clean_rows: Rows,
    score_rows: Callable[[GridScore, torch.Tensor, torch.Tensor, Band], None],
    keep: Sequence[int] | None = None,
) -> tuple[dict[str, float], torch.Tensor]:
    """Score each slab against the same cells of the clean signal -> (metrics, the render as uint8 on the host:
    (*grid, C), or only the indices `keep` of axis 0 (len(keep), *grid[1:], C): what a video's panel shows, not a
    second copy of the clip). `score_rows(score, pred, clean, band)` adds a slab's errors."""
    rows = torch.arange(shape[0]) if keep is None else torch.as_tensor(list(keep), dtype=torch.long)
    kept = torch.empty((len(rows), *shape[1:]), dtype=torch.uint8)  # the host copy of the kept rows
    for (r0, r1, lo), pred in bands:
        score_rows(score, pred, clean_rows(lo, lo + pred.shape[0]), (r0, r1, lo))
        inside = ((rows >= r0) & (rows < r1)).nonzero().squeeze(1)  # which kept rows this slab holds
        if keep is None:
            kept[r0:r1] = quantize(pred[r0 - lo : r1 - lo]).cpu()
        elif inside.numel():
            kept[inside] = quantize(pred[rows[inside] - lo]).cpu()
    return score.result(), kept


def render_slabs(
    field: Callable[[torch.Tensor], torch.Tensor], grid: tuple[int, ...], cells: int, chunk: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """The field's render of a grid, slab by slab along axis 0 (about `cells` cells each) -> float32 slabs in
    [0, 1] on the host: a large signal's media are written from these, never from a whole render (a writer that
    stores 8 bits, a video's, quantises each slab; audio keeps the float samples: 8 bits would cap its SNR)."""
    for r0, r1, _, _ in row_bands(grid[0], slab_cells(grid, cells), 0):
        yield render_grid(field, grid, chunk, device, rows=(r0, r1)).float().clamp_(0, 1).cpu()
