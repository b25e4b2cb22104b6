"""task.loss=bacon (BACON's objective, FINER's SDF experiments'): its pool of coarse and fine Laplace-offset points
with distances estimated from the surface samples, drawn pair by pair; where it is refused; a short fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.data.shape import laplace_samples
from nfields.data.shape_analytic import Sphere
from nfields.run.build import build_datamodule, build_module
from nfields.run.exits import building

SMALL = [
    "data=shape", "data.analytic=sphere", "task.loss=bacon", "data.size=8", "data.pool=4000", "data.near=2000",
    "data.eval_points=300", "data.batch_size=64", "network.n_neurons=32", "network.n_hidden_layers=2", "logger=none",
]  # fmt: skip


def test_laplace_samples_estimate_a_spheres_distance_in_pairs() -> None:
    """Coarse points (even) spread about 100 times further than fine ones (odd); all inside the cube; the estimate
    (x - p1) . mean normal is the exact distance to within the sphere's curvature over the points' spacing."""
    rng = np.random.default_rng(0)
    points, normals = Sphere().sample_surface(20_000, rng)
    x, s = laplace_samples(points, normals, 4001, (0.1, 0.001), rng)
    assert x.shape == (4000, 3) and s.shape == (4000,) and ((x >= 0) & (x <= 1)).all()
    coarse, fine = np.median(np.abs(s[::2])), np.median(np.abs(s[1::2]))
    assert 50 < coarse / fine < 200, (coarse, fine)
    err = np.abs(s - Sphere().signed_distance(x))
    assert np.percentile(err[1::2], 95) < 1e-4 and np.percentile(err[::2], 95) < 1e-3


def test_a_step_draws_pairs_coarse_at_even_positions(make_cfg) -> None:
    cfg = make_cfg(*SMALL)
    module = build_module(cfg, build_datamodule(cfg))
    batch = module.sample(torch.Generator().manual_seed(0))
    assert batch.near.shape == (64, 3) and batch.near_sdf.shape == (64,)
    rows = torch.cdist(batch.near, module.near).argmin(1)  # (64,): each drawn point's row in the pool
    assert torch.equal(rows % 2, torch.arange(64) % 2)  # even rows of the pool are coarse, odd fine
    assert module.data.near.shape == (2000, 3)  # no uniform share: BACON's points are all near ones


def test_bacon_is_refused_where_it_cannot_train(make_cfg) -> None:
    cfg = make_cfg(*SMALL, "data.near=1")
    with pytest.raises(ConfigError, match=r"^data.near=1: task.loss=bacon trains on pairs"), building():
        build_datamodule(cfg)  # building(): the constructor's one line, out of Hydra's wrapper (as train.py shows it)
    cfg = make_cfg("data=shape_set", "task.loss=bacon", "data.count=6", "data.val=1", "data.test=1")
    with pytest.raises(ConfigError, match=r"^task.loss=bacon: fits one shape \(data=shape\)"), building():
        build_datamodule(cfg)


def test_a_short_fit_lowers_the_loss(make_cfg) -> None:
    cfg = make_cfg(*SMALL, "model.lr=1e-3")
    torch.manual_seed(0)  # the field's initial weights: the first losses vary 5x between draws (ratios 0.03-0.24)
    module = build_module(cfg, build_datamodule(cfg))
    module.generator = torch.Generator().manual_seed(0)
    opt = module.build_optimizer(module.param_groups())
    losses = []
    for _ in range(40):
        loss = module.loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert set(module.terms) == {"sdf_fine", "sdf_coarse"}
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses[::5]
