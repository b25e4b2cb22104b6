import pytest
import torch

from nfields.fields.encodings.basic import Basic
from nfields.fields.encodings.fourier import GaussianFourier
from nfields.fields.encodings.hashgrid import HashGrid
from nfields.fields.encodings.none import Identity
from nfields.fields.encodings.positional import Positional

ENCODINGS = {
    "none": lambda: Identity(),
    "basic": lambda: Basic(),
    "positional": lambda: Positional(n_features=16, scale=4.0),
    "fourier": lambda: GaussianFourier(n_features=16, sigma=5.0, seed=0),
    "hashgrid": lambda: HashGrid(n_levels=3, n_features_per_level=2, log2_hashmap_size=6, base_resolution=4),
}
EXPECTED_OUT_DIM = {"none": 2, "basic": 4, "positional": 32, "fourier": 32, "hashgrid": 6}


@pytest.mark.parametrize("name", ENCODINGS)
def test_out_dim_and_shape(name: str) -> None:
    enc = ENCODINGS[name]()
    assert enc.out_dim == EXPECTED_OUT_DIM[name]
    x = torch.rand(3, 7, 2)
    assert enc(x).shape == (3, 7, enc.out_dim)


@pytest.mark.parametrize("name", ENCODINGS)
def test_gradients_flow_to_coordinates(name: str) -> None:
    enc = ENCODINGS[name]()
    x = torch.rand(5, 2, requires_grad=True)
    enc(x).sum().backward()  # (not squared: cos^2 + sin^2 is constant)
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ENCODINGS)
def test_rejects_wrong_coordinate_dim(name: str) -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        ENCODINGS[name]()(torch.rand(4, 3))


def test_fourier_is_seeded_and_saved() -> None:
    a, b, c = GaussianFourier(8, 10.0, seed=1), GaussianFourier(8, 10.0, seed=1), GaussianFourier(8, 10.0, seed=2)
    assert torch.equal(a.B, b.B) and not torch.equal(a.B, c.B)
    assert "B" in a.state_dict()  # a buffer: travels with checkpoints
    assert not any(p.requires_grad for p in a.parameters())
    # sigma scales B: the empirical std is close to sigma
    assert GaussianFourier(4096, 10.0).B.std().item() == pytest.approx(10.0, rel=0.05)


def test_basic_values() -> None:
    out = Basic()(torch.tensor([[0.25, 0.0]]))  # cos/sin of 2 pi (0.25, 0)
    assert torch.allclose(out, torch.tensor([[0.0, 1.0, 1.0, 0.0]]), atol=1e-6)


def test_positional_frequencies() -> None:
    enc = Positional(n_features=8, scale=3.0)  # 4 per axis: 1, 2, 4, 8
    assert torch.allclose(enc.B[:4, 0], torch.tensor([1.0, 2.0, 4.0, 8.0]))
    assert torch.all(enc.B[:4, 1] == 0) and torch.all(enc.B[4:, 0] == 0)


def test_phases_stay_fp32_under_autocast() -> None:
    enc = GaussianFourier(64, 100.0)
    x = torch.rand(128, 2)
    ref = enc(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc(x.bfloat16())
    assert out.dtype == torch.float32
    # bf16 phases at sigma=100 would be off by radians; fp32 phases of bf16-rounded inputs are only as
    # far off as the input rounding allows, far less than a bf16 phase computation.
    exact = enc(x.bfloat16().float())
    assert torch.allclose(out, exact, atol=1e-4)
    assert ref.dtype == torch.float32


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: GaussianFourier(n_features=0), "n_features"),
        (lambda: GaussianFourier(sigma=0.0), "sigma"),
        (lambda: GaussianFourier(sigma=-1.0), "sigma"),
        (lambda: Positional(n_features=7), "n_features"),
        (lambda: Positional(scale=-1.0), "scale"),
        (lambda: Identity(in_dim=0), "in_dim"),
    ],
)
def test_bad_parameters_raise_clear_errors(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
