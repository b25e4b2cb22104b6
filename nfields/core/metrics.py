"""Image metrics on images in [0, 1]: PSNR and SSIM (torchmetrics), also scored band by band.

`ImageScore` accumulates PSNR on named pixel sets and SSIM over bands of rows, so a huge image
can be rendered, scored and dropped one band at a time (FieldModule.evaluate): memory is bounded
by the band, not the image. Scoring the whole image as one band is the same computation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

# Pixels scored at a time: torchmetrics' SSIM holds about 60 float maps of its input's size
# (0.8 GB for 1M RGB pixels), so bands of 2^18 pixels keep it near 0.2 GB at any image size.
BAND_PIXELS = 1 << 18


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB for tensors of any equal shape in [0, 1]."""
    return float(peak_signal_noise_ratio(pred.float(), target.float(), data_range=1.0))


def ssim_window(h: int, w: int) -> tuple[int, float] | None:
    """SSIM's Gaussian window (kernel size, sigma) for an h x w image: 11 and 1.5, shrunk to fit
    smaller images; None when the image is too small for any window (SSIM is then NaN)."""
    k = min(11, min(h, w) // 2 * 2 - 1)  # odd, fits in the image
    return (k, 1.5 * k / 11) if k >= 3 else None


def ssim_pad(h: int, w: int) -> int:
    """Rows of context SSIM reads beyond a band (half its Gaussian window, as torchmetrics builds it)."""
    window = ssim_window(h, w)
    return int(3.5 * window[1] + 0.5) if window else 0


def row_bands(h: int, rows: int, pad: int) -> Iterator[tuple[int, int, int, int]]:
    """Bands of `rows` rows over h rows -> (r0, r1, lo, hi): the band's rows [r0, r1) and the rows
    [lo, hi) to read for them, with `pad` rows of context on each side where the image has them."""
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


def ssim(pred: torch.Tensor, target: torch.Tensor, band_pixels: int = BAND_PIXELS) -> float:
    """SSIM of (H, W, C) images, or the mean SSIM of batches (B, H, W, C).

    Gaussian window 11, sigma 1.5; images smaller than that shrink the window. Large images
    are scored in bands of rows (about `band_pixels` pixels each, the same result): torchmetrics
    holds about 60 float maps of its input at once (measured: 0.8 GB for 1M RGB pixels).
    """
    p = pred.float().reshape(-1, *pred.shape[-3:]).permute(0, 3, 1, 2)  # (B, C, H, W)
    t = target.float().reshape(-1, *target.shape[-3:]).permute(0, 3, 1, 2)
    b, c, h, w = p.shape
    window = ssim_window(h, w)
    if window is None:
        return float("nan")
    rows, total = max(1, band_pixels // (b * w)), 0.0
    for r0, r1, lo, hi in row_bands(h, rows, ssim_pad(h, w)):
        total += ssim_rows_sum(p[..., lo:hi, :], t[..., lo:hi, :], slice(r0 - lo, r1 - lo), window)
    return total / (b * c * h * w)


class ImageScore:
    """Metrics of one (H, W, C) image accumulated over bands of rows.

    `add_psnr(name, pred, target)` adds pixels to the set `name` (PSNR over all of them at the end);
    `add_ssim(pred, target, own)` adds the SSIM map of rows `own` of a band given with its context.
    """

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.window = ssim_window(h, w)
        self.ssim_sum, self.ssim_n = 0.0, 0
        self.sse: dict[str, list[float]] = {}  # name -> [sum of squared errors, number of values]

    def add_psnr(self, name: str, pred: torch.Tensor, target: torch.Tensor) -> None:
        acc = self.sse.setdefault(name, [0.0, 0])
        acc[0] += float(((pred.float() - target.float()) ** 2).sum(dtype=torch.float64))
        acc[1] += pred.numel()

    def add_ssim(self, pred: torch.Tensor, target: torch.Tensor, own: slice) -> None:
        """pred, target (rows, W, C): a band's rows and their context; `own` selects the band's rows."""
        p, t = (x.float().permute(2, 0, 1)[None] for x in (pred, target))  # (1, C, rows, W)
        n = p.shape[1] * len(range(*own.indices(p.shape[2]))) * self.w
        if self.window is not None:
            self.ssim_sum += ssim_rows_sum(p, t, own, self.window)
        self.ssim_n += n

    def result(self) -> dict[str, float]:
        out = {"ssim": self.ssim_sum / self.ssim_n if self.window is not None and self.ssim_n else float("nan")}
        for name, (sse, n) in self.sse.items():
            out[name] = float("nan") if n == 0 else 10 * math.log10(n / sse) if sse > 0 else float("inf")
        return out


# The tasks' baselines (<stage>/psnr_<name>, tasks/base.py), as the closing line and the panel captions name them.
BASELINES = {"bicubic": "bicubic", "noisy": "noisy", "mean_image": "mean image"}


def baseline_psnrs(metrics: Mapping[str, Any], stage: str) -> list[str]:
    """['bicubic 27.10 dB'] for each baseline PSNR of `stage` in `metrics` (floats or 0-d tensors)."""
    return [
        f"{name} {float(metrics[k]):.2f} dB" for b, name in BASELINES.items() if (k := f"{stage}/psnr_{b}") in metrics
    ]
