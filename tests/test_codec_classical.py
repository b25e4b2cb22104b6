"""The classical codecs: bpp is the encoded size over the pixels, PSNR rises with quality, bad codecs refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from nfields.analysis.codec.classical import available, code_image, mean_curve, rate_distortion, rgb_psnr, rgb_ssim
from nfields.core.errors import ConfigError
from tests.codec_run import load_script, smooth_image


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    noise = np.random.default_rng(0).integers(0, 40, (48, 64, 3))
    paths = []
    for i, img in enumerate([smooth_image(48, 64), np.clip(smooth_image(48, 64) + noise, 0, 255)]):
        paths.append(tmp_path / f"im{i}.png")
        Image.fromarray(img.astype(np.uint8)).save(paths[-1])
    return paths


@pytest.mark.parametrize("codec", available())
def test_each_codec_rises_with_quality_and_counts_its_bytes(images: list[Path], codec: str) -> None:
    ladder = (200, 20) if codec == "jpeg2000" else (10, 90)  # JPEG 2000: compression ratios, falling
    points = rate_distortion(images, codec, ladder)
    assert len(points) == 4
    low, high = mean_curve(points)
    assert low["bpp"] < high["bpp"] and low["psnr"] < high["psnr"] and low["images"] == 2
    assert 0 < low["ssim"] < high["ssim"] <= 1
    img = Image.open(images[0]).convert("RGB")
    size, decoded, _, _ = code_image(img, codec, ladder[0])
    assert decoded.shape == (48, 64, 3) and points[0].bpp == 8 * size / (48 * 64)
    assert points[0].psnr == rgb_psnr(decoded, np.asarray(img))
    assert points[0].ssim == rgb_ssim(decoded, np.asarray(img))


def test_ssim_is_scikit_images(images: list[Path]) -> None:
    """nfields' SSIM (torchmetrics: Gaussian window 11, sigma 1.5, reflected borders kept in the mean) is
    scikit-image's (the same window, borders cropped) within 0.02 on JPEG's ladder, and ranks it the same."""
    ref = np.asarray(Image.open(images[1]).convert("RGB"))
    ours, theirs = [], []
    for q in (10, 50, 90):
        _, decoded, _, _ = code_image(Image.fromarray(ref), "jpeg", q)
        ours.append(rgb_ssim(decoded, ref))
        theirs.append(
            structural_similarity(ref, decoded, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False)
        )  # fmt: skip
    assert np.allclose(ours, theirs, atol=0.02) and np.argsort(ours).tolist() == np.argsort(theirs).tolist() == [
        0,
        1,
        2,
    ]
    assert rgb_ssim(ref, ref) == pytest.approx(1.0)


def test_psnr_of_a_known_error() -> None:
    a = np.zeros((4, 4, 3), dtype=np.uint8)
    assert rgb_psnr(a, a + 1) == pytest.approx(20 * np.log10(255))  # MSE 1


def test_an_unknown_codec_is_one_line() -> None:
    with pytest.raises(ConfigError, match="--codec=bmp: must be one of"):
        rate_distortion([], "bmp")


def test_the_script_prints_a_table(images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    curves = load_script("classical").main([str(images[0].parent), "--qualities", "20", "80"])
    assert [r["quality"] for r in curves["jpeg"]] == [20, 80]
    assert "| jpeg | 20 |" in capsys.readouterr().out
