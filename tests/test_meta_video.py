"""Meta-learning on collections of videos (data=video_collection, generated clips of moving shapes, 4 frames of
8x8): model.latent_source=meta and model=learnit train, evaluate unseen clips and write their outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nfields.fields.latents.meta import MetaSource
from nfields.run.build import load_checkpoint
from tests.test_collections import trained_metrics

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: small products, a loaded machine
VIDEOS = ["debug=fast", "logger=none", "data=video_collection", "data.size=8", "data.frames=4"]


def test_meta_codes_fit_unseen_clips(make_cfg) -> None:
    over = ["cond=film", "cond.identity_init=false", "model.latent_source=meta", "model.lr=1e-2"]
    over += ["model.sources.meta.step_init=0.1", "encoding.n_features=32", "trainer.max_steps=80"]
    cfg = make_cfg(*VIDEOS, *over, "log.val_every_n_steps=80")
    m = trained_metrics(cfg)
    assert m["test/psnr"] == m["test/psnr_step3"]  # unseen clips: 3 inner steps from zero codes
    assert m["test/psnr_step3"] > m["test/psnr_step0"] + 1, m  # 15.4 -> 17.1 dB here
    assert m["test/psnr_step3"] > m["test/psnr_mean_image"] + 0.5, m  # 15.7 dB: the mean training clip
    run = Path(cfg.run_dir)
    assert all((run / f).exists() for f in ("reconstruction.png", "prediction.png", "tto_curve.png"))
    module = load_checkpoint(run / "checkpoints" / "last.ckpt")  # the learned step sizes come back with it
    assert isinstance(module.source, MetaSource) and module.image_shape == (4, 8, 8)
    assert not torch.equal(module.source.step_sizes, torch.full_like(module.source.step_sizes, 0.1))


def test_learnit_init_fits_unseen_clips(make_cfg) -> None:
    over = ["model=learnit", "model.step_sizes=per_layer", "model.test_steps=[0,2,5]", "trainer.max_steps=30"]
    m = trained_metrics(make_cfg(*VIDEOS, *over, "log.val_every_n_steps=30"))
    assert m["test/psnr_meta_step2"] > m["test/psnr_meta_step0"], m  # 15.61 -> 15.73 dB here
    assert m["test/psnr_meta_step2"] > m["test/psnr_std_step5"] + 0.3, m  # 15.73 against 14.92 dB here
