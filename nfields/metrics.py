"""Image metrics through torchmetrics: PSNR and SSIM on images in [0, 1]."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB for tensors of any equal shape in [0, 1]."""
    return float(peak_signal_noise_ratio(pred.float(), target.float(), data_range=1.0))


def ssim(pred: torch.Tensor, target: torch.Tensor, band_pixels: int = 1 << 20) -> float:
    """SSIM of (H, W, C) images, or the mean SSIM of batches (B, H, W, C).

    Gaussian window 11, sigma 1.5; images smaller than that shrink the window. Large images
    are scored in bands of rows (about `band_pixels` pixels each, the same result): torchmetrics
    holds many float maps of the input's size at once (18 GB for one 8192^2 RGB image).
    """
    p = pred.float().reshape(-1, *pred.shape[-3:]).permute(0, 3, 1, 2)  # (B, C, H, W)
    t = target.float().reshape(-1, *target.shape[-3:]).permute(0, 3, 1, 2)
    k = min(11, min(p.shape[-2:]) // 2 * 2 - 1)  # odd, fits in the image
    if k < 3:
        return float("nan")
    sigma = 1.5 * k / 11
    b, _, h, w = p.shape
    rows = max(1, band_pixels // (b * w))  # rows scored per band
    if rows >= h:
        return float(structural_similarity_index_measure(p, t, data_range=1.0, kernel_size=k, sigma=sigma))
    # torchmetrics reflects the image at its borders and averages the SSIM map over every pixel. A band
    # reads `pad` rows of real context beyond its own rows, so the map on its own rows is exactly the
    # whole image's (the band's artificial borders only touch the context rows, which are dropped).
    pad = int(3.5 * sigma + 0.5)  # torchmetrics' Gaussian window is 2 * pad + 1 wide
    total = 0.0
    for r0 in range(0, h, rows):
        r1, lo = min(r0 + rows, h), max(0, r0 - pad)
        hi = min(h, r1 + pad)
        _, ssim_map = structural_similarity_index_measure(
            p[..., lo:hi, :], t[..., lo:hi, :], data_range=1.0, kernel_size=k, sigma=sigma, return_full_image=True
        )  # (B, C, hi - lo, W)
        total += float(ssim_map[..., r0 - lo : r1 - lo, :].double().sum())
    return total / (b * p.shape[1] * h * w)


def image_metrics(pred: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, float]:
    """pred, clean (H, W, C); mask (H, W) selects the pixels PSNR is computed on.

    SSIM is a windowed statistic, so it is always computed on the whole image.
    """
    pred = pred.clamp(0, 1)
    out = {"ssim": ssim(pred, clean)}
    out["psnr"] = psnr(pred[mask], clean[mask]) if mask is not None else psnr(pred, clean)
    return out
