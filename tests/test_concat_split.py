"""cond=concat computes its first layer (and the mid-layer skip) by columns: the features' part once (cond.inputs),
the code's part on the code's own rows. Output and every gradient equal the explicit concatenation x = [feats, z]
through the same weights, at float64, on every network nfields ships and every latent layout."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from nfields.fields.conditioning.concat import Concat
from nfields.fields.encodings.fourier import GaussianFourier
from nfields.fields.field import NeuralField
from nfields.fields.networks.finer import Finer
from nfields.fields.networks.gauss import Gauss
from nfields.fields.networks.linear import Linear
from nfields.fields.networks.mlp import MLP
from nfields.fields.networks.siren import Siren
from nfields.fields.networks.wire import Wire
from tests.test_conditioning import LATENTS, B, C, N, perturb

NETWORKS = {
    "mlp": MLP,
    "siren": Siren,
    "wire": Wire,  # complex hidden layers after a real first one
    "wire_real": partial(Wire, complex=False),  # [f | g] hidden layers: twice the width
    "finer": Finer,
    "gauss": Gauss,
}


def concat_field(network, latent: str, mid_layer: bool = True) -> NeuralField:
    """A small cond=concat field at float64 (complex weights at complex128), moved off its init."""
    torch.manual_seed(0)
    enc = GaussianFourier(n_features=8, sigma=3.0)
    net = partial(network, n_neurons=16, n_hidden_layers=3)
    field = NeuralField(enc, net, out_dim=C, cond=partial(Concat, mid_layer=mid_layer), latent=LATENTS[latent]())
    perturb(field, std=0.05)
    field.double()  # real tensors only: complex ones below
    for p in field.parameters():
        if p.is_complex():
            p.data = p.data.to(torch.complex128)
    return field


def by_concatenation(field: NeuralField, coords: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """The formula: x = [feats, z] (B, N, F + P) through the network, W_mid x added at the middle layer."""
    z = field.latent.point_code(codes, coords)  # (B, N, P), expanded
    x = torch.cat([field.features(coords), z], dim=-1)
    cond = field.cond
    if cond.mid is None:
        return field.network(x)
    skip = cond.mid(x)  # (B, N, n_mid)
    return field.network(x, hook=lambda i, h: h + skip if i == cond.mid_index else h)


def grads(field: NeuralField, out: torch.Tensor, codes: torch.Tensor) -> dict[str, torch.Tensor]:
    """d(sum of a fixed random weighting of out) / d(every parameter and the codes)."""
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(2), dtype=out.dtype)
    named = dict(field.named_parameters()) | {"codes": codes}
    return dict(zip(named, torch.autograd.grad((out * weight).sum(), list(named.values())), strict=True))


@pytest.mark.parametrize("mid_layer", [True, False])
@pytest.mark.parametrize("latent", LATENTS)
@pytest.mark.parametrize("network", NETWORKS)
def test_the_split_gives_the_concatenations_output_and_gradients(network: str, latent: str, mid_layer: bool) -> None:
    field = concat_field(NETWORKS[network], latent, mid_layer)
    assert (field.cond.mid is not None) == mid_layer
    coords = torch.rand(B, N, 2, dtype=torch.float64)
    codes = torch.randn(B, field.code_dim, dtype=torch.float64, requires_grad=True)
    ours, theirs = field(coords, codes), by_concatenation(field, coords, codes)
    assert ours.shape == (B, N, C) and ours.dtype == torch.float64
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    g_ours, g_theirs = grads(field, ours, codes), grads(field, theirs, codes)
    for k in g_theirs:  # rounding only: sums in another order, scaled by FINER's and SIREN's frequencies (up to ~300)
        scale = g_theirs[k].abs().max().item()
        torch.testing.assert_close(g_ours[k], g_theirs[k], rtol=1e-10, atol=1e-11 * scale, msg=k)
    first = g_ours["network.hidden.0.weight"]  # (n_0, F + P): both column blocks learn
    f = field.encoding.out_dim
    assert first[:, :f].ne(0).any() and first[:, f:].ne(0).any() and g_ours["codes"].ne(0).any()


def test_inputs_hold_the_code_free_parts_of_the_first_layer_and_the_skip() -> None:
    """cond.inputs: [W1[:, :F] feats + b1 | W_mid[:, :F] feats] (B, N, n_0 + n_mid), with no code in it."""
    field = concat_field(MLP, "global")
    coords = torch.rand(B, N, 2, dtype=torch.float64)
    feats = field.features(coords)  # (B, N, F)
    f, first, mid = feats.shape[-1], field.network.hidden[0], field.cond.mid
    got = field.cond.inputs(field.network, feats)
    assert got.shape == (B, N, first.out_features + mid.out_features)
    torch.testing.assert_close(got[..., : first.out_features], feats @ first.weight[:, :f].t() + first.bias)
    torch.testing.assert_close(got[..., first.out_features :], feats @ mid.weight[:, :f].t())


def test_a_network_with_no_hidden_layer_takes_the_concatenation() -> None:
    """network=linear: no hidden pre-activation to add the code's part to; the head takes x = [feats, z]."""
    torch.manual_seed(0)
    enc = GaussianFourier(n_features=8, sigma=3.0)
    field = NeuralField(enc, Linear, out_dim=C, cond=Concat, latent=LATENTS["hybrid"]()).double()
    assert field.cond.mid is None
    coords = torch.rand(B, N, 2, dtype=torch.float64)
    codes = torch.randn(B, field.code_dim, dtype=torch.float64)
    assert field.cond.inputs(field.network, field.features(coords)).shape == (B, N, enc.out_dim)
    torch.testing.assert_close(field(coords, codes), by_concatenation(field, coords, codes), rtol=1e-12, atol=1e-13)


def test_parameters_keep_their_names_and_shapes() -> None:
    """The split slices today's full-width weights at use: a checkpoint of the concatenating field loads as it is."""
    field = concat_field(MLP, "global")
    shapes = {k: tuple(v.shape) for k, v in field.state_dict().items() if k.startswith(("network.hidden.0", "cond"))}
    in_dim = field.encoding.out_dim + field.latent.point_dim
    assert shapes == {
        "network.hidden.0.weight": (16, in_dim),
        "network.hidden.0.bias": (16,),
        "cond.mid.weight": (16, in_dim),
    }
