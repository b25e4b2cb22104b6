"""Evaluation in bands of rows (bounded memory on huge images) gives the whole-image metrics."""

from __future__ import annotations

import math
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from nfields.core.media import quantize
from nfields.core.metrics import ImageScore, psnr, row_bands, ssim, ssim_pad
from nfields.fields.field import render, render_grid
from nfields.run.build import build_datamodule, build_module
from nfields.tasks.base import Task
from nfields.tasks.denoise import Denoise
from nfields.tasks.fit import Fit
from nfields.tasks.inpaint import Inpaint
from nfields.tasks.interpolate import Interpolate
from nfields.tasks.superres import SuperRes


def test_image_score_psnr_matches_torchmetrics() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(20, 9, 3, generator=g), torch.rand(20, 9, 3, generator=g)
    score = ImageScore(20, 9)
    for r0 in range(0, 20, 6):  # uneven bands
        score.add_psnr("psnr", a[r0 : r0 + 6], b[r0 : r0 + 6])
    assert score.result()["psnr"] == pytest.approx(psnr(a, b), abs=1e-4)
    empty = ImageScore(4, 4)
    empty.add_psnr("psnr", a[:0], b[:0])
    assert math.isnan(empty.result()["psnr"])


def test_row_bands_cover_every_row_once_with_context() -> None:
    bands = list(row_bands(10, 4, 2))
    assert bands == [(0, 4, 0, 6), (4, 8, 2, 10), (8, 10, 6, 10)]
    assert ssim_pad(512, 512) == 5 and ssim_pad(4, 4) == 1  # window 11 (sigma 1.5), shrunk to 3
    assert ssim_pad(2, 2) == 0  # too small for any window: no context


@pytest.mark.parametrize(
    "task", [Fit(), Inpaint(keep=0.4), Denoise(noise_std=0.2), SuperRes(factor=3), Interpolate(factor=2)]
)
@pytest.mark.parametrize("rows", [1, 7, 64])
def test_every_task_scores_the_same_in_bands(task: Task, rows: int) -> None:
    """Masks (val/test halves), baselines and SSIM, band by band == the whole image at once."""
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(33, 26, 3, generator=g)
    pred = (clean + 0.1 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    obs = task.observe(clean, key=3)
    for stage in ("val", "test"):
        whole = task.evaluate(pred, clean, obs, stage)
        score = ImageScore(33, 26)
        for r0, r1, lo, hi in row_bands(33, rows, ssim_pad(33, 26)):
            task.score_rows(score, pred[lo:hi], clean[lo:hi], obs, stage, (r0, r1, lo))
        banded = score.result()
        assert banded.keys() == whole.keys() and "ssim" in whole
        for k in whole:
            assert banded[k] == pytest.approx(whole[k], abs=1e-4), (stage, k)
    assert task.evaluate(pred, clean, obs)["ssim"] == pytest.approx(ssim(pred, clean), abs=1e-6)


def test_render_of_a_row_range_is_that_part_of_the_whole_render() -> None:
    field = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    whole = render(field, 13, 11, chunk=17)
    assert torch.equal(render(field, 13, 11, chunk=5, rows=(4, 9)), whole[4:9])


def test_field_module_evaluates_the_same_in_small_bands(make_cfg, tmp_path: Path, monkeypatch) -> None:
    """The module streams the render through the scorer; band size changes neither metrics nor the kept render."""
    path = tmp_path / "img.png"
    iio.imwrite(path, torch.randint(0, 256, (48, 40, 3), dtype=torch.uint8).numpy())  # cropped to 40 x 40
    args = [f"data.image={path}", "data.size=null", "data.batch_size=256"]
    cfg = make_cfg("debug=fast", "logger=none", "task=inpaint", *args)
    module = build_module(cfg, build_datamodule(cfg))
    assert module.clean_store.dtype == torch.uint8  # compact: the 8-bit image is kept as uint8
    module.eval_band_pixels = 1 << 30  # one band: the whole image
    whole = module.evaluate("test")
    kept = module.last_render.clone()
    assert torch.equal(kept, quantize(module.render()))  # the host copy is the quantised render
    assert whole == pytest.approx(module.task.evaluate(module.render(), module.clean, module.obs, "test"), abs=1e-5)
    module.eval_band_pixels = 40 * 3  # 3 rows a band, each read with 5 context rows either side
    rendered: list[tuple[int, int]] = []

    def counting_render(*args, rows, **kw):  # noqa: ANN002, ANN003, ANN202
        rendered.append(rows)
        return render_grid(*args, rows=rows, **kw)

    monkeypatch.setattr("nfields.lit.bands.render_grid", counting_render)
    banded = module.evaluate("test")
    assert (
        sum(hi - lo for lo, hi in rendered) == 40 and len(rendered) > 5
    )  # every row rendered once: context rows are reused
    assert banded == pytest.approx(whole, abs=1e-5)
    assert torch.equal(module.last_render, kept)
