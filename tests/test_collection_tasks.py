"""Tasks on collections: each image observed through the task, codes fitted to observations only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nfields.core.coords import pixel_grid
from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train
from tests.conftest import run_train
from tests.test_collections import TINY, batch

TASKS = ["fit", "interpolate", "superres", "denoise", "inpaint"]
BASELINE_KEYS = {"superres": "psnr_bicubic", "denoise": "psnr_noisy", "inpaint": "psnr_all"}


@pytest.mark.parametrize("task", TASKS)
def test_batches_carry_each_images_own_observation(make_cfg, task: str) -> None:
    dm = build_datamodule(make_cfg(*TINY, f"task={task}"))
    b = batch(dm, "test")
    obs, observed = b["obs"], b["observed"]
    for i, o in enumerate(obs):  # the batch stacks exactly what the task observes of each clean image
        again = dm.task.observe(b["image"][i], key=dm.splits["test"].key_offset + i)
        assert torch.equal(observed.coords[i], again.points()) and torch.equal(observed.values[i], again.values)
        assert torch.equal(observed.display[i], o.display)
        assert (observed.footprint is None) == (again.footprint is None)  # superres's blocks travel with the batch
    if task == "denoise":  # seeded per image: the noise differs between images
        noise = observed.values - b["image"].flatten(1, 2)  # (B, HW, C)
        assert noise.std() > 0.05 and not torch.allclose(noise[0], noise[1])
    if task == "inpaint":  # ... and so do the masks
        assert not torch.equal(obs[0].train_mask, obs[1].train_mask)
    # different splits never share a key: the first train and test images get different observations
    assert dm.splits["train"].key_offset != dm.splits["val"].key_offset != dm.splits["test"].key_offset


@pytest.mark.parametrize("task", ["interpolate", "inpaint"])
def test_no_scored_pixel_is_observed(make_cfg, task: str) -> None:
    dm = build_datamodule(make_cfg(*TINY, f"task={task}"))
    b = batch(dm, "test")
    h, w = dm.image_shape
    grid = pixel_grid(h, w)
    for i, o in enumerate(b["obs"]):
        for stage in ("val", "test"):
            scored = grid[o.mask(stage)]  # (M, 2) coordinates scored at this stage
            seen = b["observed"].coords[i]  # (N, 2) coordinates trained / test-time optimised on
            assert not (seen[:, None, :] == scored[None, :, :]).all(-1).any(), f"image {i}: {stage} pixel observed"


def test_evaluation_uses_only_the_observation(make_cfg) -> None:
    """Changing the clean image where it is not observed changes the score, never the fitted codes."""
    cfg = make_cfg(*TINY, "task=inpaint", "cond=film", "model.latent_source=encoder", "model.tto_steps=5")
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    b = batch(dm, "test")
    hidden = ~torch.stack([o.train_mask for o in b["obs"]])  # (B, H, W)
    garbage = dict(b, image=torch.where(hidden[..., None], torch.rand_like(b["image"]), b["image"]))
    torch.manual_seed(0)
    a = module.evaluate("test", b, 1, steps=5)
    torch.manual_seed(0)
    g = module.evaluate("test", garbage, 1, steps=5)
    assert torch.equal(a.codes, g.codes) and torch.equal(a.pred, g.pred)
    assert not torch.equal(a.psnr, g.psnr)  # ... but it is what the missing region is scored against


def test_encoder_sees_the_observation_not_the_clean_image(make_cfg) -> None:
    cfg = make_cfg(*TINY, "task=denoise", "task.noise_std=0.3", "cond=concat", "model.latent_source=encoder")
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    b = batch(dm)
    codes = module.codes(b)
    assert torch.equal(codes, module.source.encode(b["observed"].display))
    assert not torch.allclose(codes, module.source.encode(b["image"]))


@pytest.mark.parametrize("task", TASKS)
def test_every_task_trains_on_a_collection(make_cfg, task: str) -> None:
    cfg = make_cfg(*TINY, f"task={task}", "cond=film", "trainer.max_steps=4", "log.val_every_n_steps=2")
    train(cfg)
    run = Path(cfg.run_dir)
    m = json.loads((run / "metrics.json").read_text())
    assert m["step"] == 4
    for stage in ("val", "test"):
        assert f"{stage}/psnr_mean_image" in m and f"{stage}/ssim" in m
        if task in BASELINE_KEYS:
            assert f"{stage}/{BASELINE_KEYS[task]}" in m, sorted(m)
    for name in ("reconstruction.png", "progress.gif", "tto_curve.png"):
        assert (run / name).exists(), name


def test_conditional_inpainting_beats_the_mean_image(make_cfg) -> None:
    """A conditional model fills the missing pixels better than the mean image."""
    cfg = make_cfg(
        *TINY,
        "data.n_images=200",
        "data.batch_size=16",
        "data.n_test=16",
        "task=inpaint",
        "task.keep=0.3",
        "cond=film",
        "model.latent_source=autodecoder",
        "model.latent_dim=16",
        "trainer.max_steps=300",
        "log.val_every_n_steps=100",
        "model.lr=3e-3",
        "model.tto_steps=50",
    )
    train(cfg)
    m = json.loads((Path(cfg.run_dir) / "metrics.json").read_text())
    # measured 19.7 vs 15.7 dB, on the missing pixels only; TTO from the prior mean (~ the mean image) does it
    assert m["test/psnr"] > m["test/psnr_mean_image"] + 2.0, m
    assert m["test/psnr"] > m["test/psnr_tto0"] + 2.0, m


def test_a_collection_task_from_the_command_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = run_train([*TINY, "cond=film", "task=superres", "trainer.max_steps=4", f"hydra.run.dir={run}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((run / "metrics.json").read_text())
    assert {"test/psnr", "test/psnr_bicubic", "test/psnr_mean_image"} <= set(m)
