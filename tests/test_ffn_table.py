"""data=text images, scripts/ffn_table.py (search, table, hand-written reference; end to end is slow) and the
combined table it writes (nfields/analysis/ffn_table.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nfields.analysis.ffn_table import combined
from nfields.core.errors import ConfigError
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
    with pytest.raises(ConfigError) as e:
        TextImageDataModule(index=-1)
    assert str(e.value) == "data.index=-1: must be an integer >= 0"


def write_sets(root: Path, n: int = 2, size: int = 16) -> None:
    for s in ("div2k", "text"):
        for split in ("train", "test"):
            (root / s / split).mkdir(parents=True)
            for i in range(n):
                a = np.random.default_rng([i, len(split)]).integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(a).save(root / s / split / f"{i:02d}.png")


@pytest.mark.parametrize("args", [["--sets", "fractal"], ["--size", "100"], ["--images", "0"], ["--root", "/nope"]])
def test_bad_arguments_fail_early(tmp_path: Path, args: list[str]) -> None:
    write_sets(tmp_path)
    with pytest.raises(SystemExit):
        load_script("ffn_table").parse_args(["--root", str(tmp_path), *args])


def test_the_combined_table_puts_nfields_beside_the_reference_and_the_paper() -> None:
    cell = {"mean": 20.0, "std": 1.0}
    proto = {"mode": "reduced", "size": 64, "steps": 10, "images": 2, "lr": {}, "scale": 5, "sigma": 14}
    results = {
        "text": {"protocol": {**proto, "paper": {"none": 18.4}}, "cells": {"none": cell}, "ordering_holds": False}
    }
    md = combined(results, {"text": {"none": {"mean": 19.75, "std": 0.5}}}, 90.0, "cmd")
    assert "| none | 20.00 ± 1.00 | 19.75 ± 0.50 | +0.25 | 18.4 |" in md and "(1.5 min)" in md
    assert "reduced: 64², 10 steps, 2 test images" in md


@pytest.mark.slow
def test_ffn_table_runs_end_to_end_with_the_reference(tmp_path: Path, monkeypatch) -> None:
    write_sets(tmp_path / "ffn")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    script = load_script("ffn_table")
    out = tmp_path / "out"
    md = script.main(["--root", str(tmp_path / "ffn"), "--sets", "text", "--steps", "3", "--images", "2",
                      "--reference", "--out", str(out)]).read_text()  # fmt: skip
    for enc in ("none", "basic", "positional", "fourier"):
        assert f"| {enc} | " in md
    ref = json.loads((out / "text" / "reference.json").read_text())
    assert sorted(ref) == ["basic", "fourier", "none", "positional"] and len(ref["none"]["psnr"]) == 2
    assert (out / "text" / "table" / "ffn_table.png").exists()
