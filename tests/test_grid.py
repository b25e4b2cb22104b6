"""encoding=grid (a dense bilinear feature grid with TV) and network=linear: geometry, TV, training objective, runs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch
import torch.nn.functional as F

from nfields.core.coords import pixel_grid
from nfields.core.errors import ConfigError
from nfields.fields.encodings.grid import TV_EPS, Grid
from nfields.fields.networks.linear import Linear
from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train
from tests.test_render import load_script

GRID = ["encoding=grid", "network=linear", "logger=none"]
SYNTHETIC = ["debug=fast", "data=synthetic", "data.n_images=16", "data.size=8", "data.batch_size=4", "data.n_val=4"]
SYNTHETIC += ["data.n_test=4", "model.latent_dim=4", "model.tto_steps=3", "model.val_tto_steps=1"]


class _OneProcess:
    """What FieldModule reads of its Trainer, for calling its loss without Lightning (not a logging step)."""

    world_size, global_rank, global_step, log_every_n_steps = 1, 0, 0, 50


def test_out_dim_shape_levels_and_parameter_count() -> None:
    enc = Grid(resolution=20, n_levels=3, n_features_per_level=2)
    assert enc.resolutions == [5, 10, 20] and enc.out_dim == 6  # finest = resolution, halved per level
    assert enc(torch.rand(3, 7, 2)).shape == (3, 7, 6)
    head = Linear(in_dim=enc.out_dim, n_neurons=32, n_hidden_layers=2)  # debug=fast's sizes: unused
    assert len(head.hidden) == 0 and head(torch.rand(4, 6)).shape == (4, 3)
    n = sum(p.numel() for p in [*enc.parameters(), *head.parameters()])
    assert n == (25 + 100 + 400) * 2 + (6 * 3 + 3)  # the vertices' features + the affine head, nothing padded


def test_field_parameters_are_the_grid_and_the_head(make_cfg) -> None:
    cfg = make_cfg("debug=fast", *GRID, "encoding.resolution=16", "encoding.n_levels=2")
    field = build_module(cfg, build_datamodule(cfg)).field
    assert sum(p.numel() for p in field.parameters()) == (8 * 8 + 16 * 16) * 4 + (8 * 3 + 3)


def test_geometry_is_grid_sample_with_pixel_centre_vertices() -> None:
    """Vertex (i, j) at ((j + .5) / r, (i + .5) / r), border clamp: grid_sample(align_corners=False, border)."""
    torch.manual_seed(0)
    enc = Grid(resolution=7, n_features_per_level=3)
    x = torch.cat([torch.rand(300, 2), torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.03, 0.99]])])
    img = enc.level(0).permute(2, 0, 1)[None]  # (1, F, r, r)
    ref = F.grid_sample(img, (2 * x - 1)[None, None], mode="bilinear", align_corners=False, padding_mode="border")
    with torch.no_grad():
        torch.testing.assert_close(enc(x), ref[0, :, 0].t(), atol=1e-6, rtol=0)


def test_resolution_of_the_image_side_reproduces_the_image_at_its_pixels() -> None:
    image = torch.rand(12, 12, 3)
    enc = Grid(resolution=12, n_features_per_level=3)
    with torch.no_grad():
        enc.table.copy_(image.reshape(-1, 3))  # identity features: the grid holds the image
        out = enc(pixel_grid(12, 12))  # (12, 12, 3) at the pixel centres
    torch.testing.assert_close(out, image, atol=1e-6, rtol=0)


def test_bilinear_interpolation_is_exact_on_a_ramp() -> None:
    """Features a + b j + c i (a plane over vertex indices) are reproduced exactly anywhere inside the vertices."""
    r = 5
    enc = Grid(resolution=r, n_features_per_level=1)
    i, j = torch.meshgrid(torch.arange(r), torch.arange(r), indexing="ij")
    with torch.no_grad():
        enc.table.copy_((0.25 + 0.5 * j + 0.125 * i).reshape(-1, 1).float())
        x = torch.rand(200, 2) * (1 - 1 / r) + 0.5 / r  # inside [0.5 / r, 1 - 0.5 / r]^2
        pos = x * r - 0.5  # (200, 2) vertex units (u -> j, v -> i)
        torch.testing.assert_close(enc(x)[:, 0], 0.25 + 0.5 * pos[:, 0] + 0.125 * pos[:, 1], atol=1e-6, rtol=0)
        assert enc(torch.tensor([[0.0, 0.0]])).item() == pytest.approx(0.25)  # clamped to vertex (0, 0)
        assert enc(torch.tensor([[1.0, 1.0]])).item() == pytest.approx(0.25 + 0.5 * 4 + 0.125 * 4)


def test_gradients_reach_the_four_corners_of_each_level() -> None:
    enc = Grid(resolution=16, n_levels=3)
    enc(torch.tensor([[0.31, 0.67]])).sum().backward()
    touched = enc.table.grad.abs().sum(-1) > 0
    assert touched.sum().item() == 4 * 3


def test_total_variation_zero_for_a_constant_grid_positive_otherwise_and_differentiable() -> None:
    enc = Grid(resolution=6, n_levels=2, tv_weight=0.5)
    with torch.no_grad():
        enc.table.fill_(0.7)
    assert enc.total_variation().item() == 0.0 and enc.regularization().item() == 0.0
    enc.regularization().backward()
    assert torch.equal(enc.table.grad, torch.zeros_like(enc.table))  # flat: below the benchmark's clamp
    enc = Grid(resolution=4, n_features_per_level=1, tv_weight=0.5)
    with torch.no_grad():
        enc.table.copy_(torch.arange(4.0).repeat(4)[:, None] * 0.2)  # a ramp along u: du = 0.2, dv = 0
    assert enc.total_variation().item() == pytest.approx(0.2 - TV_EPS)  # isotropic |grad|, minus the floor
    assert enc.regularization().item() == pytest.approx(0.5 * (0.2 - TV_EPS))
    torch.manual_seed(0)
    enc = Grid(resolution=8, n_levels=2, tv_weight=1e-2)
    reg = enc.regularization()
    assert reg.item() > 0 and reg.requires_grad
    reg.backward()
    assert enc.table.grad.abs().sum() > 0 and torch.isfinite(enc.table.grad).all()


def test_no_tv_is_the_constant_zero() -> None:
    reg = Grid(resolution=8).regularization()
    assert reg.item() == 0.0 and not reg.requires_grad  # the modules add it and log nothing


def test_the_regularizer_is_in_the_training_loss(make_cfg) -> None:
    """FieldModule.loss = the task's data term + the field's TV, exactly (full batch: the same pixels)."""
    cfg = make_cfg("debug=fast", *GRID, "encoding.resolution=8", "encoding.tv_weight=0.3", "data.batch_size=null")
    module = build_module(cfg, build_datamodule(cfg))
    module.trainer = _OneProcess()  # type: ignore[assignment]
    loss = module.loss()
    data = module.task.loss(module.field, module.pixels.every(0, 1))  # every observed pixel
    tv = module.field.encoding.regularization()
    assert tv.item() > 0 and module.field.regularization().item() == tv.item()
    assert loss.item() == pytest.approx(data.item() + tv.item(), rel=1e-6, abs=0)
    loss.backward()
    assert module.field.encoding.table.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"resolution": 1}, "encoding.resolution=1: must be an integer >= 2"),
        ({"n_levels": 0}, "encoding.n_levels=0: must be an integer >= 1"),
        ({"n_features_per_level": 0}, "encoding.n_features_per_level=0: must be an integer >= 1"),
        ({"per_level_scale": 0.5}, "encoding.per_level_scale=0.5: must be a number >= 1"),
        ({"init_scale": -1.0}, "encoding.init_scale=-1.0: must be a number >= 0"),
        ({"tv_weight": -0.1}, "encoding.tv_weight=-0.1: must be a number >= 0"),
        ({"in_dim": 4}, "encoding.in_dim=4: must be an integer >= 1 and <= 3"),
        ({"in_dim": 0}, "encoding.in_dim=0: must be an integer >= 1 and <= 3"),
    ],
)
def test_bad_parameters(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        Grid(**kw)
    assert str(e.value) == message


def test_linear_head_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="network.output_activation=relu: must be one of"):
        Linear(in_dim=4, output_activation="relu")
    with pytest.raises(TypeError, match="w0"):
        Linear(in_dim=4, w0=30.0)


def psnr_before(cfg) -> float:
    module = build_module(cfg, build_datamodule(cfg))
    with torch.no_grad():
        return (-10 * torch.log10(((module.render() - module.clean) ** 2).mean())).item()


@pytest.mark.parametrize("head", [["network=linear"], ["network=mlp", "network.n_neurons=16"]])
def test_a_short_fit_raises_psnr_logs_the_tv_and_renders_at_twice_the_size(make_cfg, tmp_path: Path, head) -> None:
    over = ["debug=fast", *GRID, *head, "logger=csv", "encoding.resolution=16", "encoding.n_levels=2"]
    cfg = make_cfg(
        *over, "encoding.tv_weight=1e-3", "model.lr=3e-2", "trainer.max_steps=50", "trainer.log_every_n_steps=5"
    )
    torch.manual_seed(cfg.seed)
    before = psnr_before(cfg)
    train(cfg)
    run = Path(cfg.run_dir)
    after = json.loads((run / "metrics.json").read_text())["test/psnr"]
    assert after > before + 5, (before, after)
    rows = list(csv.DictReader(open(run / "csv" / "metrics.csv")))
    assert any(float(r["train/reg"]) > 0 for r in rows if r.get("train/reg"))
    for r in (r for r in rows if r.get("train/reg")):  # train/psnr scores the data term, not the penalty
        data = float(r["train/loss"]) - float(r["train/reg"])
        assert float(r["train/psnr"]) == pytest.approx(-10 * math.log10(data), abs=1e-3)
    out = load_script("render").main([str(run / "checkpoints" / "last.ckpt"), "--size", "48", "--device", "cpu"])
    assert iio.imread(out).shape == (48, 48, 3)  # 2x the 24^2 training resolution


def test_a_conditional_grid_trains_on_a_collection(make_cfg) -> None:
    """encoding=grid + network=mlp + cond=film: one shared grid, the codes modulate the MLP; TV enters the loss."""
    over = [*SYNTHETIC, "encoding=grid", "network=mlp", "network.n_neurons=16", "cond=film", "logger=csv"]
    over += ["encoding.resolution=8", "encoding.tv_weight=1e-3", "model.latent_source=autodecoder"]
    cfg = make_cfg(*over, "model.lr=1e-2", "trainer.max_steps=30", "trainer.log_every_n_steps=1")
    train(cfg)
    run = Path(cfg.run_dir)
    m = json.loads((run / "metrics.json").read_text())
    assert m["test/psnr"] > 10
    rows = list(csv.DictReader(open(run / "csv" / "metrics.csv")))
    assert any(float(r["train/reg"]) > 0 for r in rows if r.get("train/reg"))


def test_film_refuses_a_network_without_hidden_layers(make_cfg) -> None:
    """network=linear has no hidden pre-activation: FiLM would silently ignore the code."""
    cfg = make_cfg("debug=fast", "data=synthetic", "logger=none", "encoding=grid", "network=linear", "cond=film")
    with pytest.raises(ConfigError, match="cond=film: modulates hidden layers, and this network has none"):
        build_module(cfg, build_datamodule(cfg))
