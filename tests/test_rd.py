"""scripts/rd.py: a rate-distortion point per (representation, size) from model=many runs, with files on disk
whose sizes give the bpp and whose decoded pixels give the PSNR."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from nfields.analysis.codec.rd import parse_sizes, size_overrides
from nfields.core.errors import ConfigError
from nfields.core.media import as_float
from nfields.core.metrics import psnr, ssim
from tests.codec_run import load_script, smooth_image


@pytest.fixture(scope="module")
def rd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """--quick on 2 generated images, a 16x24 landscape one and a 24x16 portrait one (turned to landscape to
    fit): SIREN 2x8 and 2x16, 30 steps."""
    root = tmp_path_factory.mktemp("rd")
    images = root / "images"
    images.mkdir()
    Image.fromarray(smooth_image(16, 24)).save(images / "a.png")
    Image.fromarray(np.ascontiguousarray(smooth_image(24, 16)[:, ::-1])).save(images / "b.png")
    out = root / "out"
    result = load_script("rd").main(["--images", str(images), "--quick", "--out", str(out), "debug=fast"])
    return images, out, result


def test_a_point_per_representation_and_size(rd: tuple[Path, Path, dict]) -> None:
    _, out, _ = rd
    saved = json.loads((out / "rd.json").read_text())
    assert [(p["rep"], p["size"]) for p in saved["points"]] == [("siren", "2x8"), ("siren", "2x16")]
    assert all(p["images"] == 2 and len(p["members"]) == 2 for p in saved["points"])
    small, big = saved["points"]
    assert big["bytes"] > small["bytes"]  # more weights, a longer file
    assert big["bpp_coin"] == pytest.approx(small["bpp_coin"] * 371 / 123)  # 16 x parameters / pixels
    table = (out / "rd.md").read_text().splitlines()
    assert len(table) == 4 and table[2].startswith("| siren | 2x8 | 8 |") and " fit (s) " in table[0]
    assert table[0].count("|") == table[2].count("|") == 14 and " SSIM |" in table[0]
    assert small["ssim"] == pytest.approx(np.mean([m["ssim"] for m in small["members"]]))
    assert (out / "rd.png").stat().st_size > 10_000  # a drawn figure, not an empty file
    assert {c["codec"] for c in saved["classical"]} == {"jpeg"} and len(saved["classical"]) == 2
    assert all(0 < c["ssim"] <= 1 for c in saved["classical"])
    assert saved["published"]["COIN"]["bpp"][0] == 0.0368


def test_bpp_is_the_written_files_size(rd: tuple[Path, Path, dict]) -> None:
    _, _, result = rd
    for p in result["points"]:
        for m in p["members"]:
            size = Path(m["file"]).stat().st_size
            assert m["bytes"] == size and m["bpp"] == pytest.approx(8 * size / (16 * 24))
        assert p["bpp"] == pytest.approx(np.mean([m["bpp"] for m in p["members"]]))


def test_decoded_files_round_trip(rd: tuple[Path, Path, dict]) -> None:
    """The PNG written from each file, and decompress.py's own decode of it, score what rd.json says against the
    image as fitted: the whole frame, the portrait one turned a quarter turn counter-clockwise."""
    images, out, result = rd
    decompress = load_script("decompress")
    for name in ("a", "b"):
        source = iio.imread(images / f"{name}.png")
        fitted = iio.imread(out / "images" / f"{name}.png")  # what rd.py wrote as the classical codecs' input
        assert np.array_equal(fitted, source if name == "a" else np.rot90(source))
    for p in result["points"]:
        for m in p["members"]:
            target = as_float(torch.from_numpy(iio.imread(out / "images" / m["image"])))
            decoded = torch.from_numpy(iio.imread(Path(m["file"]).with_suffix(".png")))
            assert psnr(as_float(decoded), target) == pytest.approx(m["psnr"], abs=0.01)
            assert ssim(as_float(decoded), target) == pytest.approx(m["ssim"], abs=1e-6) and 0 < m["ssim"] <= 1
            again = decompress.main([m["file"], "--out", str(out / "again.png")])
            assert np.array_equal(iio.imread(again), decoded.numpy())


def test_members_are_the_trained_fields(rd: tuple[Path, Path, dict]) -> None:
    """Each member rebuilt from the stacked checkpoint renders what the run scored for it (members.csv)."""
    _, out, result = rd
    for p in result["points"]:
        with (out / "runs" / f"siren-{p['size']}" / "members.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        for m, row in zip(p["members"], rows, strict=True):
            assert m["image"] == row["name"]
            assert m["psnr_float"] == pytest.approx(float(row["test/psnr"]), abs=0.02)
            assert abs(m["psnr"] - m["psnr_float"]) < 0.5  # 8-bit weights of a small field cost little


def test_bad_sizes_are_one_line() -> None:
    with pytest.raises(ConfigError, match="must be DxW"):
        size_overrides("siren", "20")
    with pytest.raises(ConfigError, match="must be REP=S1,S2"):
        parse_sizes(["siren"], ["fourier=16"])
    with pytest.raises(ConfigError, match="4..24"):
        parse_sizes(["hashgrid"], ["hashgrid=30"])
    assert parse_sizes(["fourier"], [])["fourier"] == ["16", "32", "64"]
