import numpy as np
import pytest
import torch

from nfields.core.coords import pixel_grid
from nfields.core.errors import ConfigError
from nfields.fields.encodings.hashgrid import HashGrid
from tests.tcnn_grid import level_sizes, tcnn_encode


def small(**kw) -> HashGrid:
    args = dict(n_levels=4, n_features_per_level=2, log2_hashmap_size=8, base_resolution=4, per_level_scale=2.0)
    return HashGrid(**{**args, **kw})


def test_out_dim_shape_and_levels() -> None:
    enc = small()
    assert enc.out_dim == 8
    assert enc.scale.tolist() == [3.0, 7.0, 15.0, 31.0]  # base * 2^l - 1 cells per axis (tcnn)
    assert enc.res.tolist() == [4, 8, 16, 32]  # ceil(scale) + 1 vertices per axis
    assert enc.dense.tolist() == [True, True, True, False]  # 32^2 = 1024 > 2^8 entries: hashed
    assert enc.table.shape == (16 + 64 + 256 + 256, 2)
    assert enc(torch.rand(3, 5, 2)).shape == (3, 5, 8)


def test_level_sizes_are_tcnn_s() -> None:
    """Dense levels round their vertex count up to a multiple of 8; hashed levels hold 2^log2_hashmap_size rows."""
    enc = HashGrid(n_levels=5, n_features_per_level=1, log2_hashmap_size=10, base_resolution=5, per_level_scale=1.7)
    expect = level_sizes(5, 10, 5, 1.7, d=2)
    assert list(zip(enc.res.tolist(), enc.sizes.tolist(), strict=True)) == expect
    assert enc.sizes.tolist() == [32, 88, 232, 632, 1024] and enc.table.shape == (2008, 1)


CASES = {
    "2d_dense_and_hashed": dict(n_levels=6, log2_hashmap_size=10, base_resolution=5, per_level_scale=1.7),
    "2d_whole_scales": dict(n_levels=4, log2_hashmap_size=8, base_resolution=4, per_level_scale=2.0),
    "3d_dense_and_hashed": dict(n_levels=4, log2_hashmap_size=12, base_resolution=4, per_level_scale=1.6, in_dim=3),
    "3d_whole_scales": dict(n_levels=3, log2_hashmap_size=9, base_resolution=4, per_level_scale=2.0, in_dim=3),
    "1d_dense_and_hashed": dict(n_levels=5, log2_hashmap_size=5, base_resolution=4, per_level_scale=2.0, in_dim=1),
    "1d_fractional_scales": dict(n_levels=6, log2_hashmap_size=4, base_resolution=3, per_level_scale=1.5, in_dim=1),
}


@pytest.mark.parametrize("case", CASES)
def test_matches_tiny_cuda_nn(case: str) -> None:
    """Features for random coordinates and a random table equal a direct port of tcnn's grid.h."""
    kw = CASES[case]
    d = kw.get("in_dim", 2)
    enc = HashGrid(n_features_per_level=2, **kw)
    assert enc.dense.any() and not enc.dense.all()  # both kinds of level are exercised
    rng = np.random.default_rng(0)
    table = rng.uniform(-1, 1, size=tuple(enc.table.shape)).astype(np.float32)
    x = rng.uniform(0, 1, size=(200, d)).astype(np.float32)
    x = np.concatenate([x, np.zeros((1, d)), np.ones((1, d)), np.full((1, d), 0.999)]).astype(np.float32)  # edges
    expect = tcnn_encode(x, table, **{k: v for k, v in kw.items() if k != "in_dim"})
    with torch.no_grad():
        enc.table.copy_(torch.from_numpy(table))
        got = enc(torch.from_numpy(x)).numpy()
    # tcnn's fp32 exp2f and nfields' double-then-fp32 scale can differ by an ulp: ~1e-5 in pos on the finest level
    np.testing.assert_allclose(got, expect, atol=1e-4)


def test_indices_stay_inside_each_level() -> None:
    enc = small()
    cell = torch.randint(0, 33, (4, 100, 2)).minimum(enc.res[:, None, None] - 1)  # corners up to one past the end
    idx = enc.index(cell)  # (L, N, 4)
    lo, hi = enc.offsets[:, None, None], (enc.offsets + enc.sizes)[:, None, None]
    assert ((idx >= lo) & (idx < hi)).all()


def test_vertex_lookup_and_bilinear_interpolation() -> None:
    """scale = 3 - 1 = 2 cells, 3 vertices per axis; vertex k sits at u = (k - 0.5) / 2 (tcnn's half-cell offset)."""
    enc = HashGrid(n_levels=1, n_features_per_level=1, log2_hashmap_size=10, base_resolution=3, per_level_scale=1.0)
    assert enc.table.shape == (16, 1)  # 3^2 = 9 vertices, rounded up to a multiple of 8
    with torch.no_grad():
        enc.table.copy_(torch.arange(16, dtype=torch.float32)[:, None])  # value = row-major vertex index
    # u = v = 0.25 is vertex (1, 1) exactly: index 1 + 1 * 3
    assert enc(torch.tensor([[0.25, 0.25]])).item() == pytest.approx(4.0)
    # u = 0.5, v = 0 lies halfway between vertices (1, 0), (2, 0), (1, 1), (2, 1): mean of 1, 2, 4, 5
    assert enc(torch.tensor([[0.5, 0.0]])).item() == pytest.approx(3.0)


def test_vertex_lookup_and_linear_interpolation_in_1d() -> None:
    """3 vertices along t, vertex k at t = (k - 0.5) / 2; table rows by vertex index (8 rows: 3 rounded up)."""
    enc = HashGrid(
        n_levels=1, n_features_per_level=1, log2_hashmap_size=10, base_resolution=3, per_level_scale=1.0, in_dim=1
    )
    assert enc.table.shape == (8, 1) and bool(enc.dense[0])
    with torch.no_grad():
        enc.table.copy_(torch.arange(8, dtype=torch.float32)[:, None])
    assert enc(torch.tensor([[0.25]])).item() == pytest.approx(1.0)  # vertex 1 exactly
    assert enc(torch.tensor([[0.5]])).item() == pytest.approx(1.5)  # halfway between vertices 1 and 2


def test_vertex_lookup_and_trilinear_interpolation_in_3d() -> None:
    """3^3 vertices, dense row i + 3 j + 9 k for vertex (i, j, k) along coordinates (0, 1, 2): coordinate 0 fastest."""
    enc = HashGrid(
        n_levels=1, n_features_per_level=1, log2_hashmap_size=10, base_resolution=3, per_level_scale=1.0, in_dim=3
    )
    assert enc.table.shape == (32, 1) and bool(enc.dense[0])  # 27 rounded up to a multiple of 8
    with torch.no_grad():
        enc.table.copy_(torch.arange(32, dtype=torch.float32)[:, None])
    assert enc(torch.tensor([[0.25, 0.25, 0.25]])).item() == pytest.approx(13.0)  # vertex (1, 1, 1)
    # pos = (1.5, 0.5, 1): vertices (1|2, 0|1, 1), rows 10, 11, 13, 14 with equal weights
    assert enc(torch.tensor([[0.5, 0.0, 0.25]])).item() == pytest.approx(12.0)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_gradients_reach_at_most_the_corners_of_each_level(d: int) -> None:
    enc = small(in_dim=d)
    x = torch.full((1, d), 0.41, requires_grad=True)
    enc(x).sum().backward()
    touched = (enc.table.grad.abs().sum(-1) > 0).sum().item()
    assert 4 <= touched <= 4 * 2**d  # 4 levels, 2^d corners each (hash collisions may merge some)
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_gradients_reach_only_looked_up_entries() -> None:
    enc = small()
    enc(torch.tensor([[0.3, 0.7]])).sum().backward()
    touched = (enc.table.grad.abs().sum(-1) > 0).sum().item()
    assert 0 < touched <= 4 * 4  # at most 4 corners per level


def test_fits_a_small_image_quickly() -> None:
    """A hash grid + linear head fits a high-frequency pattern a raw-coordinate linear model cannot."""
    torch.manual_seed(0)
    g = pixel_grid(32, 32).reshape(-1, 2)
    y = torch.sin(40 * g[:, :1]) * torch.cos(30 * g[:, 1:]) * 0.5 + 0.5  # (1024, 1)
    enc = small(log2_hashmap_size=12)
    head = torch.nn.Linear(enc.out_dim, 1)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(200):
        loss = ((head(enc(g)) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert -10 * torch.log10(loss).item() > 25


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"n_levels": 0}, "encoding.n_levels=0: must be an integer >= 1"),
        ({"n_features_per_level": 0}, "encoding.n_features_per_level=0: must be an integer >= 1"),
        ({"log2_hashmap_size": 0}, "encoding.log2_hashmap_size=0: must be an integer >= 1 and <= 30"),
        ({"log2_hashmap_size": 31}, "encoding.log2_hashmap_size=31: must be an integer >= 1 and <= 30"),
        ({"base_resolution": 1}, "encoding.base_resolution=1: must be an integer >= 2"),
        ({"per_level_scale": 0.5}, "encoding.per_level_scale=0.5: must be a number >= 1"),
        ({"in_dim": 4}, "encoding.in_dim=4: must be an integer >= 1 and <= 3"),
        ({"init_scale": -1.0}, "encoding.init_scale=-1.0: must be a number >= 0"),
    ],
)
def test_bad_parameters(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        small(**kw)
    assert str(e.value) == message
