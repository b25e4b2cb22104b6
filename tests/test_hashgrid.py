import pytest
import torch

from nfields.fields.encodings.hashgrid import HashGrid


def small(**kw) -> HashGrid:
    args = dict(n_levels=4, n_features_per_level=2, log2_hashmap_size=8, base_resolution=4, per_level_scale=2.0)
    return HashGrid(**{**args, **kw})


def test_out_dim_shape_and_levels() -> None:
    enc = small()
    assert enc.out_dim == 8
    assert enc.res.tolist() == [4, 8, 16, 32]
    assert enc.dense.tolist() == [True, True, True, False]  # 32^2 = 1024 > 2^8 entries: hashed
    assert enc.table.shape == (16 + 64 + 256 + 256, 2)
    assert enc(torch.rand(3, 5, 2)).shape == (3, 5, 8)


def test_indices_stay_inside_each_level() -> None:
    enc = small()
    vert = torch.randint(0, 32, (4, 100, 4, 2)).minimum((enc.res - 1)[:, None, None, None])
    idx = enc.index(vert)
    lo, hi = enc.offsets[:, None, None], (enc.offsets + enc.sizes)[:, None, None]
    assert ((idx >= lo) & (idx < hi)).all()


def test_vertex_lookup_and_bilinear_interpolation() -> None:
    enc = HashGrid(n_levels=1, n_features_per_level=1, log2_hashmap_size=10, base_resolution=3, per_level_scale=1.0)
    with torch.no_grad():
        enc.table.copy_(torch.arange(9, dtype=torch.float32)[:, None])  # value = row-major vertex index
    # vertices at u, v in {0, 0.5, 1}; value = v_index * 3 + u_index
    assert enc(torch.tensor([[0.5, 0.0]])).item() == pytest.approx(1.0)
    assert enc(torch.tensor([[1.0, 1.0]])).item() == pytest.approx(8.0)
    # halfway between (0,0)->0, (1,0)->1, (0,1)->3, (1,1)->4 is their mean
    assert enc(torch.tensor([[0.25, 0.25]])).item() == pytest.approx(2.0)


def test_gradients_reach_only_looked_up_entries() -> None:
    enc = small()
    enc(torch.tensor([[0.3, 0.7]])).sum().backward()
    touched = (enc.table.grad.abs().sum(-1) > 0).sum().item()
    assert 0 < touched <= 4 * 4  # at most 4 corners per level


def test_fits_a_small_image_quickly() -> None:
    """A hash grid + linear head fits a high-frequency pattern a raw-coordinate linear model cannot."""
    torch.manual_seed(0)
    from nfields.core.coords import pixel_grid

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
    "kw",
    [
        {"n_levels": 0},
        {"n_features_per_level": 0},
        {"log2_hashmap_size": 0},
        {"base_resolution": 1},
        {"per_level_scale": 0.5},
        {"in_dim": 4},
    ],
)
def test_bad_parameters(kw: dict) -> None:
    key = next(iter(kw))
    with pytest.raises(ValueError, match=key):
        small(**kw)
