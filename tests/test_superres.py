"""task=superres trains with the box forward model: a low-res pixel observes the mean of the field at the
f^2 full-resolution pixel centres of its block, not the field's value at the block centre."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nfields.core.coords import pixel_grid
from nfields.core.errors import ConfigError
from nfields.run.build import build_datamodule, build_module
from nfields.tasks.base import Observation
from nfields.tasks.superres import SuperRes


def curved(x: torch.Tensor) -> torch.Tensor:
    """A known field, nonlinear in u and v (its block means are not its values at the block centres):
    coords (..., M, 2) -> colours (..., M, 3)."""
    u, v = x[..., :1], x[..., 1:]
    return torch.cat([torch.sin(9 * u) * v**2, u**3 - v, torch.exp(2 * u * v)], dim=-1)


def block_means(full: torch.Tensor, f: int) -> torch.Tensor:
    """(h, w, C) -> (h // f * (w // f), C): the mean of each whole f x f block, row-major (a border is dropped)."""
    hl, wl = full.shape[0] // f, full.shape[1] // f
    return full[: hl * f, : wl * f].reshape(hl, f, wl, f, -1).mean(dim=(1, 3)).reshape(hl * wl, -1)


@pytest.mark.parametrize("h, w, f", [(8, 6, 2), (10, 7, 3), (12, 12, 4)])
def test_forward_model_is_the_field_averaged_over_each_block(h: int, w: int, f: int) -> None:
    task = SuperRes(factor=f)
    obs = task.observe(torch.rand(h, w, 3))
    pred = task.forward_model(curved, obs)  # (N, 3)
    expected = block_means(curved(pixel_grid(h, w)), f)  # the field at the full-res pixel centres, block-averaged
    assert pred.shape == expected.shape == obs.values.shape
    assert torch.allclose(pred, expected, atol=1e-6)
    # the old formulation (the field's value at each block centre) is measurably different for this field
    assert (curved(obs.coords) - expected).abs().max() > 1e-3
    # leading dimensions (a collection's (B, N, 2)) are kept
    batched = task.forward_model(curved, Observation.stack([obs, obs]))
    assert batched.shape == (2, *expected.shape) and torch.allclose(batched[1], expected, atol=1e-6)


def test_the_clean_image_is_a_zero_loss_solution() -> None:
    """Box model: the image itself (as a piecewise-constant field) reproduces every observed block mean exactly."""
    h, w, f = 12, 9, 3
    img = torch.rand(h, w, 3, generator=torch.Generator().manual_seed(0))

    def lookup(x: torch.Tensor) -> torch.Tensor:  # the pixel a coordinate falls in
        i = (x[..., 1] * h).floor().long().clamp(0, h - 1)
        j = (x[..., 0] * w).floor().long().clamp(0, w - 1)
        return img[i, j]

    task = SuperRes(factor=f)
    obs = task.observe(img)
    assert task.loss(lookup, obs).item() < 1e-12
    assert ((lookup(obs.coords) - obs.values) ** 2).mean() > 1e-3  # the block-centre pixel alone is not the mean


@pytest.mark.parametrize("factor", [2.5, 1.5])
def test_non_integer_factor_is_refused_with_the_key(factor: float) -> None:
    with pytest.raises(ConfigError, match=rf"task\.factor={factor}"):
        SuperRes(factor=factor)


class _OneProcess:
    """What FieldModule.sample reads of its Trainer, for a training loop without Lightning."""

    world_size, global_rank = 1, 0


def test_training_recovers_a_pattern_at_the_low_res_nyquist(make_cfg, tmp_path: Path) -> None:
    """2x2-pixel squares (period 4 px) at factor 2: the observation is a 1-pixel checkerboard at the low resolution.
    The box model predicts the truth is recovered exactly: it is the single sinusoid cos(pi/2 (i - 1/2)) per axis
    whose 2-pixel means are the observed 0 / 1. Training at the block centres instead fits a field equal to 0 / 1
    at the block corners, whose smooth interpolant undershoots at the pixel centres (0.25 / 0.75: ~12 dB)."""
    n = 16
    i = np.arange(n)
    squares = ((i[:, None] // 2 + i[None, :] // 2) % 2).astype(np.uint8) * 255
    path = tmp_path / "squares.png"
    iio.imwrite(path, np.stack([squares] * 3, axis=-1))
    cfg = make_cfg(
        "debug=fast", "task=superres", f"data.image={path}", "data.size=null", "encoding.sigma=5", "model.lr=5e-3"
    )
    torch.manual_seed(0)
    module = build_module(cfg, build_datamodule(cfg))
    module.trainer = _OneProcess()  # type: ignore[assignment]
    low = module.pixels.values.clone()  # (64, 3): the observed 8x8 checkerboard
    assert torch.equal(low.reshape(8, 8, 3)[:2, :2, 0], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    opt = torch.optim.Adam(module.field.parameters(), lr=5e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 256 points a step: more threads only contend on a shared CPU (2 s vs 45 s here)
    try:
        for _ in range(150):
            opt.zero_grad()
            module.loss().backward()  # FieldModule's training objective: the task's box forward model
            opt.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        render = module.render()  # (16, 16, 3) at the full-res pixel centres
    truth = module.clean
    psnr = -10 * torch.log10(((render - truth) ** 2).mean())
    assert psnr > 30, f"the box model recovers the squares; got {psnr:.2f} dB"
    reblocked = F.avg_pool2d(render.permute(2, 0, 1)[None], 2)[0].permute(1, 2, 0).reshape(-1, 3)
    assert (reblocked - low).abs().max() < 0.05  # the render's block means are the observation


def masked_psnr(pred: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR of (H, W, C) images over the (H, W) bool mask's pixels."""
    return float(-10 * torch.log10(((pred[mask] - clean[mask]) ** 2).mean()))


@pytest.mark.parametrize("h, w, f", [(10, 7, 3), (9, 12, 4), (11, 11, 2)])
def test_only_pixels_under_whole_blocks_are_scored(h: int, w: int, f: int) -> None:
    """H or W not a multiple of f: the border past the last block is observed by no low-res pixel, so val/test
    (and the bicubic baseline beside them) score exactly the floor(H/f)*f x floor(W/f)*f covered pixels."""
    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(h, w, 3, generator=gen)
    obs = SuperRes(factor=f).observe(clean)
    covered = torch.zeros(h, w, dtype=torch.bool)
    covered[: h // f * f, : w // f * f] = True
    val, test = obs.mask("val"), obs.mask("test")
    assert torch.equal(val | test, covered) and not (val & test).any()
    # a render that is good on the covered pixels and wrong on the border: the border must not change psnr
    pred = (clean + 0.05 * torch.randn(h, w, 3, generator=gen)).clamp(0, 1)
    pred[~covered] = 1 - clean[~covered]
    for stage, mask in (("val", val), ("test", test)):
        scores = SuperRes(factor=f).evaluate(pred, clean, obs, stage)
        assert scores["psnr"] == pytest.approx(masked_psnr(pred, clean, mask), abs=1e-3)
        bicubic = obs.baselines["bicubic"]
        assert scores["psnr_bicubic"] == pytest.approx(masked_psnr(bicubic, clean, mask), abs=1e-3)
        assert scores["psnr_all"] == pytest.approx(masked_psnr(pred, clean, torch.ones_like(mask)), abs=1e-3)
