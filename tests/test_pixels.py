"""Compact storage of one image's observed pixels (uint8 colours, coordinates from pixel indices)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nfields.lit.pixels import ObservedPixels, as_uint8
from nfields.run.train import train
from nfields.tasks.denoise import Denoise
from nfields.tasks.fit import Fit
from nfields.tasks.inpaint import Inpaint
from nfields.tasks.interpolate import Interpolate
from nfields.tasks.superres import SuperRes

TASKS = {
    "fit": Fit(),
    "interpolate": Interpolate(factor=2),
    "inpaint": Inpaint(keep=0.3),
    "superres": SuperRes(factor=2),
    "denoise": Denoise(noise_std=0.1),
}


def eight_bit_image(h: int = 20, w: int = 28) -> torch.Tensor:
    return torch.randint(0, 256, (h, w, 3), generator=torch.Generator().manual_seed(0)).float() / 255


@pytest.mark.parametrize("task", TASKS)
def test_compact_pixels_give_exactly_the_observed_pixels(task: str) -> None:
    img = eight_bit_image()
    obs = TASKS[task].observe(img)
    plain, compact = ObservedPixels(obs, 20, 28, compact=False), ObservedPixels(obs, 20, 28, compact=True)
    idx = torch.randint(0, obs.points().shape[0], (500,), generator=torch.Generator().manual_seed(1))
    for store in (plain, compact):
        coords, values = store.take(idx)
        assert torch.equal(coords, obs.points()[idx]) and torch.equal(values, obs.values[idx])
        every = store.every(1, 3)  # a DDP rank's share of a full batch
        assert torch.equal(every[0], obs.points()[1::3]) and torch.equal(every[1], obs.values[1::3])
    # what is stored: uint8 colours when exact, no float coordinates when on the grid
    assert (compact.values.dtype == torch.uint8) == (task in ("fit", "interpolate", "inpaint"))
    assert (compact.coords is None) == (task != "superres")
    assert compact.nbytes() <= plain.nbytes()


def test_fit_keeps_a_quarter_of_a_byte_budget() -> None:
    obs = Fit().observe(eight_bit_image(64, 64))
    plain, compact = ObservedPixels(obs, 64, 64, compact=False), ObservedPixels(obs, 64, 64, compact=True)
    assert plain.nbytes() == 64 * 64 * (2 + 3) * 4  # float32 coords and colours
    assert compact.nbytes() == 64 * 64 * 3  # uint8 colours only: coordinates come from the index


def test_as_uint8_refuses_values_between_levels() -> None:
    assert as_uint8(torch.tensor([0.0, 1 / 255, 1.0])).tolist() == [0, 1, 255]
    assert as_uint8(torch.tensor([0.5])) is None  # 127.5 is not an 8-bit level


def test_compact_and_float_storage_train_identically(make_cfg, tmp_path: Path) -> None:
    common = ["debug=fast", "logger=none", "data.batch_size=128", "task=inpaint"]
    metrics = []
    for name, compact in (("compact", "true"), ("float", "false")):
        cfg = make_cfg(*common, f"model.compact_pixels={compact}", run_dir=tmp_path / name)
        train(cfg)
        metrics.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert metrics[0]["test/psnr"] == pytest.approx(metrics[1]["test/psnr"], abs=1e-4)


def test_as_uint8_in_chunks_matches_whole() -> None:
    img = eight_bit_image(33, 17)
    assert torch.equal(as_uint8(img, chunk=7), (img * 255).round().to(torch.uint8))
    off = img.clone()
    off.view(-1)[-1] += 0.3 / 255  # one value between levels, in the last chunk
    assert as_uint8(off, chunk=7) is None


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("compact", [True, False])
def test_an_8bit_image_given_as_uint8_stores_the_same_pixels(task: str, compact: bool) -> None:
    """Loading keeps 8-bit images as uint8: every task and storage reads the same pixels as from floats."""
    img = eight_bit_image()
    levels = (img * 255).round().to(torch.uint8)
    t = TASKS[task]
    obs_f = t.observe(img)
    obs_u = t.observe(levels if t.accepts_uint8 else img)  # FieldModule converts for tasks that compute
    a, b = ObservedPixels(obs_f, 20, 28, compact), ObservedPixels(obs_u, 20, 28, compact)
    idx = torch.arange(0, a.n, 3)
    for x, y in zip(a.take(idx), b.take(idx), strict=True):
        assert torch.equal(x, y)
    assert a.nbytes() == b.nbytes()


def test_fit_keeps_one_uint8_copy_of_the_image(make_cfg, tmp_path: Path) -> None:
    """task=fit on an 8-bit file with random batches: the observed colours are the clean image, stored once."""
    import imageio.v3 as iio

    from nfields.run.build import build_datamodule, build_module

    path = tmp_path / "img.png"
    levels = (eight_bit_image(24, 24) * 255).round().to(torch.uint8)
    iio.imwrite(path, levels.numpy())
    args = [f"data.image={path}", "data.size=null", "data.batch_size=64", "debug=fast", "logger=none"]
    dm = build_datamodule(make_cfg(*args))
    assert dm.image.dtype == torch.uint8 and torch.equal(dm.image, levels)
    module = build_module(make_cfg(*args), dm)
    assert module.clean_store is None and torch.equal(module.image_store, levels)
    assert module.image_store.data_ptr() == module.pixels.values.data_ptr()  # one copy on every device
    assert torch.equal(module.clean, levels.float() / 255)
    small = make_cfg(*args[:1], *args[2:], "data.size=16")
    resized = build_module(small, build_datamodule(small))
    assert resized.image_store.dtype == torch.float32  # resampled colours are not 8-bit levels
