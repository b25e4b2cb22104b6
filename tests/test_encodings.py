import numpy as np
import pytest
import torch
import yaml
from hydra.utils import get_class, instantiate

from nfields.core.errors import ConfigError
from nfields.fields.encodings.basic import Basic
from nfields.fields.encodings.fourier import GaussianFourier
from nfields.fields.encodings.hashgrid import HashGrid
from nfields.fields.encodings.none import Identity
from nfields.fields.encodings.positional import Positional
from nfields.run.compose import CONFIGS
from tests.contracts import check_encoding, options, overrides, own_keys

# Small instances for the tests of particular encodings; what every encoding must do (shapes, gradients, fp32
# phases, bad arguments) is checked on each option of configs/encoding/ by tests/test_contracts.py.
ENCODINGS = {
    "basic": lambda: Basic(),
    "positional": lambda: Positional(n_features=16, scale=4.0),
    "fourier": lambda: GaussianFourier(n_features=16, sigma=5.0, seed=0),
}


def test_out_dim_follows_the_arguments() -> None:
    assert Identity().out_dim == 2 and Basic(in_dim=3).out_dim == 6
    assert Positional(n_features=16).out_dim == 32 and GaussianFourier(n_features=16).out_dim == 32
    assert HashGrid(n_levels=3, n_features_per_level=2, log2_hashmap_size=6, base_resolution=4).out_dim == 6


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
    enc = Positional(n_features=8, scale=3.0)  # 4 per axis: 2^(0, 1, 2, 3) - 1, frequency 0 the constant term
    assert torch.allclose(enc.B[:4, 0], torch.tensor([0.0, 1.0, 3.0, 7.0]))
    assert torch.all(enc.B[:4, 1] == 0) and torch.all(enc.B[4:, 0] == 0)
    assert torch.allclose(enc.B[4:, 1], enc.B[:4, 0])


def test_positional_equals_the_papers_mapping() -> None:
    """Tancik et al.'s notebook: bvals = 2^linspace(0, scale, m) - 1 per axis, gamma = [sin 2 pi Bx, cos 2 pi Bx]."""
    scale, m = 6.0, 128
    bvals = 2.0 ** np.linspace(0, scale, m) - 1  # (m,)
    bvals = np.stack([bvals, np.zeros_like(bvals)], -1)  # (m, 2): the u axis
    bvals = np.concatenate([bvals, np.roll(bvals, 1, axis=-1)], 0)  # (2m, 2): u rows, then v rows
    x = np.random.default_rng(0).uniform(0, 1, size=(50, 2))
    paper = np.concatenate([np.sin(2 * np.pi * x @ bvals.T), np.cos(2 * np.pi * x @ bvals.T)], -1)  # (50, 4m)
    ours = Positional(n_features=2 * m, scale=scale)(torch.from_numpy(x).float()).double().numpy()
    ours = np.concatenate([ours[:, 2 * m :], ours[:, : 2 * m]], -1)  # ours is [cos, sin]: the same features
    np.testing.assert_allclose(ours, paper, atol=2e-4)  # fp32 phases up to 2 pi * 63


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
    "make, message",
    [
        (lambda: GaussianFourier(n_features=0), "encoding.n_features=0: must be an integer >= 1"),
        (lambda: GaussianFourier(sigma=0.0), "encoding.sigma=0.0: must be a number > 0"),
        (lambda: GaussianFourier(sigma=-1.0), "encoding.sigma=-1.0: must be a number > 0"),
        (lambda: GaussianFourier(seed=-1), "encoding.seed=-1: must be an integer >= 0"),
        (lambda: GaussianFourier(in_dim=0), "encoding.in_dim=0: must be an integer >= 1"),
        (lambda: Positional(n_features=7), "encoding.n_features=7: must be an even integer >= 2 (half per axis)"),
        (lambda: Positional(n_features=4.0), "encoding.n_features=4.0: must be an even integer >= 2 (half per axis)"),
        (
            lambda: Positional(n_features=4, in_dim=3),
            "encoding.n_features=4: must be a multiple of 3 >= 3 (1/3 per axis)",
        ),
        (lambda: Positional(scale=-1.0), "encoding.scale=-1.0: must be a number >= 0"),
        (lambda: Positional(in_dim=0), "encoding.in_dim=0: must be an integer >= 1"),
        (lambda: Basic(in_dim=0), "encoding.in_dim=0: must be an integer >= 1"),
        (lambda: Identity(in_dim=0), "encoding.in_dim=0: must be an integer >= 1"),
    ],
)
def test_bad_parameters_raise_clear_errors(make, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        make()
    assert str(e.value) == message


@pytest.mark.parametrize("name", options("encoding"))
def test_no_second_validation_table(name: str) -> None:
    """Encodings check their own arguments; no `config_rules` for nfields/run/validate.py to apply twice."""
    target = yaml.safe_load((CONFIGS / "encoding" / f"{name}.yaml").read_text())["_target_"]
    assert not hasattr(get_class(target), "config_rules")


@pytest.mark.parametrize("name", ["basic", "positional", "fourier"])
def test_kept_coordinates_features_are_computed_once_and_equal(name: str) -> None:
    enc = ENCODINGS[name]()
    x, other = torch.rand(64, 2), torch.rand(64, 2)
    enc.keep(x)
    first = enc(x)
    assert enc(x) is first  # reused, not recomputed
    assert torch.equal(first, enc.phase_features(x))  # the same numbers
    assert enc(x.clone()) is not first and torch.equal(enc(x.clone()), first)  # another tensor: computed
    assert torch.equal(enc(other), enc.phase_features(other))
    enc.keep(None)
    assert enc(x) is not first


def test_kept_features_follow_edits_of_the_coordinates_and_of_b() -> None:
    enc = ENCODINGS["fourier"]()
    x = torch.rand(32, 2)
    enc.keep(x)
    first = enc(x)
    x[0] = 0.5  # in place: its version changes
    assert not torch.equal(enc(x)[0], first[0]) and torch.equal(enc(x), enc.phase_features(x))
    before = enc(x)
    enc.load_state_dict({"B": torch.randn_like(enc.B)})  # copied into B in place
    assert not torch.equal(enc(x), before) and torch.equal(enc(x), enc.phase_features(x))
    enc.B = enc.B * 2  # a new B (as .to(device) makes)
    assert torch.equal(enc(x), enc.phase_features(x))


def edit(t: torch.Tensor, how: str) -> None:
    """Halve t's numbers: through `.data =` (a new storage, the version kept) or in place under no_grad."""
    if how == "replace":
        t.data = t.data * 0.5
    else:
        with torch.no_grad():
            t.mul_(0.5)


@pytest.mark.parametrize("which", ["B", "coords"])
@pytest.mark.parametrize("how", ["replace", "in_place_no_grad"])
def test_kept_features_follow_data_replacement_and_in_place_edits(which: str, how: str) -> None:
    """`t.data = other` keeps t's `_version` but changes its `data_ptr()`; an in-place op on t bumps its version:
    both are seen, the output is a fresh computation."""
    enc = ENCODINGS["fourier"]()
    x = torch.rand(32, 2)
    enc.keep(x)
    before = enc(x).clone()
    t = enc.B if which == "B" else x
    version, ptr = t._version, t.data_ptr()
    edit(t, how)
    assert (t._version, t.data_ptr()) != (version, ptr)
    after = enc(x)
    assert not torch.allclose(after, before)
    assert torch.equal(after, enc.phase_features(x))
    assert enc(x) is after  # unchanged since: reused again


def test_kept_features_follow_two_data_replacements_between_steps() -> None:
    """The storage the features came from is held, so a second `.data =` cannot land at its address (the
    allocator reuses a freed address at once: unheld, the second swap's data_ptr would often equal the first's)."""
    enc = ENCODINGS["fourier"]()
    x = torch.rand(32, 2)
    enc.keep(x)
    for _ in range(8):
        enc(x)
        enc.B.data = enc.B.data * 0.5
        enc.B.data = enc.B.data * 3.0
        assert torch.equal(enc(x), enc.phase_features(x))


@pytest.mark.parametrize("which", ["B", "coords"])
def test_kept_features_miss_in_place_writes_through_data_until_dropped(which: str) -> None:
    """The documented limitation (docs/extending.md): `t.data.mul_(...)` writes t's storage through an alias
    with a version of its own, so no cheap check sees it and the old features are returned; after keep(None)
    (field.keep_input(None)) and keep again, the output is fresh."""
    enc = ENCODINGS["fourier"]()
    x = torch.rand(32, 2)
    enc.keep(x)
    before = enc(x)
    t = enc.B if which == "B" else x
    t.data.mul_(0.5)
    assert enc(x) is before  # stale: the features of the numbers before the edit
    assert not torch.allclose(before, enc.phase_features(x))
    enc.keep(None)
    assert torch.equal(enc(x), enc.phase_features(x))
    enc.keep(x)
    fresh = enc(x)
    assert torch.equal(fresh, enc.phase_features(x)) and enc(x) is fresh


def test_features_are_not_kept_for_large_or_differentiable_coordinates(monkeypatch: pytest.MonkeyPatch) -> None:
    import nfields.fields.encodings.base as base

    enc = ENCODINGS["fourier"]()  # 32 features: 128 bytes a coordinate
    monkeypatch.setattr(base, "KEEP_MAX_BYTES", 128 * 100)
    enc.keep(torch.rand(101, 2))
    assert enc.kept is None
    enc.keep(torch.rand(100, 2))
    assert enc.kept is not None
    x = torch.rand(10, 2, requires_grad=True)
    enc.keep(x)
    assert enc.kept is None
    enc(x).sum().backward()
    assert x.grad is not None


def test_features_are_computed_under_inference_mode_and_compile() -> None:
    enc = ENCODINGS["fourier"]()
    x = torch.rand(16, 2)
    enc.keep(x)
    with torch.inference_mode():
        inf = enc(x)
    assert enc.kept.features is None  # an inference tensor could not be saved for a later backward
    assert torch.equal(enc(x), inf)
    compiled = torch.compile(enc, backend="eager")  # traced: the graph computes the features itself
    assert torch.allclose(compiled(x), enc(x))
    with torch.no_grad():
        enc.B.mul_(2)  # in place
    assert torch.allclose(compiled(x), enc.phase_features(x)) and torch.equal(enc(x), enc.phase_features(x))


# Sizes that keep each option small and valid in every d (positional splits n_features over the axes)
SMALL_ND = {"positional": ["encoding.n_features=12"], "grid": ["encoding.resolution=6"]}
SMALL_ND["hashgrid"] = ["encoding.n_levels=4", "encoding.log2_hashmap_size=10", "encoding.base_resolution=4"]


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("name", options("encoding"))
def test_every_encoding_keeps_its_contract_in_1d_and_3d(make_cfg, name: str, d: int) -> None:
    """Each option of configs/encoding/ built with in_dim = d (audio; video and volumes): tests/contracts.py's
    encoding contract (shapes, gradients, fp32 phases, the wrong width refused, one line per bad argument)."""
    cfg = make_cfg(*overrides("encoding", name), f"+encoding.in_dim={d}", *SMALL_ND.get(name, []))
    check_encoding(cfg, own_keys("encoding", name))
    assert instantiate(cfg.encoding).in_dim == d


@pytest.mark.parametrize("d", [1, 3])
def test_projection_matrices_are_n_features_by_d(d: int) -> None:
    """Fourier B is (m, d); basic is the identity; positional puts k = m / d frequencies on each axis in turn."""
    assert GaussianFourier(n_features=16, in_dim=d).B.shape == (16, d)
    assert torch.equal(Basic(in_dim=d).B, torch.eye(d))
    enc = Positional(n_features=4 * d, scale=3.0, in_dim=d)
    freqs = torch.tensor([0.0, 1.0, 3.0, 7.0])  # 2^(0, 1, 2, 3) - 1 on every axis
    for axis in range(d):
        rows = enc.B[4 * axis : 4 * axis + 4]  # (4, d): this axis only
        torch.testing.assert_close(rows[:, axis], freqs)
        assert (rows[:, [a for a in range(d) if a != axis]] == 0).all()
    x = torch.rand(10, d)
    assert torch.equal(Identity(in_dim=d)(x), x)
    phase = 2 * np.pi * x.double().numpy() @ enc.B.double().numpy().T  # (10, 4d)
    expect = np.concatenate([np.cos(phase), np.sin(phase)], -1)
    np.testing.assert_allclose(enc(x).double().numpy(), expect, atol=1e-5)


@pytest.mark.parametrize("name", ["basic", "positional", "fourier"])
def test_features_written_in_place_equal_the_cat_and_keep_gradients_and_vmap(name: str) -> None:
    """Without a gradient to the phases the cos and sin halves are written into one tensor (no cat); the values
    must be the cat's to the bit, coordinates that need a gradient must still get one, and vmap (model=many,
    meta-learning: no batching rule for out=) must fall back to the cat."""
    enc = ENCODINGS[name]()
    x = torch.rand(64, 2)
    phase = x @ (enc.B * (2 * torch.pi)).t()
    expected = torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)  # (64, 2 n_features)
    assert torch.equal(enc.features(x), expected)
    assert torch.equal(torch.func.vmap(enc.features)(x.view(4, 16, 2)), expected.view(4, 16, -1))
    xg = x.clone().requires_grad_(True)
    out = enc.features(xg)
    assert torch.equal(out.detach(), expected) and out.requires_grad
    (g,) = torch.autograd.grad(out.sum(), xg)
    assert g.abs().sum() > 0
