"""encoding=grid in 1-D and 3-D (audio, video, volumes): geometry against numpy references, the vertex layout
against nfields/core/coords.py, TV per axis, gradients; the 2-D path against the general one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nfields.core.coords import cell_grid
from nfields.fields.encodings.grid import TV_EPS, Grid


def numpy_multilinear(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """values (r,) * d + (F,) on vertices at (i + 0.5) / r, array axis a = coordinate d - 1 - a; x (N, d) ->
    (N, F): clamp to the outermost vertices per axis, then blend the 2^d corners (float64, one point at a time)."""
    d, r = x.shape[1], values.shape[0]
    out = np.zeros((x.shape[0], values.shape[-1]))
    for n, point in enumerate(x.astype(np.float64)):
        pos = np.clip(point * r - 0.5, 0, r - 1)  # (d,) in vertex units, coordinate order
        lo = np.minimum(np.floor(pos), r - 2).astype(int)
        frac = pos - lo
        for bits in itertools.product((0, 1), repeat=d):  # bits[k]: upper corner along coordinate k
            weight = np.prod([f if b else 1 - f for f, b in zip(frac, bits, strict=True)])
            vertex = tuple(lo[k] + bits[k] for k in reversed(range(d)))  # array index: last coordinate first
            out[n] += weight * values[vertex]
    return out


def points(d: int, n: int = 300) -> torch.Tensor:
    """Random points in [0, 1]^d plus the corners of the cube and points near its faces (border clamping)."""
    gen = torch.Generator().manual_seed(d)
    corners = torch.tensor(list(itertools.product((0.0, 1.0), repeat=d)))
    return torch.cat([torch.rand(n, d, generator=gen), corners, torch.full((1, d), 0.02), torch.full((1, d), 0.99)])


@pytest.mark.parametrize("d", [1, 3])
def test_matches_a_numpy_multilinear_reference(d: int) -> None:
    enc = Grid(resolution=6, n_levels=2, n_features_per_level=3, in_dim=d)
    x = points(d)
    with torch.no_grad():
        got = enc(x).double().numpy()  # (N, L * F), coarse level first
    for lvl in range(2):
        expect = numpy_multilinear(enc.level(lvl).detach().double().numpy(), x.numpy())
        np.testing.assert_allclose(got[:, 3 * lvl : 3 * lvl + 3], expect, atol=1e-6, rtol=0)


def test_1d_is_numpy_interp() -> None:
    """Linear interpolation through the vertices at (i + 0.5) / r, the border value kept beyond them."""
    enc = Grid(resolution=9, n_features_per_level=1, in_dim=1)
    x = points(1)
    with torch.no_grad():
        got = enc(x)[:, 0].numpy()
    values = enc.table[:, 0].detach().numpy()
    expect = np.interp(x[:, 0].numpy(), (np.arange(9) + 0.5) / 9, values)
    np.testing.assert_allclose(got, expect, atol=1e-6, rtol=0)


def test_3d_is_trilinear_grid_sample() -> None:
    """The 5-D F.grid_sample (align_corners=False, border), whose last grid coordinate indexes depth."""
    enc = Grid(resolution=5, n_features_per_level=2, in_dim=3)
    x = points(3)
    vol = enc.level(0).permute(3, 0, 1, 2)[None]  # (1, F, D, H, W)
    ref = F.grid_sample(vol, (2 * x - 1)[None, None, None], mode="bilinear", align_corners=False, padding_mode="border")
    with torch.no_grad():
        torch.testing.assert_close(enc(x), ref[0, :, 0, 0].t(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape", [(7,), (6, 6), (4, 4, 4)])
def test_a_grid_holding_a_signal_reproduces_it_at_its_cell_centres(shape: tuple[int, ...]) -> None:
    """The table's layout (level()) and the coordinates' order (cell_grid) are the same convention in every d."""
    signal = torch.rand(*shape, 2)
    enc = Grid(resolution=shape[0], n_features_per_level=2, in_dim=len(shape))
    with torch.no_grad():
        enc.table.copy_(signal.reshape(-1, 2))
        assert torch.equal(enc.level(0), signal)
        torch.testing.assert_close(enc(cell_grid(shape)), signal, atol=1e-6, rtol=0)


def test_the_2d_path_equals_the_general_one() -> None:
    """Images take the written-out bilinear path; the d-D path gives the same numbers on them."""
    enc = Grid(resolution=7, n_levels=3, n_features_per_level=3)
    x = points(2, 2000)
    with torch.no_grad():
        torch.testing.assert_close(enc.multilinear(x), enc.bilinear(x), atol=1e-7, rtol=0)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_sizes_out_dim_and_gradients_of_the_corners(d: int) -> None:
    enc = Grid(resolution=8, n_levels=2, n_features_per_level=2, in_dim=d)
    assert enc.table.shape == (4**d + 8**d, 2) and enc.out_dim == 4
    assert enc(torch.rand(3, 5, d)).shape == (3, 5, 4)
    x = torch.full((1, d), 0.37, requires_grad=True)
    enc(x).sum().backward()
    assert (enc.table.grad.abs().sum(-1) > 0).sum().item() == 2 * 2**d  # 2^d corners on each level
    assert x.grad is not None and torch.isfinite(x.grad).all()


def numpy_tv(g: np.ndarray) -> float:
    """Isotropic TV of one level (r,) * d + (F,): forward differences along every axis, clamped, minus eps."""
    d = g.ndim - 1
    inner = g[(slice(None, -1),) * d]
    sq = sum(
        (np.diff(g, axis=a)[tuple(slice(None, -1) if b != a else slice(None) for b in range(d))]) ** 2 for a in range(d)
    )
    return float((np.sqrt(np.maximum(sq, TV_EPS**2)) - TV_EPS).mean()) if inner.size else 0.0


@pytest.mark.parametrize("d", [1, 2, 3])
def test_total_variation_is_per_axis_in_every_d(d: int) -> None:
    torch.manual_seed(d)
    enc = Grid(resolution=5, n_levels=2, n_features_per_level=2, tv_weight=0.5, in_dim=d)
    expect = np.mean([numpy_tv(enc.level(lvl).detach().double().numpy()) for lvl in range(2)])
    assert enc.total_variation().item() == pytest.approx(expect, rel=1e-5)
    reg = enc.regularization()
    assert reg.item() == pytest.approx(0.5 * expect, rel=1e-5) and reg.requires_grad
    reg.backward()
    assert enc.table.grad.abs().sum() > 0 and torch.isfinite(enc.table.grad).all()
    with torch.no_grad():  # a ramp along the first coordinate: |grad| = the step, in every d
        ramp = cell_grid((5,) * d)[..., :1] * 5 * 0.2  # (5,) * d + (1,): 0.2 per vertex along coordinate 0
        flat = Grid(resolution=5, n_features_per_level=1, in_dim=d)
        flat.table.copy_(ramp.reshape(-1, 1))
    assert flat.total_variation().item() == pytest.approx(0.2 - TV_EPS, rel=1e-5)


def test_2d_total_variation_is_the_written_out_formula() -> None:
    """sqrt(du^2 + dv^2) over vertices with a right and a lower neighbour, exactly (the same float operations)."""
    torch.manual_seed(0)
    enc = Grid(resolution=6, n_features_per_level=3)
    g = enc.level(0).detach()
    du, dv = g[:-1, 1:] - g[:-1, :-1], g[1:, :-1] - g[:-1, :-1]
    assert torch.equal(enc.total_variation().detach(), ((du**2 + dv**2).clamp(min=TV_EPS**2).sqrt() - TV_EPS).mean())


@pytest.mark.parametrize("d", [2, 3])
def test_grid_sample_and_the_gathers_agree(d: int) -> None:
    """The plain case (no gradient in x) runs F.grid_sample; a gradient in x the gathers (differentiable twice):
    the same values and the same gradients in the table, to float rounding, on every level."""
    enc = Grid(resolution=6, n_levels=3, n_features_per_level=2, in_dim=d)
    x = points(d, 500)
    assert enc.sampled(x) and not enc.sampled(x.clone().requires_grad_())
    weights = torch.randn(x.shape[0], enc.out_dim, generator=torch.Generator().manual_seed(5))
    sampled = enc(x)
    (sampled * weights).sum().backward()
    grad_sampled, enc.table.grad = enc.table.grad, None
    gathered = enc(x.clone().requires_grad_())
    (gathered * weights).sum().backward()
    torch.testing.assert_close(sampled, gathered, atol=1e-6, rtol=0)
    torch.testing.assert_close(grad_sampled, enc.table.grad, atol=1e-5, rtol=1e-5)
