"""WIRE, Gauss and FINER: activations and initialisations against the papers' formulas, shapes, gradients,
determinism, one-line errors, every encoding, and short training runs (single image, FiLM, hypernet)."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import pytest
import torch

from nfields.core.coords import pixel_grid
from nfields.core.errors import ConfigError
from nfields.fields.encodings.basic import Basic
from nfields.fields.encodings.none import Identity
from nfields.fields.field import NeuralField
from nfields.fields.networks.finer import Finer
from nfields.fields.networks.gauss import Gauss
from nfields.fields.networks.mlp import MLP
from nfields.fields.networks.siren import Siren
from nfields.fields.networks.wire import Wire
from nfields.run.build import build_datamodule, build_field, build_module
from nfields.run.train import train

NETS = {"wire": Wire, "wire_real": partial(Wire, complex=False), "gauss": Gauss, "finer": Finer}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def paper_first_layer(lin: torch.nn.Linear, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first layer's (W, b) on its n coordinate columns: the paper's own parameters (the field feeds c in
    [-1, 1], so nothing is re-expressed)."""
    return lin.weight.detach()[:, :n], lin.bias.detach()


def near_bound(t: torch.Tensor, bound: float) -> bool:
    """Every value within +-bound and, for a draw of many values, the extremes close to it."""
    return bool(t.abs().max() <= bound * (1 + 1e-5) and (t.numel() < 100 or t.abs().max() > 0.95 * bound))


# ---- activations ----------------------------------------------------------------------------------------
def test_wire_activation_is_the_complex_gabor_wavelet() -> None:
    net = Wire(in_dim=2, n_neurons=16, n_hidden_layers=3, omega_0=20.0, s_0=10.0)
    x = torch.linspace(-0.3, 0.3, 7)  # a real first-layer pre-activation
    psi = torch.exp(1j * 20.0 * x) * torch.exp(-((10.0 * x).abs() ** 2))
    assert torch.allclose(net.activation(x, 0), psi, atol=1e-6)
    z = torch.complex(torch.randn(5) * 0.1, torch.randn(5) * 0.1)  # a complex hidden pre-activation
    psi = torch.exp(1j * 20.0 * z) * torch.exp(-((10.0 * z).abs() ** 2))
    assert torch.allclose(net.activation(z, 1), psi, atol=1e-6)
    last = net.activation(z, 2)  # the last hidden layer hands [Re psi, Im psi] to the real head
    assert torch.allclose(last, torch.cat([psi.real, psi.imag]), atol=1e-6)


def test_wire_output_is_the_real_part_of_a_complex_head() -> None:
    net = Wire(in_dim=2, out_dim=3, n_neurons=16, n_hidden_layers=2, output_activation="identity")
    x = torch.rand(9, 2)
    h = net.activation(net.hidden[1](net.activation(net.hidden[0](x), 0)), 1)  # (9, 2 width) = [Re z, Im z]
    width = net.n_neurons
    z = torch.complex(h[:, :width], h[:, width:])
    w_re, w_im_neg = net.head.weight[:, :width], net.head.weight[:, width:]
    complex_head = z @ torch.complex(w_re, -w_im_neg).t() + net.head.bias  # Re(W z + b), W = Re W + j Im W
    assert torch.allclose(net(x), complex_head.real, atol=1e-5)


def test_real_wire_is_the_real_gabor_wavelet() -> None:
    net = Wire(in_dim=2, n_neurons=8, omega_0=20.0, s_0=10.0, complex=False)
    h = torch.randn(4, 16) * 0.2  # [f | g] from one linear map to 2 x n_neurons
    f, g = h[:, :8], h[:, 8:]
    assert torch.allclose(net.activation(h, 0), torch.cos(20.0 * f) * torch.exp(-((10.0 * g) ** 2)), atol=1e-6)


def test_gauss_activation_and_the_papers_a_parameterisation() -> None:
    x = torch.linspace(-1, 1, 11)
    assert torch.allclose(Gauss(in_dim=2, s=30.0).activation(x, 0), torch.exp(-((30.0 * x) ** 2)))
    a = 0.1  # Ramasinghe & Lucey: exp(-x^2 / (2 a^2)) is s = 1 / (sqrt(2) a)
    paper = torch.exp(-(x**2) / (2 * a**2))
    assert torch.allclose(Gauss(in_dim=2, s=1 / (math.sqrt(2) * a)).activation(x, 0), paper, atol=1e-6)


@pytest.mark.parametrize("req_grad", [False, True])
def test_finer_activation_and_its_detached_scale(req_grad: bool) -> None:
    net = Finer(in_dim=2, n_neurons=8, w0=30.0, w0_initial=25.0, scale_req_grad=req_grad)
    x = torch.linspace(-2, 2, 9, requires_grad=True)
    y = net.activation(x, 1)
    assert torch.allclose(y, torch.sin(30.0 * (x.abs() + 1) * x))
    assert torch.allclose(net.activation(x, 0), torch.sin(25.0 * (x.abs() + 1) * x))  # w0_initial first
    (grad,) = torch.autograd.grad(y.sum(), x)
    slope = 2 * x.abs() + 1 if req_grad else x.abs() + 1  # d/dx (|x|+1) x, or with |x|+1 held constant
    assert torch.allclose(grad, 30.0 * slope * torch.cos(30.0 * (x.abs() + 1) * x), atol=1e-3)


# ---- initialisation --------------------------------------------------------------------------------------
def test_finer_init_follows_the_image_protocol() -> None:
    """train_image.py's first bias is nn.Linear's (first_bias_scale=None, the default); k draws U(-k, k)."""
    net = Finer(in_dim=2, n_neurons=256, n_hidden_layers=3, w0=30.0)
    w, b = paper_first_layer(net.hidden[0], 2)
    assert near_bound(w, 1 / 2)  # U(-1/n, 1/n), n = 2
    assert near_bound(b, 1 / math.sqrt(2))  # nn.Linear's bias
    for lin in [*net.hidden[1:], net.head]:
        assert near_bound(lin.weight, math.sqrt(6 / 256) / 30)  # SIREN's hidden rule
    _, b = paper_first_layer(Finer(in_dim=2, n_neurons=256, first_bias_scale=20.0).hidden[0], 2)
    assert near_bound(b, 20.0) and abs(b.std().item() - 20 / math.sqrt(3)) < 1.5  # U(-k, k): figure 6's k = 20


def test_finer_config_default_is_the_image_protocol(make_cfg) -> None:
    cfg = make_cfg("network=finer")
    assert cfg.network.first_bias_scale is None and cfg.network.w0_initial == 30.0


def test_gauss_and_wire_keep_nn_linears_init() -> None:
    gauss = Gauss(in_dim=2, n_neurons=256, n_hidden_layers=3)
    w, b = paper_first_layer(gauss.hidden[0], 2)
    assert near_bound(w, 1 / math.sqrt(2)) and near_bound(b, 1 / math.sqrt(2))
    for lin in [*gauss.hidden[1:], gauss.head]:
        assert near_bound(lin.weight, 1 / 16) and near_bound(lin.bias, 1 / 16)
    wire = Wire(in_dim=2, n_neurons=256, n_hidden_layers=3)
    width = int(256 / math.sqrt(2))  # 181, as the repository
    assert wire.n_neurons == width and wire.head.in_features == 2 * width
    assert wire.hidden[0].weight.dtype == torch.float32  # real coordinates in
    w, b = paper_first_layer(wire.hidden[0], 2)
    assert near_bound(w, 1 / math.sqrt(2)) and near_bound(b, 1 / math.sqrt(2))
    for lin in wire.hidden[1:]:
        assert lin.weight.dtype == torch.cfloat and lin.bias.dtype == torch.cfloat
        for part in (lin.weight.real, lin.weight.imag, lin.bias.real, lin.bias.imag):
            assert near_bound(part, 1 / math.sqrt(width))
    assert near_bound(wire.head.weight, 1 / math.sqrt(width)) and near_bound(wire.head.bias, 1 / math.sqrt(width))


@pytest.mark.parametrize("name", [*NETS, "siren"])
def test_the_field_feeds_the_papers_networks_coordinates_in_minus_one_one(name: str) -> None:
    """On encoding=none the paper's network gets c = 2u - 1 of u in [0, 1] and holds the paper's own parameters,
    so Adam trains what the paper trains; with an encoding in front its features are passed unchanged."""
    make = NETS.get(name, Siren)
    u = torch.rand(50, 2)
    raw = NeuralField(Identity(2), partial(make, n_neurons=16), out_dim=3)
    assert torch.allclose(raw(u), raw.network(2 * u - 1))
    encoded = NeuralField(Basic(2), partial(make, n_neurons=16), out_dim=3)
    assert torch.allclose(encoded(u), encoded.network(encoded.encoding(u)))
    relu = NeuralField(Identity(2), partial(MLP, n_neurons=16), out_dim=3)
    assert torch.allclose(relu(u), relu.network(u))  # a ReLU MLP takes nfields' [0, 1] coordinates


@pytest.mark.parametrize("name", ["gauss", "finer"])
def test_code_columns_are_drawn_apart_from_the_coordinates(name: str) -> None:
    """cond=concat: a 64-wide code does not shrink the two coordinate columns' init."""
    net = NETS[name](in_dim=66, coord_dim=2, n_neurons=256)
    alone = NETS[name](in_dim=2, n_neurons=256)
    w, _ = paper_first_layer(net.hidden[0], 2)
    w0, _ = paper_first_layer(alone.hidden[0], 2)
    assert abs(w.abs().max() - w0.abs().max()) < 0.05 * w0.abs().max()
    code = net.hidden[0].weight[:, 2:]
    bound = 1 / 8 if name == "gauss" else math.sqrt(6 / 64) / 30
    assert near_bound(code, bound)


# ---- shapes, gradients, determinism, errors ----------------------------------------------------------------
@pytest.mark.parametrize("name", NETS)
def test_shapes_and_output_range(name: str) -> None:
    net = NETS[name](in_dim=6, out_dim=3, n_neurons=16, n_hidden_layers=2, output_activation="sigmoid")
    y = net(torch.randn(2, 5, 6))
    assert y.shape == (2, 5, 3) and y.dtype == torch.float32
    assert ((y >= 0) & (y <= 1)).all()


@pytest.mark.parametrize(
    "make, message",
    [
        (partial(Wire, omega_0=0), "network.omega_0=0: must be a number > 0"),
        (partial(Wire, s_0=-1.0), "network.s_0=-1.0: must be a number > 0"),
        (partial(Wire, complex="yes"), "network.complex=yes: must be true or false"),
        (partial(Wire, n_neurons=3.5), "network.n_neurons=3.5: must be an integer >= 1"),
        (partial(Gauss, s=0.0), "network.s=0.0: must be a number > 0"),
        (partial(Finer, w0=0), "network.w0=0: must be a number > 0"),
        (partial(Finer, w0_initial=-3.0), "network.w0_initial=-3.0: must be a number > 0"),
        (partial(Finer, first_bias_scale=0), "network.first_bias_scale=0: must be a number > 0, or null"),
        (partial(Finer, scale_req_grad=1), "network.scale_req_grad=1: must be true or false"),
        (partial(Finer, n_hidden_layers=0), "network.n_hidden_layers=0: must be an integer >= 1"),
    ],
)
def test_bad_parameters_raise_clear_errors(make, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        make(in_dim=2)
    assert str(e.value) == message


# ---- through the config: every encoding, training, conditioning ----------------------------------------------
@pytest.mark.parametrize("encoding", ["none", "basic", "positional", "fourier", "hashgrid"])
def test_every_encoding_builds_and_evaluates(make_cfg, encoding: str) -> None:
    for name in ["wire", "gauss", "finer"]:
        cfg = make_cfg("debug=fast", f"network={name}", f"encoding={encoding}")
        field = build_field(cfg, out_dim=3)
        y = field(torch.rand(10, 2))
        assert y.shape == (10, 3) and torch.isfinite(y).all(), name


def fit(params: list[torch.Tensor], loss_fn, lr: float, steps: int) -> tuple[float, float]:
    """Adam on loss_fn() -> (first loss, last loss)."""
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


@pytest.mark.parametrize("name", ["wire", "gauss", "finer"])
def test_fitting_an_image_lowers_the_loss_and_raises_psnr(make_cfg, name: str) -> None:
    """debug=fast astronaut 24^2, every pixel, the task's own loss, at the config's learning rate."""
    cfg = make_cfg("debug=fast", f"network={name}", "encoding=none", "logger=none")
    torch.manual_seed(cfg.seed)
    m = build_module(cfg, build_datamodule(cfg))
    before = m.task.evaluate(m.render(), m.clean, m.obs)["psnr"]
    every = m.pixels.every(0, 1)  # coords (576, 2), values (576, 3): every observed pixel
    first, last = fit(list(m.field.parameters()), lambda: m.task.loss(m.field, every), cfg.model.lr, 100)
    after = m.task.evaluate(m.render(), m.clean, m.obs)["psnr"]
    assert last < 0.5 * first and after > before + 3, (first, last, before, after)


TINY = ["debug=fast", "data=synthetic", "logger=none", "data.n_images=12", "data.size=8", "data.batch_size=4"]
TINY += ["data.n_val=4", "data.n_test=4", "network.n_neurons=16", "model.latent_dim=4", "model.tto_steps=2"]
TINY += ["model.val_tto_steps=1", "trainer.max_steps=3", "log.val_every_n_steps=3"]
CONDITIONED = [("wire", "film"), ("wire_real", "hypernet"), ("gauss", "film"), ("gauss", "hypernet")]
CONDITIONED += [("finer", "film"), ("finer", "hypernet")]


@pytest.mark.parametrize("network, cond", CONDITIONED, ids=[f"{n}-{c}" for n, c in CONDITIONED])
def test_a_conditional_field_fits_a_batch_of_images(make_cfg, network: str, cond: str) -> None:
    """Four synthetic 8x8 images, each from its own trained code: the loss falls."""
    name, *real = network.split("_")
    cfg = make_cfg(*TINY, f"network={name}", f"cond={cond}", *(["network.complex=false"] if real else []))
    torch.manual_seed(cfg.seed)
    images = next(iter(build_datamodule(cfg).loader("train", 4, shuffle=False)))["image"]  # (4, 8, 8, 3)
    field = build_field(cfg, out_dim=3, own_code=False)
    codes = torch.nn.Parameter(torch.randn(4, field.code_dim) * 0.1)  # (4, code_dim)
    coords, target = pixel_grid(8, 8).reshape(-1, 2), images.reshape(4, -1, 3)  # (64, 2), (4, 64, 3)
    first, last = fit([*field.parameters(), codes], lambda: (field(coords, codes) - target).pow(2).mean(), 3e-3, 40)
    assert last < 0.7 * first, (first, last)


def test_complex_wire_trains_end_to_end_on_a_collection(make_cfg) -> None:
    """Complex parameters through Lightning: Adam, validation with test-time optimisation, the checkpoint."""
    cfg = make_cfg(*TINY, "network=wire", "cond=film")
    train(cfg)
    m = json.loads((Path(cfg.run_dir) / "metrics.json").read_text())
    assert m["step"] == 3 and math.isfinite(m["test/psnr"])
    state = torch.load(Path(cfg.run_dir) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert any(t.is_complex() for t in state.values())


def test_complex_wire_refuses_a_hypernetwork_in_one_line(make_cfg) -> None:
    cfg = make_cfg(*TINY, "network=wire", "cond=hypernet")
    with pytest.raises(ConfigError) as e:
        build_field(cfg, out_dim=3)
    assert str(e.value) == (
        "cond=hypernet: it predicts real weights and network=wire has complex ones: "
        "use network.complex=false (the real Gabor wavelet) or cond=film"
    )
