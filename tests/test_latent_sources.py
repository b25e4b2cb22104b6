"""Latent sources (autodecoder codes, the CNN encoder) and test-time optimisation of codes."""

from __future__ import annotations

import pytest
import torch

from nfields.fields.latents.encoder import Encoder
from nfields.lit.collection import CollectionModule
from nfields.lit.tto import optimize_codes
from nfields.run.build import build_datamodule, build_module
from nfields.tasks.base import Observation
from nfields.tasks.fit import Fit
from tests.test_collections import TINY, batch


def test_autodecoder_codes_receive_gradients(make_cfg) -> None:
    cfg = make_cfg(*TINY, "cond=film", "model.latent_source=autodecoder")
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    assert isinstance(module, CollectionModule) and module.source.codes.weight.shape == (dm.n_train, 4)
    b = batch(dm)
    idx = b["index"]
    module.training_step(b, 0).backward()
    grad = module.source.codes.weight.grad
    assert grad[idx].abs().sum(1).gt(0).all()  # every code in the batch learns ...
    assert grad[4:].abs().sum() == 0  # ... and only those


def test_encoder_maps_images_to_codes() -> None:
    enc = Encoder(code_dim=10, n_train=5, channels=3)
    images = torch.rand(4, 12, 12, 3, requires_grad=True)
    codes = enc(torch.arange(4), images)
    assert codes.shape == (4, 10)
    codes.sum().backward()
    assert images.grad.abs().sum() > 0


def test_an_unknown_latent_source_is_one_line(make_cfg) -> None:
    cfg = make_cfg(*TINY, "cond=concat", "model.latent_source=nope")
    with pytest.raises(ValueError, match="model.latent_source=nope: must be one of autodecoder, encoder, meta"):
        build_module(cfg, build_datamodule(cfg))


@pytest.mark.parametrize("source", ["autodecoder", "encoder"])
def test_tto_fits_codes_with_the_network_frozen(make_cfg, source: str) -> None:
    cfg = make_cfg(*TINY, "cond=concat", f"model.latent_source={source}")
    torch.manual_seed(0)  # the initialisation, not what earlier tests left (+0.5 to +1.1 dB over seeds 0-7)
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    images = batch(dm, "test")["image"]
    res = optimize_codes(module.field, module.source, Fit(), images, steps=30, lr=5e-2)
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed during test-time optimisation"
    assert all(p.requires_grad for p in module.parameters())  # unfrozen again afterwards
    assert res.curve[0][0] == 0 and res.curve[-1][0] == 30
    assert res.curve[-1][1] > res.curve[0][1] + 0.2, res.curve  # the codes fit the images (untrained network)
    assert res.pred.shape == images.shape and res.psnr.shape == (4,)


def test_tto_uses_only_the_observed_pixels(make_cfg) -> None:
    cfg = make_cfg(*TINY, "cond=concat")
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    images = batch(dm, "test")["image"]
    mask = torch.zeros(images.shape[:3], dtype=torch.bool)
    mask[:, :, :4] = True  # the left half is observed
    garbage = images.clone()
    garbage[~mask] = torch.rand_like(garbage[~mask])

    def fit(imgs: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
        observed = None  # every pixel
        if m is not None:  # the pixels of each image's mask, as a task observes them (row-major)
            each = [Observation(im[k], train_mask=k, display=im * k[..., None]) for im, k in zip(imgs, m, strict=True)]
            observed = Observation.stack(each)
        return optimize_codes(module.field, module.source, Fit(), imgs, steps=5, observed=observed).codes

    assert torch.allclose(fit(images, mask), fit(garbage, mask), atol=1e-6)
    assert not torch.allclose(fit(images, mask), fit(images, None))
