"""The classical codecs on the same images, through the installed Pillow: (bpp, PSNR, SSIM) per image and quality.

JPEG, WebP and AVIF take Pillow's `quality` (0-100); JPEG 2000 takes a compression ratio (Pillow's
quality_mode="rates", one layer), so its ladder is ratios. bpp = 8 x encoded bytes / pixels; PSNR is over
the RGB values in 0..255 (20 log10 255 - 10 log10 MSE), per image, then averaged over images at each
setting as CompressAI's benchmark (which COIN's baselines/jpeg.json comes from) averages them. SSIM is
nfields' own (nfields.core.metrics.ssim: Gaussian window 11, sigma 1.5, the mean over RGB), the same the fields'
points are scored with. Encode and decode times are wall-clock seconds of the one call each.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, features

from nfields.core.errors import ConfigError
from nfields.core.media import as_float
from nfields.core.metrics import ssim

# codec -> (Pillow format, Pillow feature to check, default ladder)
CODECS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "jpeg": ("JPEG", "jpg", tuple(range(5, 100, 5))),  # COIN's / CompressAI's ladder: 19 points, 5..95
    "webp": ("WEBP", "webp", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
    "avif": ("AVIF", "avif", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
    "jpeg2000": ("JPEG2000", "jpg_2000", (400, 200, 100, 50, 25, 12, 6)),  # compression ratios
}


@dataclass
class Point:
    """One image at one setting."""

    image: str
    codec: str
    quality: int
    bpp: float
    psnr: float
    ssim: float
    encode_s: float
    decode_s: float


def available() -> list[str]:
    """The codecs the installed Pillow can write."""
    return [name for name, (_, feature, _) in CODECS.items() if features.check(feature)]


def check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise ConfigError("--codec", codec, f"must be one of {', '.join(CODECS)}")
    if codec not in available():
        raise ConfigError("--codec", codec, f"this Pillow cannot write it (available: {', '.join(available())})")


def rgb_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(20 * np.log10(255.0) - 10 * np.log10(mse))


def rgb_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W, 3) uint8 images, as nfields scores every image."""
    return ssim(as_float(torch.from_numpy(np.array(a))), as_float(torch.from_numpy(np.array(b))))  # writable copies


def save_options(codec: str, quality: int) -> dict:
    if codec == "jpeg2000":
        return {"quality_mode": "rates", "quality_layers": [quality]}
    return {"quality": quality}


def code_image(img: Image.Image, codec: str, quality: int) -> tuple[int, np.ndarray, float, float]:
    """(encoded bytes, decoded (H, W, 3) uint8, encode seconds, decode seconds) of an RGB image."""
    buf, fmt = io.BytesIO(), CODECS[codec][0]
    start = time.perf_counter()
    img.save(buf, format=fmt, **save_options(codec, quality))
    encode_s = time.perf_counter() - start
    size = buf.tell()
    buf.seek(0)
    start = time.perf_counter()
    decoded = np.asarray(Image.open(buf).convert("RGB"))
    return size, decoded, encode_s, time.perf_counter() - start


def rate_distortion(paths: Iterable[Path], codec: str, qualities: Sequence[int] | None = None) -> list[Point]:
    """Every image at every quality (default: the codec's ladder)."""
    check_codec(codec)
    out = []
    for path in paths:
        img = Image.open(path).convert("RGB")
        ref, pixels = np.asarray(img), img.size[0] * img.size[1]
        for q in qualities or CODECS[codec][2]:
            size, decoded, enc, dec = code_image(img, codec, q)
            scores = rgb_psnr(decoded, ref), rgb_ssim(decoded, ref)
            out.append(Point(Path(path).name, codec, q, 8 * size / pixels, *scores, enc, dec))
    return out


def mean_curve(points: Sequence[Point]) -> list[dict]:
    """Per quality: the mean bpp, PSNR, SSIM and times over the images, in ladder order."""
    qualities = list(dict.fromkeys(p.quality for p in points))
    rows = []
    for q in qualities:
        at = [asdict(p) for p in points if p.quality == q]
        mean = {k: float(np.mean([p[k] for p in at])) for k in ("bpp", "psnr", "ssim", "encode_s", "decode_s")}
        rows.append({"codec": at[0]["codec"], "quality": q, "images": len(at), **mean})
    return rows
