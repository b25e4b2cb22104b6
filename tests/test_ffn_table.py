"""data=text images and scripts/ffn_table.py (table from finished runs; a tiny end-to-end run is slow)."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nfields.data.text import TextImageDataModule, text_image
from tests.test_render import load_script


def test_text_images_are_deterministic_and_distinct() -> None:
    a = text_image(0, native=128)
    assert a.shape == (128, 128, 3) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, text_image(0, native=128))
    assert not torch.equal(a, text_image(1, native=128))
    assert a.std() > 0.05  # there is text on it, not a flat background
    dm = TextImageDataModule(index=2, size=32)
    assert dm.channels == 3 and dm.image.shape == (32, 32, 3)
    with pytest.raises(ValueError, match="data.index=-1"):
        TextImageDataModule(index=-1)


def fake_run(d: Path, psnr: float) -> None:
    """A finished run as the table reads it: config, metrics.json, prediction.png."""
    (d / ".hydra").mkdir(parents=True)
    cfg = {"data": {"_target_": "nfields.data.text.TextImageDataModule", "index": 0, "size": 8, "batch_size": None}}
    OmegaConf.save(OmegaConf.create(cfg), d / ".hydra" / "config.yaml")
    (d / "metrics.json").write_text(json.dumps({"test/psnr": psnr}))
    iio.imwrite(d / "prediction.png", np.zeros((8, 8, 3), np.uint8))


def test_table_from_finished_runs(tmp_path: Path) -> None:
    script = load_script("ffn_table")
    for k, enc in enumerate(script.ENCODINGS):
        for j, p in enumerate((20.0, 22.0)):
            fake_run(tmp_path / "text" / enc / str(j), p + 3 * k)
    md = script.main(["--table-only", "--sets", "text", "--out", str(tmp_path)]).read_text()
    assert "| fourier | 30.00 ± 1.41 (n=2) | 30.47 |" in md
    assert "| none | 21.00 ± 1.41 (n=2) | 18.40 |" in md
    assert "text: none < basic < positional <= fourier holds" in md
    assert (tmp_path / "ffn_table.png").exists()


@pytest.mark.parametrize("args", [["--sets", "fractal"], ["--size", "0"], ["--n-natural", "99"]])
def test_bad_arguments_fail_early(args: list[str]) -> None:
    with pytest.raises(SystemExit):
        load_script("ffn_table").parse_args(args)


@pytest.mark.slow
def test_ffn_table_runs_end_to_end(tmp_path: Path) -> None:
    script = load_script("ffn_table")
    md = script.main(["--sets", "text", "--n-text", "1", "--size", "8", "--steps", "2", "--out", str(tmp_path)])
    text = md.read_text()
    for enc in script.ENCODINGS:
        assert f"| {enc} | " in text and "(n=1)" in text
