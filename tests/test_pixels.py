"""Compact storage of one image's observed pixels (uint8 colours, coordinates from pixel indices), and which
tasks are given an 8-bit image as uint8 levels."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from nfields.core.media import as_uint8
from nfields.lit.pixels import PixelStore, observe
from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train
from nfields.tasks.base import Observation, Task
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


def eight_bit_file(tmp_path: Path, size: int = 24) -> tuple[torch.Tensor, Path]:
    """An 8-bit PNG -> (its uint8 levels (size, size, 3), its path)."""
    levels = (eight_bit_image(size, size) * 255).round().to(torch.uint8)
    path = tmp_path / "img.png"
    iio.imwrite(path, levels.numpy())
    return levels, path


@pytest.mark.parametrize("task", TASKS)
def test_compact_pixels_give_exactly_the_observed_pixels(task: str) -> None:
    img = eight_bit_image()
    obs = TASKS[task].observe(img)
    plain, compact = PixelStore(obs, (20, 28), compact=False), PixelStore(obs, (20, 28), compact=True)
    idx = torch.randint(0, obs.points().shape[0], (500,), generator=torch.Generator().manual_seed(1))
    for store in (plain, compact):
        for batch, want in ((store.take(idx), obs.take(idx)), (store.every(1, 3), obs.take(slice(1, None, 3)))):
            # a random batch, and a DDP rank's share of a full batch: the same points, values and footprint
            assert torch.equal(batch.coords, want.coords) and torch.equal(batch.values, want.values)
            assert batch.footprint is obs.footprint or torch.equal(batch.footprint, obs.footprint)
        assert torch.equal(store.take(idx).coords, obs.points()[idx]) and torch.equal(
            store.take(idx).values, obs.values[idx]
        )
    # what is stored: uint8 colours when exact, no float coordinates when on the grid
    assert (compact.values.dtype == torch.uint8) == (task in ("fit", "interpolate", "inpaint"))
    assert (compact.coords is None) == (task != "superres")
    assert compact.nbytes() <= plain.nbytes()


def test_fit_keeps_a_quarter_of_a_byte_budget() -> None:
    obs = Fit().observe(eight_bit_image(64, 64))
    plain, compact = PixelStore(obs, (64, 64), compact=False), PixelStore(obs, (64, 64), compact=True)
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
    a, b = PixelStore(obs_f, (20, 28), compact), PixelStore(obs_u, (20, 28), compact)
    idx = torch.arange(0, a.n, 3)
    x, y = a.take(idx), b.take(idx)
    assert torch.equal(x.coords, y.coords) and torch.equal(x.values, y.values)
    assert a.nbytes() == b.nbytes()


def test_fit_keeps_one_uint8_copy_of_the_image(make_cfg, tmp_path: Path) -> None:
    """task=fit on an 8-bit file with random batches: the observed colours are the clean image, stored once."""
    levels, path = eight_bit_file(tmp_path)
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


def test_only_the_tasks_that_select_pixels_accept_uint8() -> None:
    """Fit, interpolate and inpaint take the image's values as they are; superres (block means) and denoise
    (added noise) compute with colours, so they get floats, as every task does unless it says otherwise."""
    assert {name for name, t in TASKS.items() if t.accepts_uint8} == {"fit", "interpolate", "inpaint"}
    assert Task.accepts_uint8 is False


class Brighten(Task):
    """A new task that computes with colours and leaves accepts_uint8 at its default: values 1.2 x the image."""

    name = "brighten"

    def observe(self, image: torch.Tensor, key: int = 0) -> Observation:
        self.seen = image
        h, w, c = image.shape
        every = torch.ones(h, w, dtype=torch.bool)
        return Observation((image * 1.2).reshape(-1, c), train_mask=every, display=image)


def test_a_new_task_gets_an_8bit_image_as_floats(make_cfg, tmp_path: Path) -> None:
    """data.size=null keeps an 8-bit file as uint8 levels: a task without accepts_uint8 still sees [0, 1]."""
    levels, path = eight_bit_file(tmp_path)
    assert observe(Brighten(), levels).values.max() <= 1.2  # not 1.2 x 255
    cfg = make_cfg(f"data.image={path}", "data.size=null", "data.batch_size=64", "debug=fast", "logger=none")
    dm = build_datamodule(cfg, task=Brighten())
    assert dm.image.dtype == torch.uint8  # what the module is given
    module = build_module(cfg, dm)
    seen = dm.task.seen
    assert seen.dtype == torch.float32 and torch.equal(seen, levels.float() / 255)
    assert module.pixels.values.dtype == torch.float32 and module.pixels.values.max() <= 1.2
    assert torch.equal(module.clean, levels.float() / 255)
