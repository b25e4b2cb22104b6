"""data=shape_set: the procedural family's exact distances against a brute-force check, the split (held-out shapes
never in the training pools), the partial scan (the visible side only), a folder of meshes read through
data=shape's sampling, and each bad input refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from nfields.core.errors import ConfigError, DataError
from nfields.data.shape_family import KINDS, Capsule, family
from nfields.data.shape_set import ShapeSetDataModule, scan
from nfields.tasks.sdf import SDF

SMALL = dict(pool=256, near=256, eval_points=200, size=8, observed=64)  # sizes of a quick data module


def small_set(**kwargs) -> ShapeSetDataModule:
    dm = ShapeSetDataModule(**{"count": 12, "val": 2, "test": 3, **SMALL, **kwargs})
    dm.setup()
    return dm


@pytest.mark.parametrize("shape", family(8, seed=3) + [Capsule(0.2, 0.1)], ids=lambda s: s.name)
def test_the_familys_signed_distances_are_exact(shape) -> None:
    """Against brute force: the distance to the nearest of 200k surface samples is the |sdf| up to their spacing,
    and never below it; the sign flips across the surface along the sampled normal; surface samples are at 0 and
    their normals are the distance's gradient."""
    rng = np.random.default_rng(0)
    dense, _ = shape.sample_surface(200_000, rng)
    surface, normals = shape.sample_surface(500, rng)
    assert np.abs(shape.signed_distance(surface)).max() < 1e-9
    queries = np.concatenate([surface + rng.normal(size=surface.shape) * 0.03, rng.uniform(0, 1, (500, 3))])
    brute, _ = cKDTree(dense).query(queries)  # (N,): >= the true distance, within the samples' spacing of it
    exact = np.abs(shape.signed_distance(queries))
    assert (brute >= exact - 1e-9).all() and np.abs(brute - exact).max() < 6e-3
    eps = 2e-3  # across the surface: +eps outside, -eps inside (flat on this scale)
    assert np.allclose(shape.signed_distance(surface + eps * normals), eps, atol=2e-4)
    inner = shape.signed_distance(surface - eps * normals)  # inside a box's edge another face may be nearer
    assert (inner < 0).all() and (inner > -eps - 1e-9).all() and (np.abs(inner + eps) < 2e-4).mean() > 0.95
    h, x = 1e-6, surface + 1e-3 * normals
    grad = np.stack(
        [(shape.signed_distance(x + h * e) - shape.signed_distance(x - h * e)) / (2 * h) for e in np.eye(3)], -1
    )
    assert (np.einsum("ij,ij->i", grad, normals) > 0.999).mean() > 0.98  # all but points on a box's edges


def test_the_family_takes_the_kinds_in_turn_and_a_seed_makes_it() -> None:
    a, b, c = family(8, seed=0), family(8, seed=0), family(8, seed=1)
    assert [s.name for s in a] == [f"{KINDS[i % 4]}{i:03d}" for i in range(8)]
    p = np.random.default_rng(0).uniform(0, 1, (100, 3))
    assert all(np.array_equal(s.signed_distance(p), t.signed_distance(p)) for s, t in zip(a, b, strict=True))
    assert not np.allclose(a[1].signed_distance(p), c[1].signed_distance(p))
    assert all(0.2 < s.longest_side() < 0.8 for s in a)  # inside the cube with a margin for near points


def test_the_split_is_disjoint_and_held_out_shapes_are_never_in_the_training_pools() -> None:
    dm = small_set()
    train, val, test = (set(dm.splits[k].tolist()) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test) and train | val | test == set(range(12))
    assert (
        (len(train), len(val), len(test))
        == (7, 2, 3)
        == (dm.n_train, len(dm.held["val"].index), len(dm.held["test"].index))
    )
    for k, i in enumerate(dm.splits["train"]):  # each pool is its own training shape's, and no held-out one's
        assert np.abs(dm.shapes[i].signed_distance(dm.surface[k].astype(np.float64))).max() < 1e-5
        assert np.allclose(dm.shapes[i].signed_distance(dm.near[k].astype(np.float64)), dm.near_sdf[k], atol=1e-5)
        for j in [*dm.splits["val"], *dm.splits["test"]]:
            assert (np.abs(dm.shapes[j].signed_distance(dm.surface[k].astype(np.float64))) < 1e-5).mean() < 0.5
    assert (dm.held["test"].index == dm.splits["test"]).all()
    other = small_set(seed=1)
    assert not np.array_equal(other.splits["test"], dm.splits["test"])  # the split follows data.seed
    assert np.array_equal(small_set().splits["test"], dm.splits["test"])


def test_the_partial_scan_holds_only_the_side_that_faces_the_view() -> None:
    shape, view = family(2, seed=0)[1], np.array([0.0, 0.6, 0.8])  # a torus
    part = scan(shape, view, pool=2000, k=500, offset=0.01, rng=np.random.default_rng(0))
    p, n = part.surface[0], part.normals[0]  # (K, 3) each
    assert (n @ view > 0).all() and np.abs(shape.signed_distance(p)).max() < 1e-9
    assert np.allclose(part.near[0], np.concatenate([p + 0.01 * n, p - 0.01 * n]))
    assert np.allclose(shape.signed_distance(part.near[0]), part.near_sdf[0], atol=1e-3)  # +-offset, as labelled
    all_points, all_normals = shape.sample_surface(2000, np.random.default_rng(1))
    hidden = all_points[all_normals @ view < -0.5]  # the far side: none of it within reach of the scan
    assert len(hidden) > 100 and cKDTree(p).query(hidden)[0].min() > 0.01
    dm = small_set(view=[1.0, 0.0, 0.0])
    assert (np.einsum("bkj,j->bk", dm.held["test"].partial.normals, np.array([1.0, 0, 0])) > 0).all()


def test_a_box_cut_away_leaves_only_the_surface_outside_it() -> None:
    shape, cut = family(3, seed=0)[2], np.array([0.5, 0.5, 0.0, 1.0, 1.0, 1.0])  # a capsule; a quarter cut away
    part = scan(shape, np.ones(3), pool=2000, k=500, offset=0.01, rng=np.random.default_rng(0), cut=cut)
    p = part.surface[0]
    assert not ((p >= cut[:3]) & (p <= cut[3:])).all(-1).any() and np.abs(shape.signed_distance(p)).max() < 1e-9
    all_points, _ = shape.sample_surface(2000, np.random.default_rng(1))
    cut_off = all_points[((all_points >= cut[:3] + 0.02) & (all_points <= cut[3:])).all(-1)]
    assert len(cut_off) > 50 and cKDTree(p).query(cut_off)[0].min() > 0.015  # nothing inside the box is observed
    dm = small_set(partial="box")
    points = dm.held["test"].partial.surface
    assert not ((points >= cut[:3]) & (points <= cut[3:])).all(-1).any()


def test_a_folder_of_meshes_goes_through_the_same_sampling(tmp_path: Path) -> None:
    for i in range(4):
        trimesh.creation.icosphere(subdivisions=2, radius=1.0 + i).export(tmp_path / f"ball{i}.off")
    trimesh.creation.box(extents=(1.0, 2.0, 3.0)).export(tmp_path / "box.obj")
    (tmp_path / "notes.txt").write_text("not a mesh: ignored")
    dm = ShapeSetDataModule(path=str(tmp_path), val=1, test=1, **SMALL, task=SDF("deepsdf"))
    dm.setup()
    assert len(dm.shapes) == 5 and dm.surface.shape == (3, 256, 3) and dm.near.shape[:2] == dm.near_sdf.shape
    for k, i in enumerate(dm.splits["train"]):  # each normalised to extent 0.8 about the centre: signs agree
        r = np.linalg.norm(dm.near[k] - 0.5, axis=-1)
        if dm.shapes[i].name.startswith("ball"):
            far = np.abs(r - 0.4) > 0.01  # the icosphere's facets lie within 0.01 of the sphere of radius 0.4
            assert ((dm.near_sdf[k] < 0) == (r < 0.4))[far].all()
    assert "5 shapes of" in dm.describe()


def test_bad_inputs_are_refused_in_one_line(tmp_path: Path) -> None:
    def refused(match: str, **kwargs) -> None:
        with pytest.raises((DataError, ConfigError), match=match) as e:
            ShapeSetDataModule(**{**SMALL, **kwargs}).setup()
        assert "\n" not in str(e.value)

    refused(r"not found; data=shape_set reads a folder of meshes", path=str(tmp_path / "absent"))
    (tmp_path / "a.off").write_text("OFF\n")
    refused(r"is a file; data=shape_set reads a folder", path=str(tmp_path / "a.off"))
    (tmp_path / "empty").mkdir()
    refused(r"the folder holds no meshes \(.off, .obj, .ply\)", path=str(tmp_path / "empty"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.ply").write_bytes(b"ply\nformat nonsense\n\x00\x01")
    refused(r"broken.ply: (a corrupt or unreadable|holds no triangles)", path=str(tmp_path / "bad"))
    refused(r"^data.test=3: with data.val=2 leaves no training shape of the 5", count=5, val=2, test=3)
    refused(r"^data.view=\[0, 0, 0\]: must be three numbers, not all 0", view=[0, 0, 0])
    refused(r"^data.count=0: must be an integer >= 1", count=0)
    refused(r"^data.partial=half: must be one of view, box", partial="half")
    refused(r"^data.cut=\[1, 0, 0, 0, 1, 1\]: must be six numbers", cut=[1, 0, 0, 0, 1, 1])
