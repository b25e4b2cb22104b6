"""Gradients of a field with respect to its input, and their backward (eikonal terms), through every option.

Each option of configs/encoding/ (with a small SIREN behind it) and of configs/network/ (on the encoding its
config selects) is found as tests/contracts.py finds them, built as the builder builds it, shrunk, and checked in
float64: the input gradient against central finite differences, the double backward against
torch.autograd.gradgradcheck, and the gradient of an eikonal loss | |grad f| - 1 | with respect to the parameters
against a finite difference along a random direction. encoding=grid and hashgrid are piecewise multilinear: they
are checked at points at least 5 % of a cell away from every face of every level.
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from nfields.core.errors import ConfigError
from nfields.fields.encodings.grid import Grid
from nfields.fields.encodings.hashgrid import HashGrid
from nfields.fields.field import conditioned
from nfields.fields.gradients import input_gradient, value_and_input_gradient
from nfields.run.build import build_field
from tests.contracts import options, overrides

pytestmark = pytest.mark.usefixtures("one_thread")

H = 1e-6  # central-difference step in float64: truncation ~H^2 f''' and rounding ~1e-16 |f| / H, both < 1e-9
FD_TOL = {"rtol": 1e-5, "atol": 1e-7}  # the gradients are O(1) to O(100) (SIREN's w0 = 30)
# Small sizes for whatever keys an option has: every check here is numerical, so parameters are few
SMALL = {
    "encoding": {"n_features": 6, "resolution": 4, "n_levels": 2, "log2_hashmap_size": 6, "base_resolution": 3},
    "network": {"n_neurons": 8, "n_hidden_layers": 2},
}
ENCODINGS, NETWORKS = options("encoding"), options("network")
CASES = [("encoding", n) for n in ENCODINGS] + [("network", n) for n in NETWORKS]
IDS = [f"{g}={n}" for g, n in CASES]


def small_cfg(make_cfg, group: str, name: str) -> DictConfig:
    """`debug=fast <group>=<name>` (an encoding behind network=siren), shrunk. FINER's scale_req_grad is set:
    with the repository's default (false) |x| + 1 is a constant to autograd, so its input gradient is not the
    derivative of the field (docs/extending.md)."""
    extra = ["network=siren"] if group == "encoding" else []
    cfg = make_cfg(*overrides(group, name), *extra, "cond=none")
    for part, sizes in SMALL.items():
        for key, value in sizes.items():
            if key in cfg[part]:
                OmegaConf.update(cfg, f"{part}.{key}", value)
    if "scale_req_grad" in cfg.network:
        OmegaConf.update(cfg, "network.scale_req_grad", True)
    return cfg


def double(field: torch.nn.Module) -> torch.nn.Module:
    """The field in float64, complex parameters (network=wire) in complex128."""
    field.double()
    for p in field.parameters():
        if p.is_complex():
            p.data = p.data.to(torch.complex128)
    return field


def faces_apart(enc: torch.nn.Module, x: torch.Tensor, margin: float = 0.05) -> torch.Tensor:
    """(N,) True where x (N, d) is at least `margin` of a cell from every cell face of every level of a grid
    encoding (its documented geometry), and inside the outermost vertices; True everywhere for other encodings."""
    if isinstance(enc, Grid):
        pos = x[None] * enc.res[:, None, None] - 0.5  # (L, N, d) vertex units
        inside = ((pos > 0) & (pos < enc.res[:, None, None] - 1)).all(-1).all(0)
    elif isinstance(enc, HashGrid):
        pos = x[None] * enc.scale[:, None, None].double() + 0.5
        inside = torch.ones(x.shape[0], dtype=torch.bool)
    else:
        return torch.ones(x.shape[0], dtype=torch.bool)
    frac = pos - pos.floor()
    return inside & ((frac > margin) & (frac < 1 - margin)).all(-1).all(0)


def field_and_points(make_cfg, group: str, name: str, d: int, n: int = 6) -> tuple[torch.nn.Module, torch.Tensor]:
    """The option's field on d-D coordinates, one output, float64; n points in (0.05, 0.95)^d away from faces."""
    torch.manual_seed(0)
    field = double(build_field(small_cfg(make_cfg, group, name), out_dim=1, in_dim=d))
    x = torch.rand(400, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.05
    x = x[faces_apart(field.encoding, x)][:n]
    assert x.shape == (n, d), "too few points away from the cell faces: shrink the grid"
    return field, x


def central_differences(fn, x: torch.Tensor) -> torch.Tensor:
    """(N, d): (f(x + H e_k) - f(x - H e_k)) / 2H for each axis k."""
    eye = torch.eye(x.shape[-1], dtype=x.dtype) * H
    with torch.no_grad():
        return torch.stack([(fn(x + e) - fn(x - e))[:, 0] / (2 * H) for e in eye], -1)


def eikonal(field, x: torch.Tensor) -> torch.Tensor:
    """| |grad f| - 1 | averaged over the points (): SIREN's and IGR's eikonal term."""
    return (input_gradient(field, x).norm(dim=-1) - 1).abs().mean()


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("group, name", CASES, ids=IDS)
def test_input_gradient_matches_central_differences(make_cfg, group: str, name: str, d: int) -> None:
    field, x = field_and_points(make_cfg, group, name, d)
    value, grad = value_and_input_gradient(field, x)
    assert value.shape == (6, 1) and grad.shape == (6, d) and grad.dtype == torch.float64
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, central_differences(field, x), **FD_TOL)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("group, name", CASES, ids=IDS)
def test_double_backward_matches_gradgradcheck(make_cfg, group: str, name: str, d: int) -> None:
    """The second derivatives in the input, analytic (autograd's double backward) against numerical ones."""
    field, x = field_and_points(make_cfg, group, name, d, n=3)
    assert torch.autograd.gradgradcheck(field, (x.requires_grad_(),), eps=H, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("group, name", CASES, ids=IDS)
def test_eikonal_loss_gradient_in_the_parameters_is_finite_nonzero_and_right(make_cfg, group: str, name: str) -> None:
    """3-D: the eikonal loss's gradient in the parameters is finite, nonzero, and agrees with a finite difference
    of the loss along a random direction of all parameters (so a parameter it misses would show)."""
    field, x = field_and_points(make_cfg, group, name, 3)
    loss = eikonal(field, x)
    loss.backward()
    params = [p for p in field.parameters() if p.requires_grad]
    # None: a parameter the input gradient does not depend on (the head's bias); the difference below checks it
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    gen = torch.Generator().manual_seed(2)
    v = [torch.randn(p.shape, dtype=p.dtype, generator=gen) for p in params]
    analytic = sum(
        (g.conj() * u).real.sum() if g.is_complex() else (g * u).sum() for g, u in zip(grads, v, strict=True)
    )

    def shifted(step: float) -> float:
        with torch.no_grad():
            for p, u in zip(params, v, strict=True):
                p.add_(u, alpha=step)
        out = eikonal(field, x).item()
        with torch.no_grad():
            for p, u in zip(params, v, strict=True):
                p.sub_(u, alpha=step)
        return out

    numeric = (shifted(H) - shifted(-H)) / (2 * H)
    assert numeric == pytest.approx(analytic.item(), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("latent", options("latent"))
@pytest.mark.parametrize("cond", [c for c in options("cond") if c != "none"])
def test_conditional_fields_have_a_double_backward(make_cfg, cond: str, latent: str) -> None:
    """Every conditioning with every latent layout (3-D with a global code; local codes are a 2-D grid, so 2-D
    there): the input gradient of the field conditioned on codes (B, N, d), and the eikonal loss's gradient
    reaches what the codes go through."""
    cfg = make_cfg("debug=fast", "network=siren", f"cond={cond}", f"latent={latent}", "model.latent_dim=4")
    OmegaConf.update(cfg, "network.n_neurons", 8)
    torch.manual_seed(0)
    d = 3 if latent == "global" else 2
    field = build_field(cfg, out_dim=1, in_dim=d, own_code=False)
    codes = torch.randn(2, field.code_dim, requires_grad=True)  # (B, code_dim)
    x = torch.rand(2, 5, d)  # (B, N, d)
    grad = input_gradient(conditioned(field, codes), x)
    assert grad.shape == (2, 5, d) and torch.isfinite(grad).all()
    (grad.norm(dim=-1) - 1).abs().mean().backward()
    # the path from the codes: the codes themselves, or the conditioning's map from them (FiLM's starts at zero)
    via_codes = [codes.grad, *(p.grad for p in field.cond.parameters() if p.grad is not None)]
    assert sum(g.abs().sum() for g in via_codes) > 0
    assert all(torch.isfinite(p.grad).all() for p in [codes, *field.parameters()] if p.grad is not None)


@pytest.mark.parametrize("latent", options("latent"))
@pytest.mark.parametrize("cond", [c for c in options("cond") if c != "none"])
def test_conditional_input_gradients_are_right(make_cfg, cond: str, latent: str) -> None:
    """float64, 2-D: the conditioned field's input gradient against central differences and its double backward
    against gradgradcheck, at points away from the faces of the 4 x 4 local code grids (pos = 4u - 0.5)."""
    cfg = make_cfg("debug=fast", "network=siren", f"cond={cond}", f"latent={latent}", "model.latent_dim=3")
    OmegaConf.update(cfg, "network.n_neurons", 8)
    torch.manual_seed(0)
    field = double(build_field(cfg, out_dim=1, in_dim=2, own_code=False))
    codes = torch.randn(1, field.code_dim, dtype=torch.float64)  # (1, code_dim)
    fn = conditioned(field, codes)
    x = torch.tensor([[[0.2, 0.4], [0.7, 0.55], [0.4, 0.7]]], dtype=torch.float64)  # (1, 3, 2): fractions 0.1-0.7
    central = central_differences(lambda t: fn(t[None])[0], x[0])  # (3, 2)
    torch.testing.assert_close(input_gradient(fn, x)[0], central, **FD_TOL)
    assert torch.autograd.gradgradcheck(fn, (x.requires_grad_(),), eps=H, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("latent", [n for n in options("latent") if n != "global"])
def test_local_codes_refuse_other_than_2d_coordinates(make_cfg, latent: str) -> None:
    cfg = make_cfg("debug=fast", "cond=concat", f"latent={latent}", "model.latent_dim=4")
    with pytest.raises(ConfigError, match=r"^latent.grid_size=4: local codes are a 2-D grid .* 3-D .*latent=global$"):
        build_field(cfg, out_dim=1, in_dim=3)


def test_eikonal_training_lowers_the_loss(make_cfg) -> None:
    """Adam on | |grad f| - 1 | alone (a double backward every step) drives a 3-D SIREN towards |grad f| = 1."""
    torch.manual_seed(0)
    field = build_field(small_cfg(make_cfg, "network", "siren"), out_dim=1, in_dim=3)
    opt = torch.optim.Adam(field.parameters(), lr=1e-3)
    x = torch.rand(256, 3)
    first = eikonal(field, x).item()
    for _ in range(40):
        loss = eikonal(field, torch.rand(256, 3))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eikonal(field, x).item() < 0.5 * first


def test_helper_gives_the_analytic_gradient_and_its_graph() -> None:
    """f(x) = |x|^2: grad 2x; with create_graph its backward is the Hessian's (2 I) action; without, a plain
    tensor; under no_grad it still works; a field with several outputs is refused in one line."""
    x = torch.rand(7, 3, dtype=torch.float64)
    sq = lambda t: t.pow(2).sum(-1, keepdim=True)  # noqa: E731
    with torch.no_grad():
        value, grad = value_and_input_gradient(sq, x)
    torch.testing.assert_close(grad, 2 * x)
    torch.testing.assert_close(value, sq(x))
    xl = x.clone().requires_grad_()
    input_gradient(sq, xl).sum().backward()  # d/dx sum(2x) = 2
    torch.testing.assert_close(xl.grad, torch.full_like(x, 2.0))
    assert not input_gradient(sq, x, create_graph=False).requires_grad
    with pytest.raises(ValueError, match=r"must return \(\.\.\., N, 1\), got \(7, 2\)"):
        input_gradient(lambda t: t[:, :2], x)


def test_kept_features_do_not_hide_the_input(make_cfg) -> None:
    """encoding=fourier keeps a full batch's features (NeuralField.keep_input): the gradient at those very
    coordinates is still the field's, not zero."""
    torch.manual_seed(0)
    field = build_field(small_cfg(make_cfg, "encoding", "fourier"), out_dim=1, in_dim=3)
    x = torch.rand(16, 3)
    plain = input_gradient(field, x, create_graph=False)
    field.keep_input(x)
    field(x)  # the features of x are now kept
    torch.testing.assert_close(input_gradient(field, x, create_graph=False), plain)
    assert plain.abs().sum() > 0
