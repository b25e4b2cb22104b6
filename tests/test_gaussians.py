"""field=gaussians: the tiled render equals the direct sum over every Gaussian, gradients reach every parameter,
the work is bounded by the chunk, 2 + 3 + C parameters per Gaussian, one-line errors, a short training run
through the real config, and its checkpoint rendered at twice the training size."""

from __future__ import annotations

import json
import math
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

import nfields.fields.splat as splat_module
from nfields.core.coords import pixel_grid
from nfields.core.errors import ConfigError
from nfields.fields.gaussians import GaussianField
from nfields.run.build import build_datamodule, build_field, build_module
from nfields.run.train import train
from tests.test_render import load_script

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def direct_sum(field: GaussianField, x: torch.Tensor, cut: bool = True) -> torch.Tensor:
    """Every point with every Gaussian, no tiles: x (P, 2) -> (P, C), by autograd."""
    mean, conic = field.means(), field.conics(field.covariances())  # (G, 2), (G, 3)
    d = x[:, None, :] - mean[None]  # (P, G, 2)
    s = 0.5 * (conic[:, 0] * d[..., 0] ** 2 + conic[:, 2] * d[..., 1] ** 2) + conic[:, 1] * d[..., 0] * d[..., 1]
    w = torch.exp(-s)
    if cut:
        w = torch.where(2 * s <= field.radius**2, w, torch.zeros_like(w))
    return w @ field.colour  # (P, C)


def points() -> torch.Tensor:
    """A 20 x 24 pixel grid, its 2x sub-pixel grid, and random points, some outside [0, 1]^2 -> (P, 2)."""
    gen = torch.Generator().manual_seed(1)
    rand = torch.rand(300, 2, generator=gen) * 1.4 - 0.2
    return torch.cat([pixel_grid(20, 24).reshape(-1, 2), pixel_grid(40, 48).reshape(-1, 2), rand])


def trained_like(field: GaussianField) -> GaussianField:
    """Spread the shapes (long thin, rotated, large) as training does, so the boxes overlap many tiles."""
    with torch.no_grad():
        gen = torch.Generator().manual_seed(2)
        field.cholesky.mul_(torch.rand(field.cholesky.shape, generator=gen) * 6)
        field.cholesky[:, 1].sub_(2.5)
    return field


@pytest.mark.parametrize("tiles, chunk", [(None, 4096), (1, 1 << 20), (7, 100), (64, 1000)])
def test_render_equals_the_direct_sum_over_every_gaussian(tiles: int | None, chunk: int) -> None:
    field = trained_like(GaussianField(3, n_gaussians=150, tiles=tiles, chunk=chunk))
    x = points()
    with torch.no_grad():
        assert torch.allclose(field(x), direct_sum(field, x), atol=1e-5)
        grid = field(pixel_grid(20, 24))  # (H, W, 2) coords: any leading shape
    assert grid.shape == (20, 24, 3)


def test_the_cut_is_gaussianimage_s_and_a_wide_radius_is_the_untruncated_sum() -> None:
    assert GaussianField(3, n_gaussians=4).radius == pytest.approx(math.sqrt(2 * math.log(255)), abs=1e-2)
    field = trained_like(GaussianField(3, n_gaussians=100, radius=10.0))
    x = points()
    with torch.no_grad():
        assert torch.allclose(field(x), direct_sum(field, x, cut=False), atol=1e-5)


def test_gradients_reach_every_parameter_and_equal_the_direct_sum_s() -> None:
    field = trained_like(GaussianField(3, n_gaussians=120, chunk=500))
    x, target = points(), torch.rand(points().shape[0], 3)
    ((field(x) - target) ** 2).sum().backward()
    tiled = {n: p.grad.clone() for n, p in field.named_parameters()}
    field.zero_grad()
    ((direct_sum(field, x) - target) ** 2).sum().backward()
    assert set(tiled) == {"xy", "cholesky", "colour"}
    for name, p in field.named_parameters():
        assert torch.allclose(tiled[name], p.grad, rtol=1e-3, atol=1e-3 * p.grad.abs().max()), name
        assert (tiled[name].abs().sum(-1) > 0).float().mean() > 0.9, name  # nearly every Gaussian is reached


def test_a_collapsed_gaussian_stays_finite() -> None:
    """A needle (L -> 0, as a large learning rate drives some): no inf or NaN in values or gradients."""
    field = GaussianField(3, n_gaussians=50)
    with torch.no_grad():
        field.cholesky[:5] = -field.bound  # L = 0: Sigma is the floor EPS * I
        field.cholesky[5:10, 0] = -0.5  # l11 = 0
    x = torch.cat([points(), field.means().detach()])  # also exactly at the centres
    out = field(x)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in field.parameters())


def test_work_is_bounded_by_the_chunk_not_gaussians_times_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block the forward and backward evaluate holds at most `chunk` pairs (or one tile's block),
    and all blocks together far fewer than points x Gaussians."""
    sizes: list[int] = []
    weights = splat_module.weights

    def spy(x: torch.Tensor, rows: torch.Tensor, r2: float):
        sizes.append(x.shape[0] * x.shape[1] * rows.shape[1])  # B * M * N pairs
        return weights(x, rows, r2)

    monkeypatch.setattr(splat_module, "weights", spy)
    chunk, n = 2000, 2000
    field = GaussianField(3, n_gaussians=n, chunk=chunk)
    x = pixel_grid(64, 64).reshape(-1, 2)
    field(x).sum().backward()
    mean, cov = field.means().detach(), field.covariances().detach()
    half = field.radius * cov[:, [0, 2]].sqrt()
    plan = splat_module.plan(x, mean - half, mean + half, field.tile_count(half), chunk)
    largest_tile = max(mm * nn for _, _, mm, nn in plan.batches)
    assert len(sizes) == 2 * len(plan.batches) > 2  # forward and backward, many chunks
    assert max(sizes) <= max(chunk, largest_tile) and largest_tile < chunk
    assert sum(sizes) / 2 < 0.05 * x.shape[0] * n


@pytest.mark.parametrize("channels", [1, 3])
def test_two_plus_three_plus_c_numbers_per_gaussian(channels: int) -> None:
    field = GaussianField(channels, n_gaussians=37)
    assert sum(p.numel() for p in field.parameters()) == 37 * (5 + channels)  # 8 per Gaussian for RGB
    assert all(p.requires_grad for p in field.parameters())
    assert [b for b, _ in field.named_buffers()] == ["bound"]  # GaussianImage's cholesky_bound; no opacity


@pytest.mark.parametrize(
    "key, value, allowed",
    [
        ("n_gaussians", 0, "an integer >= 1"),
        ("init", "grd", "one of random, grid"),
        ("init_scale", -1.0, "a number > 0"),
        ("radius", 0, "a number in (0, 10]"),
        ("tiles", 0, "an integer >= 1 and <= 1024, or null"),
        ("chunk", 2.5, "an integer >= 1"),
    ],
)
def test_a_bad_argument_is_one_line_naming_the_key(key: str, value, allowed: str) -> None:
    with pytest.raises(ConfigError) as e:
        GaussianField(3, **{key: value})
    assert str(e.value) == f"field.{key}={value}: must be {allowed}"


def test_a_bad_argument_typed_on_the_command_line_stops_the_build(make_cfg) -> None:
    with pytest.raises(ConfigError, match=r"^field.n_gaussians=-3: must be an integer >= 1$"):
        build_field(make_cfg("debug=fast", "field=gaussians", "field.n_gaussians=-3"), out_dim=3)


def test_conditioning_is_refused_in_one_line_naming_the_fix(make_cfg) -> None:
    with pytest.raises(ConfigError) as e:
        build_field(make_cfg("debug=fast", "field=gaussians", "cond=film"), out_dim=3)
    assert str(e.value) == "cond=film: field=gaussians has no latent code to condition: use cond=none (or field=neural)"


def test_grid_init_spreads_the_gaussians_one_per_cell() -> None:
    field = GaussianField(3, n_gaussians=100, init="grid")
    cells = (field.means() * 10).floor().long()
    assert len({(int(u), int(v)) for u, v in cells}) == 100
    assert torch.equal(GaussianField(3, n_gaussians=100, seed=3).xy, GaussianField(3, n_gaussians=100, seed=3).xy)


def test_training_raises_psnr_and_the_checkpoint_renders_at_twice_the_size(make_cfg, tmp_path: Path) -> None:
    over = ["debug=fast", "logger=none", "field=gaussians", "field.n_gaussians=300", "~callbacks.progress_gif"]
    cfg = make_cfg(*over)
    assert cfg.model.lr == 1e-2  # the field's yaml sets the optimisation (debug=fast: at a constant lr)
    assert make_cfg("field=gaussians", "trainer.max_steps=30").model.scheduler.total_steps == 30
    module = build_module(cfg, build_datamodule(cfg))
    before = -10 * math.log10(float(((module.render() - module.clean) ** 2).mean()))  # the untrained field
    train(cfg)
    metrics = json.loads((Path(cfg.run_dir) / "metrics.json").read_text())
    assert metrics["val/psnr"] > before + 3
    assert metrics["model/params"] == 300 * 8
    ckpt = Path(cfg.run_dir) / "checkpoints" / "last.ckpt"
    out = load_script("render").main([str(ckpt), "--size", "48", "--device", "cpu", "--out", str(tmp_path / "2x.png")])
    big = torch.from_numpy(iio.imread(out)).float()  # (48, 48, 3)
    assert big.shape == (48, 48, 3)
    small = torch.from_numpy(iio.imread(Path(cfg.run_dir) / "prediction.png")).float()  # (24, 24, 3)
    blocks = big.reshape(24, 2, 24, 2, 3).mean((1, 3))  # 2x2 blocks ~ the pixel they subdivide
    assert (blocks - small).abs().mean() < 0.1 * (small - small.mean()).abs().mean()


def tiny_gaussians(n: int, sigma: float, tiles: int) -> GaussianField:
    """n Gaussians of standard deviation sigma..2 sigma ([0, 1] units; 1e-4 is the EPS floor's), each with its
    own output channel (colour = identity), so the render (P, n) is every (point, Gaussian) weight."""
    field = GaussianField(n, n_gaussians=n, tiles=tiles, seed=4)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        l_raw = sigma / field.unit * (torch.rand(n, 3, generator=gen) + torch.tensor([1.0, -0.5, 1.0]))
        field.cholesky.copy_(l_raw - field.bound)  # L = (cholesky + bound) * unit = sigma * (1 + U, U - 0.5, 1 + U)
        field.colour.copy_(torch.eye(n))
    return field


@pytest.mark.parametrize("sigma", [1e-4, 1e-3])
def test_tiny_gaussians_with_coarse_tiles_weigh_as_in_fp64(sigma: float) -> None:
    """With tiles=1 a point and a Gaussian lie up to 0.5 from the tile's centre: a quadratic form expanded
    about that far origin cancels ~(0.5 / sigma)^2 in fp32 (weights off by 0.6 at sigma 1e-4). Each pair's
    own offset keeps every weight within 1e-5 of the same splat in fp64."""
    n = 16
    field = tiny_gaussians(n, sigma, tiles=1)
    mean, cov = field.means().detach(), field.covariances().detach()  # (G, 2), (G, 3) fp32
    gen = torch.Generator().manual_seed(5)
    near = mean[:, None] + 1.5 * cov[:, None, [0, 2]].sqrt() * torch.randn(n, 64, 2, generator=gen)  # (G, 64, 2)
    x = near.reshape(-1, 2)  # (P, 2) points within a few sigma of each Gaussian
    with torch.no_grad():
        w = field(x).double()  # (P, G) fp32 weights
    # the reference: the same fp32 inputs (points, means, conics), every step in fp64
    d = x.double()[:, None] - mean.double()[None]  # (P, G, 2)
    a, b, c = field.conics(cov).double().unbind(-1)  # (G,) each
    s = 0.5 * (a * d[..., 0] ** 2 + c * d[..., 1] ** 2) + b * d[..., 0] * d[..., 1]  # (P, G)
    ref = torch.where(2 * s <= field.radius**2, torch.exp(-s), torch.zeros_like(s))
    inside = (2 * s - field.radius**2).abs() > 1e-3  # leave out the pairs on the cut itself
    assert (ref > 0.5).sum() > 50  # many pairs near the centres are tested
    assert (w - ref)[inside].abs().max() < 1e-5


def test_tiny_gaussians_with_coarse_tiles_have_the_fp64_gradients() -> None:
    """The backward's moments sum_m ds (x - mean)^k over a tile's points come from the same per-pair offsets:
    expanded about the tile's centre they cancel as the weights did (shape gradients off by half their scale)."""
    n = 16
    field = tiny_gaussians(n, 3e-4, tiles=1)
    gen = torch.Generator().manual_seed(6)
    mean, cov = field.means().detach(), field.covariances().detach()
    x = (mean[:, None] + 1.5 * cov[:, None, [0, 2]].sqrt() * torch.randn(n, 64, 2, generator=gen)).reshape(-1, 2)
    target = torch.rand(x.shape[0], n, generator=gen)
    ((field(x) - target) ** 2).sum().backward()
    tiled = {k: p.grad.clone() for k, p in field.named_parameters()}
    field.zero_grad()
    field.double()
    ((direct_sum(field, x.double()) - target.double()) ** 2).sum().backward()  # every step in fp64, by autograd
    for k, p in field.named_parameters():
        assert torch.allclose(tiled[k].double(), p.grad, rtol=1e-3, atol=1e-3 * p.grad.abs().max()), k
