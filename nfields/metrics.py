"""Image metrics through torchmetrics: PSNR and SSIM on images in [0, 1]."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB for tensors of any equal shape in [0, 1]."""
    return float(peak_signal_noise_ratio(pred.float(), target.float(), data_range=1.0))


def ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    """SSIM of (H, W, C) images, or the mean SSIM of batches (B, H, W, C).

    Gaussian window 11, sigma 1.5; images smaller than that shrink the window.
    """
    p = pred.float().reshape(-1, *pred.shape[-3:]).permute(0, 3, 1, 2)  # (B, C, H, W)
    t = target.float().reshape(-1, *target.shape[-3:]).permute(0, 3, 1, 2)
    k = min(11, min(p.shape[-2:]) // 2 * 2 - 1)  # odd, fits in the image
    if k < 3:
        return float("nan")
    return float(structural_similarity_index_measure(p, t, data_range=1.0, kernel_size=k, sigma=1.5 * k / 11))


def image_metrics(pred: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, float]:
    """pred, clean (H, W, C); mask (H, W) selects the pixels PSNR is computed on.

    SSIM is a windowed statistic, so it is always computed on the whole image.
    """
    pred = pred.clamp(0, 1)
    out = {"ssim": ssim(pred, clean)}
    out["psnr"] = psnr(pred[mask], clean[mask]) if mask is not None else psnr(pred, clean)
    return out
