"""What every option of a group must do, checked on each option found in `configs/<group>/*.yaml` (and in any
extra config dir on Hydra's search path): adding an option's two files adds it here, with no list to edit.

Each check takes the composed run config (`debug=fast <group>=<name>`, as train.py composes it) and the keys
the option's own YAML sets; tests/test_contracts.py runs them on the repository's options,
tests/test_two_files.py on throwaway ones from a temporary config dir.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nfields.core.coords import pixel_grid
from nfields.core.errors import ConfigError
from nfields.fields.encodings.base import Encoding
from nfields.run.build import build_field
from nfields.run.compose import CONFIGS
from nfields.run.exits import building
from nfields.run.options import option_names
from nfields.tasks.base import Observation
from nfields.tasks.shape import ShapeBatch, ShapeTask

H, W, C = 20, 18, 3  # a small image, not square, so rows and columns cannot be swapped unnoticed
BAD = "x"  # a value no argument of an encoding, network, task or field accepts: each must say so in one line


def options(group: str, *dirs: Path) -> list[str]:
    """The options of `group`: configs/<group>/*.yaml, then those of the extra config dirs."""
    return sorted({*option_names(CONFIGS, group), *(n for d in dirs for n in option_names(d, group))})


def own_keys(group: str, name: str, *dirs: Path) -> list[str]:
    """The arguments the option's YAML sets for its group (under `<group>:` in a `# @package _global_` file)."""
    path = next(p for d in (*dirs, CONFIGS) if (p := d / group / f"{name}.yaml").is_file())
    text = path.read_text()
    content = yaml.safe_load(text) or {}
    node = content.get(group, {}) if "@package _global_" in text.split("\n", 1)[0] else content
    return [k for k in node if not (k.startswith("_") and k.endswith("_"))]


def overrides(group: str, name: str, *dirs: Path) -> list[str]:
    """The command line that selects the option (its dirs on Hydra's search path, as docs/extending.md does)."""
    search = [f"hydra.searchpath=[{','.join(f'file://{d}' for d in dirs)}]"] if dirs else []
    return [*search, "debug=fast", f"{group}={name}"]


def with_value(node: DictConfig, key: str, value: Any) -> DictConfig:
    bad = OmegaConf.to_container(node, resolve=True)
    bad[key] = value
    return OmegaConf.create(bad)


def refuses(make: Callable[[], Any], key: str) -> None:
    """make() raises a ConfigError whose one line starts with `key=x: ` (the builder's path: `building`)."""
    with pytest.raises(ConfigError) as e, building():
        make()
    assert str(e.value).startswith(f"{key}={BAD}: ") and "\n" not in str(e.value), str(e.value)


def check_bad_arguments(cfg: DictConfig, group: str, keys: Sequence[str], build: Callable[[DictConfig], Any]) -> None:
    """Every argument the option's YAML sets refuses a bad value with `<group>.<key>=x: must be ...`."""
    assert keys, f"{group}: no argument to check"
    for key in keys:
        refuses(lambda key=key: build(with_value(cfg[group], key, BAD)), f"{group}.{key}")


# ---- encodings ----------------------------------------------------------------------------------------------


def declares_fp32(cls: type[Encoding]) -> bool:
    """The code's mark that an encoding computes in fp32 under mixed precision: its forward (or a base class's
    below Encoding) runs under `torch.autocast(..., enabled=False)` (docs/extending.md, "Precision")."""
    own = [k for k in cls.__mro__ if issubclass(k, Encoding) and k is not Encoding]
    return any("autocast(" in (src := inspect.getsource(k)) and "enabled=False" in src for k in own)


def check_encoding(cfg: DictConfig, keys: Sequence[str]) -> None:
    enc = instantiate(cfg.encoding)
    assert isinstance(enc, Encoding) and isinstance(enc.out_dim, int) and enc.out_dim >= 1
    d = enc.in_dim
    gen = torch.Generator().manual_seed(0)
    # shapes: any leading dims, out_dim features
    assert enc(torch.rand(3, 7, d, generator=gen)).shape == (3, 7, enc.out_dim)
    x = torch.rand(64, d, generator=gen, requires_grad=True)
    y = enc(x)
    assert y.shape == (64, enc.out_dim) and torch.isfinite(y).all()
    # gradients reach the coordinates (eikonal terms, hypernetworks) and every trainable parameter
    (y * torch.randn(y.shape, generator=gen)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for n, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n
    # wrong coordinate width: one clear error
    with pytest.raises(ValueError, match=rf"\(\.\.\., {d}\)"):
        enc(torch.rand(4, d + 1))
    if declares_fp32(type(enc)):  # under bf16 autocast: the same fp32 numbers as without it
        x = torch.rand(256, d, generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, out_bf16 = enc(x), enc(x.bfloat16())
        assert out.dtype == out_bf16.dtype == torch.float32
        assert torch.allclose(out, enc(x), atol=1e-5)
        assert torch.allclose(out_bf16, enc(x.bfloat16().float()), atol=1e-5)
    check_bad_arguments(cfg, "encoding", [*keys, *(["in_dim"] if "in_dim" not in keys else [])], instantiate)


# ---- networks -----------------------------------------------------------------------------------------------


def check_network(cfg: DictConfig, keys: Sequence[str]) -> None:
    """The network partial completed as NeuralField completes it: in_dim from the encoding, out_dim the data's."""
    torch.manual_seed(0)
    net = instantiate(cfg.network)(in_dim=6, out_dim=C, coord_dim=6)
    assert net.out_dim == C
    x = torch.rand(2, 5, 6) * 2 - 1  # (B, N, in_dim): encoded features, or c in [-1, 1]
    assert net(x).shape == (2, 5, C) and net(x[0]).shape == (5, C)
    y = net(torch.rand(64, 6) * 2 - 1)
    assert torch.isfinite(y).all()
    (y * torch.randn(y.shape)).sum().backward()
    for n, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n
    torch.manual_seed(0)  # seeded: the same initialisation again
    again = instantiate(cfg.network)(in_dim=6, out_dim=C, coord_dim=6)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters(), strict=True))
    if not any(p.is_complex() for p in net.parameters()):  # the hypernetwork path: per-batch (W, b), same function
        params = [(lin.weight.expand(2, -1, -1), lin.bias.expand(2, -1)) for lin in net.layers]
        assert [tuple(w.shape[1:]) for w, _ in params] == [s for s, _ in net.param_shapes()]
        with torch.no_grad():
            assert torch.allclose(net(x, params=params), net(x), atol=1e-5)
    refuses(lambda: instantiate(cfg.network)(in_dim=BAD, out_dim=C), "network.in_dim")
    check_bad_arguments(cfg, "network", keys, lambda node: instantiate(node)(in_dim=6, out_dim=C))


# ---- tasks --------------------------------------------------------------------------------------------------


def pixel_keys(coords: torch.Tensor) -> torch.Tensor:
    """(N, 2) coordinates -> (N,) row-major index of the full-resolution pixel whose centre each is, -1 if none."""
    ij = torch.stack([coords[:, 1] * H - 0.5, coords[:, 0] * W - 0.5], -1)  # (N, 2) (row, col), fractional
    centre = (ij - ij.round()).abs().amax(-1) < 1e-4
    idx = ij.round().long()
    return torch.where(centre, idx[:, 0] * W + idx[:, 1], -1)


def check_task(cfg: DictConfig, keys: Sequence[str]) -> None:
    task = instantiate(cfg.task)
    image = torch.rand(H, W, C, generator=torch.Generator().manual_seed(1))
    obs = task.observe(image)
    pts, values = obs.points(), obs.values.float()
    n = pts.shape[0]
    assert n > 0 and pts.shape == (n, 2) and values.shape == (n, C)
    assert ((pts > 0) & (pts < 1)).all() and obs.display.shape == image.shape
    if obs.train_mask is not None:  # on the grid: the coordinates of train_mask, row-major (Observation.points)
        assert torch.equal(pts, pixel_grid(H, W)[obs.train_mask])
    # the split (docs/tasks.md): val and test score disjoint pixels, or both every pixel (None)
    val, test = obs.mask("val"), obs.mask("test")
    assert (val is None) == (test is None)
    if val is not None:
        assert val.shape == test.shape == (H, W) and val.dtype == test.dtype == torch.bool
        assert val.any() and test.any() and not (val & test).any(), "val/* and test/* must score disjoint pixels"
        # no scored pixel's clean value is observed: at a scored pixel's centre the model sees another value
        scored = (val | test).flatten()
        keys_ = pixel_keys(pts)
        hit = (keys_ >= 0) & scored[keys_.clamp_min(0)]
        clean = image.reshape(-1, C)[keys_[hit]]
        assert not torch.isclose(values[hit], clean, atol=1e-6).all(-1).any(), "a scored pixel is observed"
    # seeded: the same observation again, whatever the global RNG
    torch.manual_seed(123)
    again = instantiate(cfg.task).observe(image)
    assert torch.equal(again.points(), pts) and torch.equal(again.values.float(), values)
    # the forward model: the field measured as the observations are, any leading dims, gradients to the field
    field = torch.nn.Linear(2, C)
    assert task.forward_model(field, obs).shape == (n, C)
    stacked = Observation.stack([obs, again])  # (2, n, ...): a collection's batch
    assert task.forward_model(field, stacked).shape == (2, n, C)
    batch = obs.take(torch.arange(0, n, 2))  # a training batch is measured as the whole
    assert torch.allclose(task.forward_model(field, batch), task.forward_model(field, obs)[::2], atol=1e-6)
    loss = task.loss(field, obs)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert field.weight.grad is not None and field.weight.grad.abs().sum() > 0
    check_bad_arguments(cfg, "task", [*keys, *(["seed"] if "seed" not in keys else [])], instantiate)


# ---- fields -------------------------------------------------------------------------------------------------


def check_field(cfg: DictConfig, keys: Sequence[str]) -> None:
    """The field as the builder makes it (its parts from their groups): (..., N, 2) -> (..., N, C), gradients."""
    torch.manual_seed(0)
    field = build_field(cfg, out_dim=C)
    assert field.out_dim == C
    x = torch.rand(2, 64, 2)
    assert field(x).shape == (2, 64, C)
    y = field(x[0])
    assert y.shape == (64, C) and torch.isfinite(y).all()
    (y * torch.randn(y.shape)).sum().backward()
    grads = [p.grad for p in field.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    if keys:
        check_bad_arguments(cfg, "field", keys, lambda node: build_field(with_field(cfg, node), out_dim=C))


def with_field(cfg: DictConfig, node: DictConfig) -> DictConfig:
    out = OmegaConf.to_container(cfg, resolve=False)
    out["field"] = OmegaConf.to_container(node)
    return OmegaConf.create(out)


CHECKS: dict[str, Callable[[DictConfig, Sequence[str]], None]] = {
    "encoding": check_encoding,
    "network": check_network,
    "task": lambda cfg, keys: (check_shape_task if shape_task(cfg) else check_task)(cfg, keys),
    "field": check_field,
}


# ---- shape tasks (task=sdf): a ShapeBatch of points, not a grid ----------------------------------------------


def shape_task(cfg: DictConfig) -> bool:
    return isinstance(instantiate(cfg.task), ShapeTask)


def check_shape_task(cfg: DictConfig, keys: Sequence[str]) -> None:
    """The loss of a shape task on a sphere's points: a finite scalar whose named terms sum to it, gradients to the
    field's parameters through the input gradient (a double backward), the same loss again for the same points."""
    task = instantiate(cfg.task)
    gen = torch.Generator().manual_seed(0)
    normals = torch.nn.functional.normalize(torch.randn(64, 3, generator=gen), dim=-1)
    near = 0.5 + 0.3 * normals + 0.02 * torch.randn(64, 3, generator=gen)
    batch = ShapeBatch(
        0.5 + 0.3 * normals, normals, torch.rand(64, 3, generator=gen), near, (near - 0.5).norm(dim=-1) - 0.3
    )
    field = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Softplus(), torch.nn.Linear(16, 1))
    loss, terms = task.loss(field, batch)
    assert loss.shape == () and torch.isfinite(loss) and terms
    assert torch.isclose(sum(terms.values()), loss.detach(), rtol=1e-5)
    loss.backward()
    for n, p in field.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
    assert field[0].weight.grad.abs().sum() > 0
    assert torch.equal(task.loss(field, batch)[0].detach(), loss.detach())
    check_bad_arguments(cfg, "task", [*keys, *(["seed"] if "seed" not in keys else [])], instantiate)
