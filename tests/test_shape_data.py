"""data=shape: mesh geometry (distances, winding numbers), the analytic shapes, the readers and their errors, the
near-surface samples' signed distances against analytic ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from nfields.core.errors import ConfigError, DataError
from nfields.core.geometry import (
    closest_on_triangles,
    sample_surface,
    unsigned_distance,
    winding_number,
    winding_number_exact,
)
from nfields.data.shape import ShapeDataModule
from nfields.data.shape_analytic import Box, Sphere, Torus
from nfields.data.shape_io import CloudShape, MeshShape, read_shape
from nfields.tasks.fit import Fit
from nfields.tasks.sdf import SDF

HALF = np.array([0.3, 0.2, 0.25])  # Box()'s half sides


def box_mesh(drop: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Box()'s surface as 12 outward triangles about the cube's centre, the first `drop` removed (a hole)."""
    m = trimesh.creation.box(extents=2 * HALF)
    return np.asarray(m.vertices) + 0.5, np.asarray(m.faces)[drop:]


def write_off(path: Path, verts: np.ndarray, faces: np.ndarray) -> Path:
    trimesh.Trimesh(verts, faces, process=False).export(path)
    return path


def test_closest_point_on_a_triangle_matches_a_dense_search() -> None:
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 3))
    s, t = np.meshgrid(np.linspace(0, 1, 400), np.linspace(0, 1, 400))
    keep = s + t <= 1
    dense = a + s[keep, None] * (b - a) + t[keep, None] * (c - a)  # the triangle, densely
    for p in rng.normal(size=(50, 3)) * 2:  # every Voronoi region is hit
        q = closest_on_triangles(p, a, b, c)
        assert np.linalg.norm(q - p) <= np.linalg.norm(dense - p, axis=1).min() + 1e-9
        assert np.linalg.norm(q - p) >= np.linalg.norm(dense - p, axis=1).min() - 5e-3


def test_distances_to_a_box_mesh_are_the_analytic_ones() -> None:
    verts, faces = box_mesh()
    pts = np.random.default_rng(1).uniform(0, 1, (2000, 3))
    d = unsigned_distance(pts, verts, faces)
    np.testing.assert_allclose(d, np.abs(Box().signed_distance(pts)), atol=1e-9)


def test_winding_numbers_match_the_exact_sum_and_tell_inside() -> None:
    m = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    verts, faces = np.asarray(m.vertices) + 0.5, np.asarray(m.faces)
    pts = np.random.default_rng(2).uniform(0, 1, (600, 3))
    fast, exact = winding_number(pts, verts, faces), winding_number_exact(pts, verts, faces)
    assert np.abs(fast - exact).max() < 0.03  # the far clusters' dipoles
    r = np.linalg.norm(pts - 0.5, axis=1)
    clear = np.abs(r - 0.3) > 0.01  # away from the polygonal approximation of the sphere
    assert np.array_equal((fast > 0.5)[clear], (r < 0.3)[clear])


def test_the_sign_holds_on_a_box_with_a_face_missing() -> None:
    verts, faces = box_mesh(drop=1)  # one of the 12 triangles removed: a hole
    shape = MeshShape(verts, faces)
    rng = np.random.default_rng(3)
    base, normals = Box().sample_surface(4000, rng)
    pts = base + normals * rng.choice([-0.02, 0.02], (4000, 1))
    sdf, decided = shape.decided(pts)
    truth = Box().signed_distance(pts)
    assert decided.mean() > 0.9  # only points that see the hole from nearby are undecided
    assert np.array_equal(np.sign(sdf[decided]), np.sign(truth[decided]))
    exact = np.isclose(np.abs(sdf), np.abs(truth), atol=1e-9)  # a missing triangle only moves points off it away
    assert exact.mean() > 0.9 and (np.abs(sdf) >= np.abs(truth) - 1e-9).all()


@pytest.mark.parametrize("shape", [Sphere(), Torus(), Box()], ids=lambda s: s.name)
def test_analytic_samples_lie_on_the_surface_with_its_normals(shape) -> None:
    pts, normals = shape.sample_surface(500, np.random.default_rng(4))
    assert np.abs(shape.signed_distance(pts)).max() < 1e-12
    eps = 1e-6  # the normal is the distance's gradient (central differences), off the box's edges
    grad = np.stack(
        [(shape.signed_distance(pts + e) - shape.signed_distance(pts - e)) / (2 * eps) for e in np.eye(3) * eps], -1
    )
    ok = np.linalg.norm(grad, axis=1) > 0.99
    assert ok.mean() > 0.95 and np.allclose(grad[ok], normals[ok], atol=1e-4)
    assert ((pts > 0) & (pts < 1)).all()


def test_a_mesh_files_near_samples_carry_the_analytic_distances(tmp_path: Path) -> None:
    """Box mesh and sphere mesh files, normalised into the cube: their sampled signed distances against the
    analytic ones of the same shapes (the box's exactly; the sphere's within its polygonal approximation)."""
    verts, faces = box_mesh()
    dm = ShapeDataModule(path=str(write_off(tmp_path / "box.off", verts * 2, faces)), extent=0.6, near=3000, pool=500)
    dm.setup()
    assert dm.norm.scale == pytest.approx(0.5) and np.allclose(dm.norm.centre, 1.0)  # back to the file's units
    np.testing.assert_allclose(dm.near_sdf, Box().signed_distance(dm.near), atol=1e-9)
    assert (dm.near_sdf < 0).mean() > 0.3 and (dm.near_sdf > 0).mean() > 0.3
    m = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    dm = ShapeDataModule(
        path=str(write_off(tmp_path / "ball.off", m.vertices, m.faces)), extent=0.6, near=3000, pool=500
    )
    dm.setup()
    np.testing.assert_allclose(dm.near_sdf, Sphere().signed_distance(dm.near), atol=2e-3)
    assert dm.gt_inside.mean() == pytest.approx(4 / 3 * np.pi * 0.3**3, rel=0.05)


def test_an_oriented_point_cloud_is_read_and_normalised(tmp_path: Path) -> None:
    pts, normals = Sphere().sample_surface(300, np.random.default_rng(5))
    path = tmp_path / "ball.xyz"
    np.savetxt(path, np.hstack([pts * 10 - 3, normals * 2]))  # other units; normals not of unit length
    shape, norm = read_shape(path, extent=0.6)
    assert isinstance(shape, CloudShape) and np.allclose(np.linalg.norm(shape.normals, axis=1), 1)
    np.testing.assert_allclose(norm.to_input(shape.points), pts * 10 - 3, atol=1e-9)
    dm = ShapeDataModule(path=str(path), near=100, pool=100, size=8)
    dm.setup()
    assert dm.near_sdf is None and dm.gt_inside is None  # no inside: no signed distances, no IoU
    with pytest.raises(DataError, match="point cloud"):
        ShapeDataModule(path=str(path), task=SDF(loss="deepsdf")).setup()


BAD_FILES = [
    ("missing.off", None, "not found"),
    ("a.stl", "solid x\n", "unsupported shape file type"),
    ("empty.off", "", "empty"),
    ("corrupt.off", "OFF\n3 1 0\n0 0 0\n1 zz 0\n", "corrupt"),
    ("cols.xyz", "0 0 0\n1 1 1\n", "expected 6"),
    ("words.xyz", "a b c d e f\n", "not a table of numbers"),
    ("flat.xyz", "0 0 0 0 0 0\n1 1 1 0 0 1\n", "zero normal"),
    ("nan.xyz", "0 0 0 0 0 1\nnan 1 1 0 0 1\n", "NaN"),
    ("same.xyz", "1 1 1 0 0 1\n1 1 1 0 1 0\n", "same point"),
    ("points.off", "OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n", "no triangles"),
]


@pytest.mark.parametrize("name, text, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_each_bad_file_is_refused_in_one_line(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(DataError, match=message) as e:
        read_shape(path, extent=0.8)
    assert "\n" not in str(e.value) and name in str(e.value)


def test_a_folder_and_an_open_surface_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder"):
        read_shape(tmp_path, extent=0.8)
    quad = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)  # a square: no inside at all
    path = write_off(tmp_path / "square.off", quad, np.array([[0, 1, 2], [0, 2, 3]]))
    with pytest.raises(DataError, match="cannot be decided") as e:
        ShapeDataModule(path=str(path), near=500, pool=100).setup()
    assert "\n" not in str(e.value)
    ShapeDataModule(path=str(path), near=0, pool=100, size=8).setup()  # its surface alone: fine


def test_a_grid_task_and_a_shape_task_are_not_swapped() -> None:
    with pytest.raises(ConfigError, match="task=fit: does not fit a shape"):
        ShapeDataModule(task=Fit())
    with pytest.raises(ConfigError, match="data.near=0"):
        ShapeDataModule(near=0, task=SDF(loss="deepsdf"))


def test_surface_samples_are_uniform_by_area() -> None:
    verts, faces = box_mesh()
    pts, normals = sample_surface(verts, faces, 20000, np.random.default_rng(6))
    share = np.abs(normals).argmax(1)  # which pair of faces each point is on
    areas = np.array([HALF[1] * HALF[2], HALF[0] * HALF[2], HALF[0] * HALF[1]])
    np.testing.assert_allclose(np.bincount(share) / 20000, areas / areas.sum(), atol=0.015)
