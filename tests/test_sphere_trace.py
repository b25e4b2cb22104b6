"""Shaded views traced from a field (nfields/fields/trace.py) and from a shape's ground truth (data/shape_views.py):
a sphere's distance renders a disc of the right radius, its normal at the centre facing the camera; hits lie on
the surface within tolerance; a logit marched and bisected renders the same disc; memory is bounded by the chunk;
a mesh and a point cloud of the sphere render the analytic sphere's disc; data.up=z shows a z-up shape as data.up=y
shows the same shape standing along y."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from nfields.data.shape_analytic import Box
from nfields.data.shape_family import Posed
from nfields.data.shape_io import CloudShape, MeshShape
from nfields.data.shape_views import orbit_up, true_views
from nfields.fields.trace import (
    AMBIENT,
    COLOUR,
    View,
    autograd_normals,
    camera_rays,
    cube_span,
    lambert,
    march_bisect,
    orbit,
    render_view,
    sphere_trace,
)
from nfields.run.build import build_datamodule, build_module

R, D, SIZE = 0.3, 1.6, 64  # the sphere's radius about the cube's centre, the camera's distance, the image side
VIEW = View((0.5, 0.5 - D, 0.5))  # looking along +y at the centre, z up, 40 degrees across


def sphere(x: torch.Tensor) -> torch.Tensor:
    return (x - 0.5).norm(dim=-1) - R


def true_disc(view: View = VIEW, size: int = SIZE) -> torch.Tensor:
    """Which pixels' rays pass within R of the centre (the sphere's silhouette): (size, size) bool."""
    o, d = camera_rays(view, size, dtype=torch.float64)
    c = torch.tensor(view.target, dtype=torch.float64) - o  # (N, 3): to the centre
    closest = (c - (c * d).sum(-1, keepdim=True) * d).norm(dim=-1)  # the ray's distance from the centre
    return (closest < R).reshape(size, size)


def drawn(img: torch.Tensor) -> torch.Tensor:
    return (img < 1).any(-1)  # (S, S): not background white


def test_a_sphere_renders_a_disc_of_the_right_radius() -> None:
    disc = drawn(render_view(sphere, VIEW, SIZE))
    truth = true_disc()
    radius = math.tan(math.asin(R / D)) / math.tan(math.radians(20)) * SIZE / 2  # the silhouette's, in pixels
    assert float(truth.sum()) == pytest.approx(math.pi * radius**2, rel=0.03)
    assert (disc != truth).sum() <= 0.02 * truth.sum()  # a few grazing pixels on the rim at most
    assert disc[SIZE // 2, SIZE // 2] and not disc[0, 0] and not disc[SIZE // 2, 1]


def test_hits_lie_on_the_surface_and_the_centre_normal_faces_the_camera() -> None:
    o, d = camera_rays(VIEW, SIZE)
    t, hit = sphere_trace(sphere, o, d, eps=1e-3)
    x = o[hit] + t[hit, None] * d[hit]
    assert hit.any() and sphere(x).abs().max() < 1e-3  # stopped within eps of the surface, not inside
    centre = (SIZE // 2) * SIZE + SIZE // 2  # the pixel just below and right of the image's centre
    n = autograd_normals(sphere)((o[centre] + t[centre] * d[centre])[None])[0]
    assert hit[centre] and float(n @ -d[centre]) > 0.999  # the normal points back along the ray, at the camera
    t_exact = D - R  # the centre ray meets the sphere at distance D - R from the eye
    assert float(t[centre]) == pytest.approx(t_exact, abs=2e-3)


def test_a_logit_marched_and_bisected_finds_the_same_surface() -> None:
    o, d = camera_rays(VIEW, SIZE)
    logit = lambda x: 40 * sphere(x)  # noqa: E731  a value negative inside, not a distance (|grad| 40)
    t, hit = march_bisect(logit, o, d, march=128, bisect=12)
    assert (hit.reshape(SIZE, SIZE) != true_disc()).sum() <= 0.02 * true_disc().sum()
    x = o[hit] + t[hit, None] * d[hit]
    assert sphere(x).abs().max() < 1e-4  # the bracket narrowed to sqrt(3) / 128 / 2^12 along the ray
    img = render_view(logit, VIEW, SIZE, distance=False)
    close = (img - render_view(sphere, VIEW, SIZE)).abs().amax(-1) < 0.02
    assert close.float().mean() > 0.98  # the same shading: the normal is the direction of the gradient either way


def test_rays_that_miss_stay_background_and_the_hole_of_a_torus_shows() -> None:
    o, d = camera_rays(VIEW, 8)
    away = -d  # looking away from the cube's centre: the rays leave the cube at once or never enter it
    assert not sphere_trace(sphere, o, away)[1].any() and not march_bisect(sphere, o, away)[1].any()
    t0, t1 = cube_span(torch.tensor([[0.5, -1.0, 0.5], [2.0, 2.0, 2.0]]), torch.tensor([[0.0, 1.0, 0.0]] * 2))
    assert float(t0[0]) == pytest.approx(1.0) and float(t1[0]) == pytest.approx(2.0) and t0[1] >= t1[1]

    def torus(x: torch.Tensor) -> torch.Tensor:  # ring 0.25, tube 0.1, axis z
        p = x - 0.5
        return torch.stack([p[:, :2].norm(dim=-1) - 0.25, p[:, 2]], -1).norm(dim=-1) - 0.1

    top = drawn(render_view(torus, View((0.5, 0.5, 0.5 + D), up=(0.0, 1.0, 0.0)), SIZE))
    assert not top[SIZE // 2, SIZE // 2] and top[SIZE // 2, SIZE // 2 + 12]  # the hole, and the ring beside it


def test_memory_is_bounded_by_the_chunk() -> None:
    sizes: list[int] = []

    def counted(x: torch.Tensor) -> torch.Tensor:
        sizes.append(len(x))
        return sphere(x)

    big = render_view(counted, VIEW, 96, chunk=1000)
    assert max(sizes) <= 1000 and drawn(big).sum() > 0
    sizes.clear()
    render_view(counted, VIEW, 96, chunk=1000, distance=False)
    assert max(sizes) <= 1000


def test_a_mesh_and_a_point_cloud_of_the_sphere_render_its_disc() -> None:
    views = [VIEW, *orbit(2)]
    truth = torch.stack([true_disc(v) for v in views])  # (V, S, S)
    m = trimesh.creation.icosphere(subdivisions=4, radius=R)
    mesh = drawn(true_views(MeshShape(np.asarray(m.vertices) + 0.5, np.asarray(m.faces)), views, SIZE))
    assert (mesh != truth).sum() <= 0.03 * truth.sum()  # a polygonal sphere traced 2e-3 outside it
    rng = np.random.default_rng(0)
    normals = rng.normal(size=(20000, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    cloud = drawn(true_views(CloudShape(0.5 + R * normals, normals), views, SIZE))
    assert (truth & ~cloud).sum() <= 0.01 * truth.sum()  # points as balls of twice their spacing: no holes
    grown = torch.nn.functional.max_pool2d(truth[:, None].float(), 3, stride=1, padding=1)[:, 0].bool()
    assert (cloud & ~grown).sum() == 0  # and the silhouette within a pixel of the sphere's


def test_lambertian_shading() -> None:
    light = torch.tensor([0.0, 0.6, 0.8])
    n = torch.stack([light, -light, torch.tensor([0.0, 0.8, -0.6]), torch.tensor([0.0, 0.0, 1.0])])
    colour = torch.tensor(COLOUR)
    expected = torch.stack([colour, AMBIENT * colour, AMBIENT * colour, (AMBIENT + (1 - AMBIENT) * 0.8) * colour])
    assert torch.allclose(lambert(n, light), expected)  # facing the light, away, edge-on, at 37 degrees


def test_up_z_shows_a_z_up_shape_as_up_y_shows_it_standing_along_y(make_cfg) -> None:
    """A box tallest along y, and the same box turned so that its y goes to z ((x, y, z) -> (z, x, y)): its views
    with data.up=z equal the first's with data.up=y (up to the tracer's tolerance at the silhouettes); the y-up box
    with up=z does not (the axis matters); and model=shape's panel takes its views from data.up."""
    standing = Box((0.1, 0.3, 0.15))
    turn = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # world = c + R (x - c): y to z
    turned = Posed(standing, turn, "turned")
    y_views = true_views(standing, orbit_up(3, "y"), 32)  # (3, 32, 32, 3)
    z_views = true_views(turned, orbit_up(3, "z"), 32)
    differ = (y_views - z_views).abs().amax(-1)  # (3, 32, 32)
    assert float((differ > 0.02).float().mean()) < 0.01 and float(differ.mean()) < 2e-3
    wrong = (y_views - true_views(standing, orbit_up(3, "z"), 32)).abs().amax(-1)
    assert float((wrong > 0.02).float().mean()) > 0.1
    cfg = make_cfg("data=shape", "data.up=z", "data.size=8", "data.pool=1000", "data.near=100", "data.eval_points=100")
    module = build_module(cfg, build_datamodule(cfg))
    assert module.views == orbit_up(3, "z") != orbit_up(3, "y") and module.checkpoint_extra()["nfields_shape_up"] == "z"
