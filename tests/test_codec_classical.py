"""The classical codecs: bpp is the encoded size over the pixels, PSNR rises with quality, bad codecs refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nfields.analysis.codec.classical import available, code_image, mean_curve, rate_distortion, rgb_psnr
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
    img = Image.open(images[0]).convert("RGB")
    size, decoded, _, _ = code_image(img, codec, ladder[0])
    assert decoded.shape == (48, 64, 3) and points[0].bpp == 8 * size / (48 * 64)
    assert points[0].psnr == rgb_psnr(decoded, np.asarray(img))


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
