"""task=occupancy: the loss on known logit fields, the labels against the analytic inside test (an analytic shape
and a mesh whose sign comes from winding numbers), the refusals, and a short fit through train.py whose loss falls
and IoU rises, its surface extracted outward-facing from the checkpoint."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import trimesh
from hydra.utils import instantiate

from nfields.core.errors import ConfigError, DataError
from nfields.core.views import GAP
from nfields.data.shape import ShapeDataModule
from nfields.data.shape_analytic import Box, Sphere, Torus
from nfields.tasks.occupancy import Occupancy, inside_labels
from nfields.tasks.shape import ShapeBatch
from tests.conftest import ROOT, run_train


def batch_of(shape, n: int = 512, seed: int = 0) -> ShapeBatch:
    """Points near the surface and uniform in the cube with the shape's exact signed distances."""
    rng = np.random.default_rng(seed)
    surface, normals = shape.sample_surface(n, rng)
    near = np.concatenate([surface + rng.normal(size=surface.shape) * 0.02, rng.uniform(0, 1, (n, 3))])
    t = lambda a: torch.from_numpy(a).float()  # noqa: E731
    free = t(rng.uniform(0, 1, (n, 3)))
    return ShapeBatch(t(surface), t(normals), free, t(near), t(shape.signed_distance(near)))


def logit_of(shape, k: float):
    """A logit field -k x the shape's signed distance: confident (k large) and right inside and out (k > 0)."""
    return lambda x: torch.from_numpy(-k * shape.signed_distance(x.double().numpy())).float()[:, None]


def test_the_loss_is_the_bce_of_the_logit_against_the_inside() -> None:
    batch = batch_of(Torus())
    task = Occupancy()
    right, wrong = task.loss(logit_of(Torus(), 1e4), batch)[0], task.loss(logit_of(Torus(), -1e4), batch)[0]
    unsure = task.loss(lambda x: torch.zeros(len(x), 1), batch)[0]
    assert float(right) < 0.01 < math.log(2) < float(wrong)
    assert float(unsure) == pytest.approx(math.log(2), rel=1e-6)  # p = 1/2 everywhere: log 2 whatever the labels
    logits = torch.randn(len(batch.near), requires_grad=True)  # the formula, and its gradient to the logits
    loss, terms = task.loss(lambda x: logits[:, None], batch)
    p, y = torch.sigmoid(logits.detach()), (batch.near_sdf < 0).float()
    assert float(loss.detach()) == pytest.approx(float(-(y * p.log() + (1 - y) * (1 - p).log()).mean()), rel=1e-5)
    assert set(terms) == {"bce"} and float(terms["bce"]) == pytest.approx(float(loss.detach()))
    loss.backward()
    assert torch.allclose(logits.grad, (p - y) / len(y), atol=1e-7)


@pytest.mark.parametrize("shape", [Sphere(), Torus(), Box()], ids=lambda s: s.name)
def test_the_labels_agree_with_the_analytic_inside_test(shape) -> None:
    dm = ShapeDataModule(analytic=shape.name, task=Occupancy(), near=2000, pool=500, size=8, eval_points=100)
    dm.setup()
    labels = inside_labels(torch.from_numpy(dm.near_sdf)).bool().numpy()
    assert np.array_equal(labels, shape.signed_distance(dm.near) < 0) and 0.1 < labels.mean() < 0.9
    # as many uniform points as near ones: labels across the whole cube, not only at the surface
    assert len(dm.near) == 4000 and (np.abs(dm.near_sdf) > 0.1).mean() > 0.2


def test_a_meshs_labels_from_winding_numbers_agree_with_the_analytic_inside(tmp_path: Path) -> None:
    m = trimesh.creation.box(extents=2 * np.asarray(Box().half))  # Box()'s surface, about the origin
    path = tmp_path / "box.off"
    trimesh.Trimesh(np.asarray(m.vertices) * 3, m.faces, process=False).export(path)  # other units
    dm = ShapeDataModule(path=str(path), extent=0.6, task=Occupancy(), near=2000, pool=500, size=8)
    dm.setup()  # extent 0.6: the box's longest side 0.6, as Box() about the cube's centre
    labels = inside_labels(torch.from_numpy(dm.near_sdf)).bool().numpy()
    assert np.array_equal(labels, Box().signed_distance(dm.near) < 0) and 0.1 < labels.mean() < 0.9


def test_what_has_no_inside_is_refused_in_one_line(tmp_path: Path) -> None:
    pts, normals = Sphere().sample_surface(200, np.random.default_rng(1))
    path = tmp_path / "ball.xyz"
    np.savetxt(path, np.hstack([pts, normals]))
    with pytest.raises(DataError, match="ball.xyz: task=occupancy needs signed distances") as e:
        ShapeDataModule(path=str(path), task=Occupancy(), near=100, pool=100).setup()
    assert "\n" not in str(e.value) and "task=sdf with task.loss=siren or igr" in str(e.value)
    with pytest.raises(ConfigError, match="^data.near=0: task=occupancy trains on points near the surface"):
        ShapeDataModule(near=0, task=Occupancy())
    batch = batch_of(Sphere())
    batch.near_sdf = None
    with pytest.raises(ValueError, match="task=occupancy needs inside/outside labels"):
        Occupancy().loss(logit_of(Sphere(), 1.0), batch)


def test_the_config_option_builds(make_cfg) -> None:
    cfg = make_cfg("data=shape", "task=occupancy")
    assert isinstance(instantiate(cfg.task), Occupancy) and cfg.network.output_activation == "identity"
    assert cfg.model._target_.endswith("ShapeModule")


def test_a_short_fit_lowers_the_loss_and_raises_the_iou(tmp_path: Path) -> None:
    args = [
        "data=shape",  # the analytic default, the torus
        "task=occupancy",
        "network.n_neurons=32",
        "network.n_hidden_layers=2",
        "model.lr=3e-3",
        "model.scheduler=null",
        "data.size=24",
        "data.batch_size=512",
        "data.pool=4000",
        "data.near=2000",
        "data.eval_points=3000",
        "trainer.max_steps=90",
        "log.val_every_n_steps=30",
        "log.gif_every_n_steps=30",
        "log.gif_max_size=48",
        "log.panel_height=48",
        "model.view_size=32",
        "logger=csv",
        f"hydra.run.dir={tmp_path}",
    ]
    result = run_train(args, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((tmp_path / "history.json").read_text())
    losses = [h["train/loss"] for h in history["train"]]
    assert losses[-1] < 0.8 * losses[0], losses
    ious = [h["val/iou"] for h in history["val"]]
    assert ious[-1] > ious[0] and ious[-1] > 0.6, ious
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert math.isfinite(metrics["test/chamfer_l1"]) and metrics["test/iou"] > 0.6
    # the checkpoint alone: the logit's zero level, its triangles facing out (the divergence theorem's volume > 0)
    render = subprocess.run(
        [sys.executable, str(ROOT / "scripts/render.py"), str(tmp_path / "checkpoints/last.ckpt"), "--size", "32"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert render.returncode == 0, render.stderr[-2000:]
    mesh = trimesh.load(tmp_path / "render_32.ply")
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    volume = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6
    torus = 2 * np.pi**2 * 0.25 * 0.1**2
    assert volume == pytest.approx(torus, rel=0.5)
    # and its shaded views, marched along the rays on the logit (the checkpoint says it is no distance)
    views = subprocess.run(
        [sys.executable, str(ROOT / "scripts/render.py"), str(tmp_path / "checkpoints/last.ckpt"), "--views"]
        + ["--image-size", "40"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert views.returncode == 0, views.stderr[-2000:]
    img = iio.imread(tmp_path / "views_40.png")
    assert img.shape == (40, 3 * 40 + 2 * GAP, 3)
    for k in range(3):  # each view shows the torus in its middle, on a white background at its corners
        tile = img[:, k * (40 + GAP) : k * (40 + GAP) + 40]
        assert (tile[0, 0] == 255).all() and (tile[15:25, 5:35] < 250).any()
