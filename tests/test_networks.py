from functools import partial

import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.fields.networks.finer import Finer
from nfields.fields.networks.gauss import Gauss
from nfields.fields.networks.mlp import MLP
from nfields.fields.networks.siren import Siren
from nfields.fields.networks.wire import Wire

# Networks and variants with hidden layers, for tests of their arguments and of narrow windows; what every option
# of configs/network/ must do (shapes, gradients, seeded init, the hypernetwork path, bad arguments) is checked on
# each by tests/test_contracts.py.
NETS = {
    "mlp": MLP,
    "siren": Siren,
    "wire": Wire,
    "wire_real": partial(Wire, complex=False),
    "gauss": Gauss,
    "finer": Finer,
}
# Narrow windows (gauss s = 30) on 8 neurons can leave a unit at a zero gradient: these tests widen them. Complex
# WIRE keeps s_0 = 5: its exp(j omega_0 x) grows as exp(-omega_0 Im x) on complex inputs, and a wide window (s_0 = 1)
# no longer damps it (NaN gradients in 28 of 100 seeds; none at 5 or 10).
WIDE = {"wire": {"s_0": 5.0}, "wire_real": {"s_0": 1.0}, "gauss": {"s": 1.0}}


@pytest.mark.parametrize("name", NETS)
def test_shapes_and_output_range(name: str) -> None:
    net = NETS[name](in_dim=6, out_dim=3, n_neurons=16, n_hidden_layers=2, output_activation="sigmoid")
    y = net(torch.randn(2, 5, 6))
    assert y.shape == (2, 5, 3)
    assert ((y >= 0) & (y <= 1)).all()


@pytest.mark.parametrize("name", NETS)
def test_every_parameter_gets_a_gradient(name: str) -> None:
    torch.manual_seed(0)
    net = NETS[name](in_dim=2, out_dim=1, n_neurons=8, n_hidden_layers=3, **WIDE.get(name, {}))
    net(torch.rand(32, 2)).sum().backward()
    for n, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n


def test_siren_init_follows_the_paper() -> None:
    net = Siren(in_dim=2, n_neurons=256, n_hidden_layers=3, w0=30.0, w0_initial=60.0)
    first, second = net.hidden[0].weight, net.hidden[1].weight
    assert first.abs().max() <= 1 / 2  # U(-1/in, 1/in), in = 2
    bound = (6 / 256) ** 0.5 / 30
    assert second.abs().max() <= bound and second.abs().max() > 0.9 * bound
    # Activations after the first layer stay spread over [-1, 1] (arcsine-like), not collapsed.
    h = torch.sin(60.0 * net.hidden[0](torch.rand(4096, 2)))
    assert 0.5 < h.std() < 0.9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_neurons": 0}, "network.n_neurons=0: must be an integer >= 1"),
        ({"n_neurons": 3.5}, "network.n_neurons=3.5: must be an integer >= 1"),
        ({"n_hidden_layers": 0}, "network.n_hidden_layers=0: must be an integer >= 1"),
        (
            {"output_activation": "softmax"},
            "network.output_activation=softmax: must be one of sigmoid, identity, tanh, affine",
        ),
        ({"in_dim": 0}, "network.in_dim=0: must be an integer >= 1"),
        ({"out_dim": 0}, "network.out_dim=0: must be an integer >= 1"),
        ({"coord_dim": 3}, "network.coord_dim=3: must be an integer >= 1 and <= 2, or null"),
    ],
)
@pytest.mark.parametrize("name", NETS)
def test_bad_parameters_raise_clear_errors(name: str, kwargs: dict, message: str) -> None:
    args = {"in_dim": 2, **kwargs}
    with pytest.raises(ConfigError) as e:
        NETS[name](**args)
    assert str(e.value) == message


@pytest.mark.parametrize("key", ["w0", "w0_initial"])
def test_siren_rejects_nonpositive_w0(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^network\.{key}=0\.0: must be a number > 0$"):
        Siren(in_dim=2, **{key: 0.0})
