"""Conditionings (concat, FiLM, hypernet) x latent layouts (global, local, hybrid): shapes, gradients, init."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.fields.conditioning.concat import Concat
from nfields.fields.conditioning.film import FiLM
from nfields.fields.conditioning.hypernet import HyperNet
from nfields.fields.encodings.fourier import GaussianFourier
from nfields.fields.encodings.none import Identity
from nfields.fields.field import NeuralField
from nfields.fields.latents.global_ import GlobalLatent
from nfields.fields.latents.hybrid import HybridLatent
from nfields.fields.latents.local import LocalLatent
from nfields.fields.networks.mlp import MLP
from nfields.fields.networks.siren import Siren

CONDS = {
    "concat": Concat,
    "concat_input_only": partial(Concat, mid_layer=False),
    "film": FiLM,
    "film_shift_only": partial(FiLM, scale=False),
    "hypernet": partial(HyperNet, hidden=8),
}
LATENTS = {
    "global": lambda: GlobalLatent(dim=6),
    "local": lambda: LocalLatent(dim=5, grid_size=3),
    "hybrid": lambda: HybridLatent(dim=4, grid_size=2),
}
B, N, C = 3, 7, 2


def make_field(cond: str, latent: str, network=MLP) -> NeuralField:
    torch.manual_seed(0)
    enc = GaussianFourier(n_features=8, sigma=3.0)
    net = partial(network, n_neurons=16, n_hidden_layers=3)
    return NeuralField(enc, net, out_dim=C, cond=CONDS[cond], latent=LATENTS[latent]())


def test_a_conditional_field_without_a_latent_layout_is_refused_in_one_line() -> None:
    """cond=film latent=null: the field names the key and where its options are."""
    with pytest.raises(ConfigError) as e:
        NeuralField(GaussianFourier(n_features=8, sigma=3.0), partial(MLP, n_neurons=16), out_dim=C, cond=FiLM)
    assert (
        str(e.value)
        == "latent=null: a conditional field (cond != none) needs a latent layout: choose one in configs/latent/"
    )


def perturb(module: torch.nn.Module, std: float = 0.1) -> None:
    """Move every parameter off its init (FiLM/hypernet start at exactly zero offsets)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * std)


@pytest.mark.parametrize("latent", LATENTS)
@pytest.mark.parametrize("cond", CONDS)
def test_shapes_and_gradients(cond: str, latent: str) -> None:
    field = make_field(cond, latent)
    perturb(field)
    codes = torch.randn(B, field.code_dim, requires_grad=True)
    coords = torch.rand(B, N, 2)
    out = field(coords, codes)
    assert out.shape == (B, N, C)
    assert ((out >= 0) & (out <= 1)).all()
    out.pow(2).sum().backward()
    assert codes.grad is not None and torch.isfinite(codes.grad).all() and codes.grad.abs().sum() > 0
    for name, p in field.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # the network's input width is derived from the encoding and the conditioning, never typed
    assert field.network.in_dim == field.encoding.out_dim + field.cond.extra_in_dim


@pytest.mark.parametrize("latent", LATENTS)
@pytest.mark.parametrize("cond", CONDS)
def test_each_image_is_decoded_from_its_own_code(cond: str, latent: str) -> None:
    """Batched evaluation (one matmul for all images) equals evaluating each image alone."""
    field = make_field(cond, latent)
    perturb(field)
    codes, coords = torch.randn(B, field.code_dim), torch.rand(B, N, 2)
    batched = field(coords, codes)
    alone = torch.cat([field(coords[i : i + 1], codes[i : i + 1]) for i in range(B)])
    assert torch.allclose(batched, alone, atol=1e-5)
    assert not torch.allclose(batched[0], field(coords[:1], codes[1:2])[0])  # the code matters


@pytest.mark.parametrize("network", [MLP, Siren])
@pytest.mark.parametrize("latent", LATENTS)
@pytest.mark.parametrize("film", ["film", "film_shift_only"])
def test_film_starts_at_identity(film: str, latent: str, network) -> None:
    field = make_field(film, latent, network)
    coords, codes = torch.rand(B, N, 2), torch.randn(B, field.code_dim, requires_grad=True)
    out = field(coords, codes)
    plain = field.network(field.encoding(coords))  # the same network without any modulation
    assert torch.allclose(out, plain, atol=1e-6)
    # the modulation maps still learn: their (zero) last layers get gradients
    out.sum().backward()
    assert all(m[-1].weight.grad.abs().sum() > 0 for m in field.cond.maps)
    assert codes.grad.abs().sum() == 0  # ... but the code gets none yet (the ablation in docs/conditional.md)


def test_film_without_identity_init_modulates_from_the_start() -> None:
    torch.manual_seed(0)
    enc, net = GaussianFourier(n_features=8, sigma=3.0), partial(MLP, n_neurons=16, n_hidden_layers=3)
    field = NeuralField(enc, net, out_dim=C, cond=partial(FiLM, identity_init=False), latent=GlobalLatent(dim=6))
    coords, codes = torch.rand(B, N, 2), torch.randn(B, 6, requires_grad=True)
    out = field(coords, codes)
    assert not torch.allclose(out, field.network(field.encoding(coords)), atol=1e-4)
    out.sum().backward()
    assert codes.grad.abs().sum() > 0  # at identity init this gradient is exactly zero


def test_shift_only_film_predicts_one_number_per_neuron() -> None:
    full, shift = make_field("film", "global"), make_field("film_shift_only", "global")
    assert [m[-1].out_features for m in shift.cond.maps] == [m[-1].out_features // 2 for m in full.cond.maps]
    perturb(shift.cond)
    coords, codes = torch.rand(B, N, 2), torch.randn(B, shift.code_dim)
    # a shift-only FiLM adds beta(z) to each pre-activation: reproduce it with an explicit hook
    z = codes.unsqueeze(1)  # (B, 1, P)
    expect = shift.network(shift.encoding(coords), hook=lambda i, h: h + shift.cond.maps[i](z))
    assert torch.allclose(shift(coords, codes), expect, atol=1e-6)


def test_hypernet_predicts_every_weight_with_batched_matmuls() -> None:
    field = make_field("hypernet", "global")
    perturb(field.cond)
    codes = torch.randn(B, field.code_dim)
    params = field.cond.params(field.network, codes)
    assert [(tuple(w.shape), tuple(b.shape)) for w, b in params] == [
        ((B, *ws), (B, *bs)) for ws, bs in field.network.param_shapes()
    ]
    assert not torch.allclose(params[0][0][0], params[0][0][1])  # per-image weights differ


def test_hypernet_starts_from_the_plain_network() -> None:
    field = make_field("hypernet", "global")
    coords = torch.rand(B, N, 2)
    out = field(coords, torch.randn(B, field.code_dim))
    assert torch.allclose(out, field.network(field.encoding(coords)), atol=1e-6)


def test_concat_mid_layer_skip_is_optional() -> None:
    enc, net = GaussianFourier(n_features=4), partial(MLP, n_neurons=8, n_hidden_layers=3)
    with_skip = NeuralField(enc, net, 1, cond=Concat, latent=GlobalLatent(3))
    without = NeuralField(enc, net, 1, cond=partial(Concat, mid_layer=False), latent=GlobalLatent(3))
    assert with_skip.cond.mid is not None and with_skip.cond.mid.in_features == 8 + 3  # [encoded coords, code]
    assert without.cond.mid is None
    assert with_skip.network.in_dim == without.network.in_dim == 8 + 3


def test_concat_skip_depends_on_the_coordinates() -> None:
    """With the first layer blind to the coordinates, only the mid-layer skip can carry them (DeepSDF)."""
    field = make_field("concat", "global")
    with torch.no_grad():
        field.network.hidden[0].weight[:, : field.encoding.out_dim] = 0
    coords, codes = torch.rand(2, 40, 2), torch.randn(2, field.code_dim)
    assert field(coords, codes).std(dim=1).min() > 1e-4  # a code-only skip gives one colour per image


@pytest.mark.parametrize("latent", LATENTS)
def test_concat_skip_is_a_concatenation_of_the_whole_input(latent: str) -> None:
    """DeepSDF's skip concatenates [encoded coords, code] again: W_mid [feats, z] is added at the middle layer."""
    field = make_field("concat", latent)
    coords, codes = torch.rand(2, 40, 2), torch.randn(2, field.code_dim)
    z = field.latent.point_code(codes, coords)  # (B, N, P)
    x = torch.cat([field.encoding(coords), z], dim=-1)  # (B, N, F + P)
    W = field.cond.mid.weight  # (n_neurons, F + P)
    expect = field.network(x, hook=lambda i, h: h + x @ W.t() if i == field.cond.mid_index else h)
    assert torch.allclose(field(coords, codes), expect, atol=1e-6)


def test_siren_concat_keeps_sirens_first_layer_frequencies() -> None:
    """Code inputs must not dilute SIREN's first-layer bound U(-1/n, 1/n), n = the encoding's out_dim."""
    net = partial(Siren, n_neurons=256, n_hidden_layers=3)
    torch.manual_seed(0)
    plain = NeuralField(Identity(), net, 3)
    cat = NeuralField(Identity(), net, 3, cond=Concat, latent=GlobalLatent(64))
    n = cat.encoding.out_dim

    def top(field: NeuralField) -> float:  # the largest first-layer frequency over the coordinates
        return field.network.activation.w0_initial * field.network.hidden[0].weight[:, :n].abs().max().item()

    assert top(cat) == pytest.approx(top(plain), rel=0.02)
    assert top(plain) <= plain.network.activation.w0_initial / n
    code_bound = (6 / 64) ** 0.5 / cat.network.activation.w0_initial  # code columns: SIREN's hidden-layer rule
    code_cols = cat.network.hidden[0].weight[:, n:]  # (256, 64)
    assert code_cols.abs().max() <= code_bound and code_cols.abs().max() > 0.9 * code_bound
    assert cat.network.coord_dim == n and cat.network.in_dim == n + 64  # derived by the field


def test_local_codes_are_bilinear_over_the_grid() -> None:
    lat = LocalLatent(dim=1, grid_size=2)
    grid = torch.tensor([[0.0, 1.0], [2.0, 3.0]])  # row 0: (top-left, top-right)
    codes = grid.reshape(1, 4)
    centres = torch.tensor([[[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.5, 0.5]]])  # (u, v) = (column, row)
    got = lat.point_code(codes, centres)[0, :, 0]
    assert torch.allclose(got, torch.tensor([0.0, 1.0, 2.0, 1.5]))
    assert lat.code_dim == 4 and lat.point_dim == 1 and lat.image_code(codes).item() == pytest.approx(1.5)


def test_hybrid_concatenates_global_and_local() -> None:
    lat = HybridLatent(dim=2, grid_size=3)
    assert lat.code_dim == 2 + 2 * 9 and lat.point_dim == 4 and lat.image_dim == 2
    codes = torch.randn(5, lat.code_dim)
    pc = lat.point_code(codes, torch.rand(5, 11, 2))
    assert pc.shape == (5, 11, 4) and torch.allclose(pc[:, 3, :2], codes[:, :2])


def test_single_image_conditional_field_has_its_own_code() -> None:
    enc, net = GaussianFourier(n_features=4), partial(MLP, n_neurons=8)
    field = NeuralField(enc, net, 3, cond=FiLM, latent=GlobalLatent(4), own_code=True)
    assert field(torch.rand(10, 2)).shape == (10, 3)
    collection = NeuralField(enc, net, 3, cond=FiLM, latent=GlobalLatent(4))
    with pytest.raises(ValueError, match="pass codes"):
        collection(torch.rand(10, 2))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: GlobalLatent(dim=0), "model.latent_dim=0: must be an integer >= 1"),
        (lambda: HybridLatent(dim=2.5), "model.latent_dim=2.5: must be an integer >= 1"),
        (lambda: LocalLatent(dim=4, grid_size=0), "latent.grid_size=0: must be an integer >= 1"),
        (lambda: HybridLatent(dim=4, grid_size=-1), "latent.grid_size=-1: must be an integer >= 1"),
        (lambda: FiLM(GlobalLatent(2), hidden=-1), "cond.hidden=-1: must be an integer >= 0"),
        (lambda: FiLM(GlobalLatent(2), scale="no"), "cond.scale=no: must be true or false"),
        (lambda: FiLM(GlobalLatent(2), identity_init=1), "cond.identity_init=1: must be true or false"),
        (lambda: HyperNet(GlobalLatent(2), hidden=-1), "cond.hidden=-1: must be an integer >= 0"),
        (lambda: Concat(GlobalLatent(2), mid_layer="yes"), "cond.mid_layer=yes: must be true or false"),
        (
            lambda: NeuralField(
                GaussianFourier(4), partial(MLP), 3, cond=partial(FiLM, hidden=-1), latent=GlobalLatent(2)
            ),
            "cond.hidden=-1: must be an integer >= 0",
        ),
    ],
)
def test_bad_parameters_raise_clear_errors(make, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        make()
    assert str(e.value) == message
