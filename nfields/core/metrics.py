"""Metrics of grid signals in [0, 1] (any dimension d): PSNR and SSIM (torchmetrics), also scored slab by slab.

`GridScore` accumulates PSNR on named cell sets and SSIM over slabs along array axis 0 (an image: bands of rows;
a video: groups of frames; audio: ranges of samples; a volume: groups of slices), so a huge signal can be
rendered, scored and dropped one slab at a time (the lit module's banded evaluation): memory is bounded by the
slab, not the signal. Scoring the whole signal as one slab is the same computation.

PSNR is 10 log10(peak^2 / MSE) over every value scored, with peak 1: every domain's values are in [0, 1] (the
data layer maps audio's [-1, 1] onto [0, 1], so audio's peak is 2 in the file's [-1, 1] units). SSIM is the
images' (2-D grids) and, per frame, the videos' (`frames=True`); other grids report no SSIM key at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

# Pixels scored at a time: torchmetrics' SSIM holds about 60 float maps of its input's size
# (0.8 GB for 1M RGB pixels), so bands of 2^18 pixels keep it near 0.2 GB at any image size.
BAND_PIXELS = 1 << 18
# SSIM's bands of a frame (video) or an image scored alone (ssim()): torchmetrics holds ~60 float maps of its input,
# so 2^16 pixels x 3 channels is ~47 MB at once where 2^18 was ~190 MB (the sum over bands is the same map's).
SSIM_BAND_PIXELS = 1 << 16


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB for tensors of any equal shape in [0, 1]."""
    return float(peak_signal_noise_ratio(pred.float(), target.float(), data_range=1.0))


def ssim_window(h: int, w: int) -> tuple[int, float] | None:
    """SSIM's Gaussian window (kernel size, sigma) for an h x w image: 11 and 1.5, shrunk to fit
    smaller images; None when the image is too small for any window (SSIM is then NaN)."""
    k = min(11, min(h, w) // 2 * 2 - 1)  # odd, fits in the image
    return (k, 1.5 * k / 11) if k >= 3 else None


def ssim_pad(*shape: int, frames: bool = False) -> int:
    """Cells of context along array axis 0 that SSIM reads beyond a slab of a grid of `shape`: half its Gaussian
    window (as torchmetrics builds it) for a 2-D image, ssim_pad(h, w); 0 for every other grid (a video's SSIM is
    per frame, `frames=True`, so frames need no neighbours; audio and volumes have no SSIM)."""
    if len(shape) != 2 or frames:
        return 0
    window = ssim_window(*shape)
    return int(3.5 * window[1] + 0.5) if window else 0


def slab_cells(shape: Sequence[int], band_pixels: int = BAND_PIXELS) -> int:
    """Cells along array axis 0 per slab of a grid of `shape` holding about `band_pixels` cells (at least 1):
    an (H, W) image's rows, band_pixels // W; a video's frames, band_pixels // (H * W); audio's samples."""
    return max(1, band_pixels // math.prod(int(n) for n in shape[1:]))


def row_bands(h: int, rows: int, pad: int) -> Iterator[tuple[int, int, int, int]]:
    """Slabs of `rows` cells over the h cells of array axis 0 (an image's rows, a video's frames, audio's
    samples, a volume's slices) -> (r0, r1, lo, hi): the slab's cells [r0, r1) and the cells [lo, hi) to read
    for them, with `pad` cells of context on each side where the grid has them (ssim_pad: 2-D only)."""
    for r0 in range(0, h, max(1, rows)):
        r1 = min(r0 + max(1, rows), h)
        yield r0, r1, max(0, r0 - pad), min(h, r1 + pad)


def ssim_rows_sum(p: torch.Tensor, t: torch.Tensor, own: slice, window: tuple[int, float]) -> float:
    """The sum of the SSIM map over rows `own` of p, t (B, C, rows, W), given with their context rows.

    torchmetrics reflects the input at its borders; a band that reads `ssim_pad` rows of real context
    beyond its own rows has exactly the whole image's map on its own rows (the band's artificial
    borders only touch the context rows, which are dropped)."""
    k, sigma = window
    _, ssim_map = structural_similarity_index_measure(
        p, t, data_range=1.0, kernel_size=k, sigma=sigma, return_full_image=True
    )  # (B, C, rows, W)
    return float(ssim_map[..., own, :].double().sum())


def ssim_sum(p: torch.Tensor, t: torch.Tensor, window: tuple[int, float], band_pixels: int = SSIM_BAND_PIXELS) -> float:
    """The sum of the SSIM maps of images p, t (B, C, H, W), computed in bands of about `band_pixels` pixels."""
    b, _, h, w = p.shape
    rows, total = max(1, band_pixels // (b * w)), 0.0
    for r0, r1, lo, hi in row_bands(h, rows, ssim_pad(h, w)):
        total += ssim_rows_sum(p[..., lo:hi, :], t[..., lo:hi, :], slice(r0 - lo, r1 - lo), window)
    return total


def ssim(pred: torch.Tensor, target: torch.Tensor, band_pixels: int = SSIM_BAND_PIXELS) -> float:
    """SSIM of (H, W, C) images, or the mean SSIM of batches (B, H, W, C).

    Gaussian window 11, sigma 1.5; images smaller than that shrink the window. Large images
    are scored in bands of rows (about `band_pixels` pixels each, the same result): torchmetrics
    holds about 60 float maps of its input at once.
    """
    p = pred.float().reshape(-1, *pred.shape[-3:]).permute(0, 3, 1, 2)  # (B, C, H, W)
    t = target.float().reshape(-1, *target.shape[-3:]).permute(0, 3, 1, 2)
    b, c, h, w = p.shape
    window = ssim_window(h, w)
    if window is None:
        return float("nan")
    return ssim_sum(p, t, window, band_pixels) / (b * c * h * w)


class GridScore:
    """Metrics of one grid signal (*shape, C) accumulated over slabs along array axis 0.

    shape: the grid's shape without C. frames: axis 0 is time and each (*shape[1:]) cross-section a frame (a
    video (T, H, W) is a 3-D grid like a volume (D, H, W): the caller says which). SSIM is reported for a 2-D
    grid (an image: its SSIM, read with `pad` context rows around each band) and for frames that are 2-D (a
    video: the mean over frames of each frame's SSIM, no context across frames); other grids (audio, volumes)
    have no "ssim" key. A grid too small for any SSIM window reports NaN, as images always have.

    `add_psnr(name, pred, target)` adds values to the set `name` (PSNR over all of them at the end);
    `add_ssim(pred, target, own)` adds the SSIM of cells `own` (along axis 0) of a slab given with its context.
    """

    def __init__(self, shape: Sequence[int], frames: bool = False, extra: Sequence[str] = ()) -> None:
        self.shape, self.frames = tuple(int(n) for n in shape), bool(frames)
        # Scores of a domain beside PSNR, on the same cells as "psnr": "iou" (occupancy: both sides thresholded at
        # 0.5), "snr" (audio: signal over error in dB, with the [0, 1] values taken back to [-1, 1]).
        self.extra = {k: [0.0, 0.0] for k in extra}
        frame = self.shape[1:] if self.frames else self.shape  # what one SSIM is computed over
        self.has_ssim = len(frame) == 2
        self.window = ssim_window(*frame) if self.has_ssim else None
        self.pad = ssim_pad(*self.shape, frames=self.frames)  # context cells each side of a slab, along axis 0
        self.ssim_sum, self.ssim_n = 0.0, 0
        self.sse: dict[str, list[float]] = {}  # name -> [sum of squared errors, number of values]

    def add_psnr(self, name: str, pred: torch.Tensor, target: torch.Tensor) -> None:
        acc = self.sse.setdefault(name, [0.0, 0])
        err = float(((pred.float() - target.float()) ** 2).sum(dtype=torch.float64))
        acc[0] += err
        acc[1] += pred.numel()
        if name != "psnr":
            return
        if "iou" in self.extra:  # [intersection, union] of the occupied cells
            p, t = pred >= 0.5, target >= 0.5
            self.extra["iou"][0] += float((p & t).sum())
            self.extra["iou"][1] += float((p | t).sum())
        if "snr" in self.extra:  # [signal energy, error energy] in [-1, 1] units: x -> 2x - 1, errors x 2
            self.extra["snr"][0] += float(((2 * target.double() - 1) ** 2).sum())
            self.extra["snr"][1] += 4 * err

    def add_ssim(self, pred: torch.Tensor, target: torch.Tensor, own: slice) -> None:
        """pred, target (cells, *shape[1:], C): a slab's cells along axis 0 and their context; `own` selects the
        slab's own cells. A no-op for a grid without SSIM."""
        if not self.has_ssim:
            return
        if self.frames:  # (frames, H, W, C): each frame's SSIM map, summed; equal frames -> the mean over frames
            p, t = (x[own].float().permute(0, 3, 1, 2) for x in (pred, target))  # (F, C, H, W)
            self.ssim_n += p.numel()
            if self.window is not None:
                group = slab_cells(self.shape, SSIM_BAND_PIXELS)  # frames per call: about SSIM_BAND_PIXELS pixels
                for f0 in range(0, p.shape[0], group):
                    self.ssim_sum += ssim_sum(p[f0 : f0 + group], t[f0 : f0 + group], self.window)
            return
        p, t = (x.float().permute(2, 0, 1)[None] for x in (pred, target))  # (1, C, rows, W)
        n = p.shape[1] * len(range(*own.indices(p.shape[2]))) * self.shape[1]
        if self.window is not None:
            self.ssim_sum += ssim_rows_sum(p, t, own, self.window)
        self.ssim_n += n

    def result(self) -> dict[str, float]:
        out = {}
        if self.has_ssim:
            out["ssim"] = self.ssim_sum / self.ssim_n if self.window is not None and self.ssim_n else float("nan")
        for name, (sse, n) in self.sse.items():
            out[name] = float("nan") if n == 0 else 10 * math.log10(n / sse) if sse > 0 else float("inf")
        if "iou" in self.extra:
            inter, union = self.extra["iou"]
            out["iou"] = inter / union if union else 1.0  # nothing occupied on either side: a perfect match
        if "snr" in self.extra:
            signal, noise = self.extra["snr"]
            out["snr"] = 10 * math.log10(signal / noise) if noise > 0 and signal > 0 else float("inf")
        return out


class ImageScore(GridScore):
    """The GridScore of an (H, W) image (the 2-D callers' name)."""

    def __init__(self, h: int, w: int) -> None:
        super().__init__((h, w))
        self.h, self.w = h, w


# The tasks' baselines (<stage>/psnr_<name>, tasks/base.py), as the closing line and the panel captions name them.
BASELINES = {
    "bicubic": "bicubic",
    "linear": "linear",
    "trilinear": "trilinear",
    "noisy": "noisy",
    "mean_image": "mean image",
}


def baseline_psnrs(metrics: Mapping[str, Any], stage: str) -> list[str]:
    """['bicubic 27.10 dB'] for each baseline PSNR of `stage` in `metrics` (floats or 0-d tensors)."""
    return [
        f"{name} {float(metrics[k]):.2f} dB" for b, name in BASELINES.items() if (k := f"{stage}/psnr_{b}") in metrics
    ]
