"""task=sdf, surface extraction and shape metrics: each loss's terms on known fields, the input gradient's double
backward through the encodings that support it, marching cubes of an analytic SDF against the true surface, the
metrics on known point sets, and a short fit through train.py that lowers the loss and the Chamfer distance."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from hydra.utils import instantiate

from nfields.core.errors import ConfigError
from nfields.core.geometry import sample_surface
from nfields.core.sdf_mesh import extract_surface, mid_planes, plane_points, sdf_picture
from nfields.core.shape_metrics import iou, surface_scores
from nfields.data.shape_analytic import Box, Sphere, Torus
from nfields.run.build import build_datamodule, build_field, build_module
from nfields.tasks.sdf import SDF, value_and_gradient
from nfields.tasks.shape import ShapeBatch
from tests.conftest import ROOT, run_train

R = 0.3  # Sphere()'s radius, centred at 0.5


def sphere_sdf(scale: float = 1.0):
    """The sphere's signed distance times `scale`, as a field (M, 3) -> (M, 1)."""
    return lambda x: scale * ((x - 0.5).norm(dim=-1, keepdim=True) - R)


def sphere_batch(n: int = 256, seed: int = 0) -> ShapeBatch:
    rng = np.random.default_rng(seed)
    surface, normals = (torch.from_numpy(a).float() for a in Sphere().sample_surface(n, rng))
    free = torch.from_numpy(rng.uniform(0, 1, (n, 3))).float()
    near = surface + 0.05 * torch.from_numpy(rng.normal(size=(n, 3))).float()
    return ShapeBatch(surface, normals, free, near, (near - 0.5).norm(dim=-1) - R)


def test_the_losses_vanish_on_the_true_sdf_but_for_sirens_off_surface_term() -> None:
    batch = sphere_batch()
    siren = SDF("siren").loss(sphere_sdf(), batch)[1]
    assert siren["sdf"] < 1e-2 and siren["normal"] < 1e-3 and siren["eikonal"] < 1e-3
    d = ((batch.free - 0.5).norm(dim=-1) - R).abs()  # exp(-100 |f|) x 1e2, a mean over surface and free points
    assert siren["inter"] == pytest.approx(float(torch.exp(-100 * d).sum() / (2 * len(d)) * 1e2), rel=1e-4)
    for kind in ("igr", "deepsdf"):
        loss, terms = SDF(kind).loss(sphere_sdf(), batch)
        assert float(loss.detach()) < 1e-5, (kind, terms)


def test_each_term_measures_what_it_says_on_a_wrong_field() -> None:
    """f = 2 d: |grad f| = 2 everywhere; f = d + 0.01: off the surface by 0.01; f = -d: normals reversed."""
    batch = sphere_batch()
    terms = SDF("siren").loss(sphere_sdf(2.0), batch)[1]
    assert terms["eikonal"] == pytest.approx(50.0, rel=1e-4) and terms["normal"] < 1e-3
    assert SDF("igr").loss(sphere_sdf(2.0), batch)[1]["eikonal"] == pytest.approx(0.1, rel=1e-4)
    shifted = lambda x: sphere_sdf()(x) + 0.01  # noqa: E731
    assert SDF("siren").loss(shifted, batch)[1]["sdf"] == pytest.approx(0.01 * 3e3 / 2, rel=1e-3)  # half the batch
    assert SDF("igr").loss(shifted, batch)[1]["sdf"] == pytest.approx(0.01, rel=1e-3)
    flipped = sphere_sdf(-1.0)
    assert SDF("siren").loss(flipped, batch)[1]["normal"] == pytest.approx(2 * 1e2 / 2, rel=1e-3)  # 1 - cos = 2
    assert SDF("igr").loss(flipped, batch)[1]["normal"] == pytest.approx(2.0, rel=1e-3)  # |-n - n|
    big = sphere_sdf(10.0)  # DeepSDF clamps both sides at 0.1
    expected = (big(batch.near)[:, 0].clamp(-0.1, 0.1) - batch.near_sdf.clamp(-0.1, 0.1)).abs().mean()
    assert SDF("deepsdf").loss(big, batch)[0] == pytest.approx(float(expected), rel=1e-5)


def test_bad_task_arguments_are_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^task.loss=l2: must be one of siren, igr, deepsdf"):
        SDF("l2")
    with pytest.raises(ConfigError, match=r"^task.clamp=0: "):
        SDF(clamp=0)


@pytest.mark.parametrize("encoding", ["none", "positional", "fourier", "hashgrid"])
def test_the_input_gradient_and_its_backward_through_encodings(make_cfg, one_thread, encoding: str) -> None:
    """value_and_gradient against central differences, and the eikonal term's gradient reaching the network's
    first layer: a double backward through the encoding."""
    cfg = make_cfg("data=shape", f"encoding={encoding}", "network.n_neurons=16")  # SIREN: smooth, no ReLU kinks
    torch.manual_seed(0)
    field = build_field(cfg, out_dim=1, in_dim=3)  # fp32: encodings compute their features in fp32
    with torch.no_grad():  # a grid's tables at a trained scale, not their 1e-4 init (float32 differences resolve it)
        for p in field.encoding.parameters():
            p.uniform_(-0.1, 0.1)
    x = torch.rand(32, 3) * 0.8 + 0.1
    f, g = value_and_gradient(field, x)
    eps = 1e-5  # small against positional's top period and the hash grid's finest cell (1 / 511)
    with torch.no_grad():
        steps = torch.eye(3) * eps
        fd = torch.stack([(field(x + e)[:, 0] - field(x - e)[:, 0]).double() / (2 * eps) for e in steps], -1)
    close = ((g.double() - fd).abs() <= 0.02 * fd.abs() + 0.02 * float(fd.abs().max())).all(-1)  # (32,)
    assert close.float().mean() >= 0.8  # a grid's trilinear pieces have kinks a difference may straddle
    ((g.norm(dim=-1) - 1) ** 2).mean().backward()
    first = field.network.layers[0].weight
    assert first.grad is not None and torch.isfinite(first.grad).all() and first.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [Sphere(), Torus(), Box()], ids=lambda s: s.name)
def test_marching_cubes_of_an_analytic_sdf_finds_the_true_surface(shape) -> None:
    calls: list[int] = []

    def fn(p: np.ndarray) -> np.ndarray:
        calls.append(len(p))
        return shape.signed_distance(p)

    verts, faces = extract_surface(fn, 48, slab=5)
    assert max(calls) <= 6 * 48 * 48  # one slab of 5 cells (6 planes) at a time: bounded memory
    assert np.abs(shape.signed_distance(verts.astype(np.float64))).max() < 0.5 / 48
    rng = np.random.default_rng(0)
    pts, normals = sample_surface(verts.astype(np.float64), faces, 5000, rng)
    truth = shape.sample_surface(5000, rng)
    scores = surface_scores(pts, normals, *truth, shape.longest_side())
    floor = surface_scores(*shape.sample_surface(5000, rng), *truth, shape.longest_side())  # two samples of the truth
    assert scores["chamfer_l1"] < 1.15 * floor["chamfer_l1"] and scores["normal_consistency"] > 0.97
    # outward triangles and one closed surface across the slabs: the divergence theorem's volume is positive
    a, b, c = (verts[faces[:, i]].astype(np.float64) for i in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
    inside = np.zeros((48, 48, 48), bool)  # the cells' inside, from the same evaluation (IoU)
    whole = extract_surface(shape.signed_distance, 48, slab=64, inside=inside)
    assert len(whole[1]) == len(faces) and volume > 0
    cells = plane_points(48, (np.arange(48) + 0.5) / 48).reshape(-1, 3)
    assert np.array_equal(inside.ravel(), shape.signed_distance(cells) < 0) and 0 < inside.mean() < 1


def test_the_metrics_on_known_point_sets() -> None:
    rng = np.random.default_rng(1)
    pts, normals = Sphere().sample_surface(4000, rng)
    same = surface_scores(pts, normals, pts, normals, unit=0.6)
    assert same == {"chamfer_l1": 0.0, "chamfer_l2": 0.0, "normal_consistency": pytest.approx(1.0), "fscore": 1.0}
    u, v = np.meshgrid(np.linspace(0, 1, 30), np.linspace(0, 1, 30))
    plane = np.stack([u.ravel(), v.ravel(), np.zeros(900)], -1)  # a square's samples, and the square moved up
    up = np.tile([0.0, 0.0, 1.0], (900, 1))
    moved = surface_scores(plane + [0, 0, 0.006], up, plane, up, unit=0.6)  # by 1 % of the 0.6 side
    assert moved["chamfer_l1"] == pytest.approx(0.01) and moved["chamfer_l2"] == pytest.approx(1e-4)
    assert moved["fscore"] == 0.0 and surface_scores(plane + [0, 0, 0.003], up, plane, up, unit=0.6)["fscore"] == 1.0
    assert math.isnan(surface_scores(np.zeros((0, 3)), np.zeros((0, 3)), pts, normals, unit=1.0)["chamfer_l1"])
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    a[:2], b[1:3] = True, True
    assert iou(a, b) == pytest.approx(1 / 3)


def test_the_slice_picture_marks_inside_and_outside() -> None:
    values = Torus().signed_distance(mid_planes(32).reshape(-1, 3)).reshape(3, 32, 32)
    img = sdf_picture(values)
    assert img.shape == (32, 3 * 32 + 4, 3) and 0 <= img.min() and img.max() <= 1
    z = img[:, 2 * 34 :]  # the z = 0.5 slice: the ring's tube is inside (blue), the hole and corners outside
    assert z[16, 16, 2] < z[16, 16, 0] and z[0, 0, 0] > z[0, 0, 2]


def test_a_short_fit_lowers_the_loss_and_the_chamfer_distance(tmp_path: Path) -> None:
    args = [
        "data=shape",
        "data.analytic=sphere",
        "network.n_neurons=32",
        "network.n_hidden_layers=2",
        "data.size=24",
        "data.batch_size=256",
        "data.pool=4000",
        "data.near=1000",
        "data.eval_points=3000",
        "trainer.max_steps=60",
        "log.val_every_n_steps=20",
        "log.gif_every_n_steps=20",
        "log.gif_max_size=48",
        "log.panel_height=48",
        "model.view_size=32",
        "logger=[csv,wandb]",
        f"hydra.run.dir={tmp_path}",
    ]
    result = run_train(args, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Chamfer-L1: test" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("test/chamfer_l1", "test/chamfer_l2", "test/normal_consistency", "test/fscore", "test/iou"):
        assert key in metrics and math.isfinite(metrics[key]), key
    history = json.loads((tmp_path / "history.json").read_text())
    val = [h["val/chamfer_l1"] for h in history["val"]]
    assert val[-1] < val[0], val
    losses = [h["train/loss"] for h in history["train"]]
    assert losses[-1] < losses[0], losses
    assert (tmp_path / "prediction.ply").stat().st_size > 0 and (tmp_path / "prediction.obj").stat().st_size > 0
    assert (tmp_path / "reconstruction.png").is_file() and (tmp_path / "progress.gif").is_file()
    assert list(tmp_path.glob("wandb/offline-run-*/files/media/object3D/*"))  # the mesh as W&B's Object3D
    # the checkpoint alone extracts the surface at another resolution, in the input's units (analytic: the cube's)
    render = subprocess.run(
        [sys.executable, str(ROOT / "scripts/render.py"), str(tmp_path / "checkpoints/last.ckpt"), "--size", "40"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert render.returncode == 0, render.stderr[-2000:]
    mesh = trimesh.load(tmp_path / "render_40.ply")
    assert len(mesh.faces) > 0 and ((mesh.vertices > 0) & (mesh.vertices < 1)).all()


def test_the_config_options_build(make_cfg) -> None:
    cfg = make_cfg("data=shape", "task.loss=igr")
    assert isinstance(instantiate(cfg.task), SDF) and cfg.network.output_activation == "identity"
    assert cfg.model._target_.endswith("ShapeModule")


def test_data_near_zero_samples_no_near_points(make_cfg) -> None:
    """data.near=0 (what docs/shapes.md advises for a mesh with holes) draws batches without near-surface points."""
    cfg = make_cfg("data=shape", "data.near=0", "data.batch_size=16")
    module = build_module(cfg, build_datamodule(cfg))
    module.generator = torch.Generator().manual_seed(0)
    batch = module.sample()
    assert batch.surface.shape == (16, 3) and batch.free.shape == (16, 3) and batch.near.shape == (0, 3)
    loss, terms = module.task.loss(module.field, batch)
    assert torch.isfinite(loss)
