"""data=shape_set: a set of shapes for one conditional field (model=shape_set: an auto-decoder, a code per shape),
split into train, val and test shapes; val and test shapes are never trained on, only completed from a partial
observation by test-time optimisation of a fresh code.

`data.path`: a folder of meshes (.off, .obj, .ply; other files are ignored), each normalised into the cube on its
own (data/shape_io.py); null: `data.count` shapes of the procedural family (data/shape_family.py), with exact
signed distances, generated from `data.family_seed`.

Set up once, on the host (NumPy); the module moves what it trains on to the device:
  train shapes   per shape, `data.pool` surface points with their normals and `data.near` points near the surface
                 (plus a share uniform in the cube) with their signed distances (data/shape.py: near_samples), stacked
                 (S, P, 3) and (S, M, 3); a mesh's points of undecided sign are replaced by draws of the decided ones
  held out       per val and test shape, the partial observation (below) and the ground truth: `data.eval_points`
                 surface samples with normals and the inside of a `data.size`^3 grid's cells (the metrics)
The partial observation (`Partial`), `data.partial`: view (a depth scan's): of `data.pool` surface samples, those
whose normal faces the direction `data.view` (toward the scanner, n . v > 0); box: those outside the box `data.cut`
(x0, y0, z0, x1, y1, z1), cut away. `data.observed` of them are drawn, with points `data.scan_offset` in front of
and behind each along its normal, whose signed distances are +-scan_offset (DeepSDF's completion samples). Nothing
of the far side, or of the cut, is observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nfields.core.checks import POSITIVE, POSITIVE_INT, Check, check_arg, integer, nullable, number, one_of, string
from nfields.core.errors import ConfigError, DataError
from nfields.data.grid import OnDevice
from nfields.data.shape import TWO_STDS, inside_grid, near_samples
from nfields.data.shape_family import family
from nfields.data.shape_io import MESHES, Shape, read_shape
from nfields.data.shape_views import UP
from nfields.tasks.sdf import SDF
from nfields.tasks.shape import ShapeTask

VECTOR = Check(
    lambda v: isinstance(v, list | tuple) and len(v) == 3 and all(number().ok(x) for x in v) and any(v),
    "three numbers, not all 0",
)


BOX = Check(
    lambda v: (
        isinstance(v, list | tuple)
        and len(v) == 6
        and all(number().ok(x) for x in v)
        and all(v[i] < v[i + 3] for i in range(3))
    ),
    "six numbers x0, y0, z0, x1, y1, z1 with x0 < x1, y0 < y1, z0 < z1",
)


@dataclass
class Partial:
    """B shapes' partial observations: surface (B, K, 3) with unit normals (B, K, 3) on the visible side; near
    (B, 2K, 3) the points scan_offset in front of and behind them with signed distances near_sdf (B, 2K)."""

    surface: np.ndarray
    normals: np.ndarray
    near: np.ndarray
    near_sdf: np.ndarray


def scan(
    shape: Shape,
    view: np.ndarray,
    pool: int,
    k: int,
    offset: float,
    rng: np.random.Generator,
    cut: np.ndarray | None = None,
) -> Partial:
    """One shape's partial observation (module docstring): the side that faces `view` (3,) (toward the scanner), or
    with `cut` (6,) = (lo (3,), hi (3,)) the surface outside that box."""
    points, normals = shape.sample_surface(pool, rng)  # (pool, 3) each
    if cut is None:
        seen, why = np.flatnonzero(normals @ view > 0), f"faces data.view={view.tolist()}; use another direction"
    else:
        inside = ((points >= cut[:3]) & (points <= cut[3:])).all(-1)
        seen, why = np.flatnonzero(~inside), f"lies outside data.cut={cut.tolist()}; cut a smaller box"
    if len(seen) == 0:
        raise DataError(f"{shape.name}: no surface point {why}")
    pick = rng.choice(seen, size=k, replace=len(seen) < k)
    p, n = points[pick], normals[pick]  # (k, 3) each
    near = np.concatenate([p + offset * n, p - offset * n])  # (2k, 3): in front, behind
    return Partial(p[None], n[None], near[None], np.concatenate([np.full(k, offset), np.full(k, -offset)])[None])


@dataclass
class HeldOut:
    """The val or test shapes: their indices into the set, partial observations and ground truth: gt_points and
    gt_normals (B, E, 3), gt_inside (B, n, n, n), units (B,) their longest sides (the metrics' normalisation)."""

    index: np.ndarray
    partial: Partial
    gt_points: np.ndarray
    gt_normals: np.ndarray
    gt_inside: np.ndarray
    units: np.ndarray


def read_folder(path: str, extent: float) -> list[Shape]:
    """Every mesh in the folder `path`, in name order, each normalised into the cube; one line for what is wrong."""
    folder = Path(path).expanduser()
    kinds = ", ".join(MESHES)
    if not folder.exists():
        raise DataError(f"data.path={path}: not found; data=shape_set reads a folder of meshes ({kinds})")
    if not folder.is_dir():
        raise DataError(f"data.path={path} is a file; data=shape_set reads a folder of meshes (data=shape fits one)")
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in MESHES)
    if not files:
        raise DataError(f"data.path={path}: the folder holds no meshes ({kinds}); put the shapes' files in it")
    return [read_shape(f, extent)[0] for f in files]  # read_shape names a bad file in one line


class ShapeSetDataModule(OnDevice):
    """A set of shapes in the cube (0, 1)^3, split into train, val and test (module docstring)."""

    dims, channels = 3, 1  # the field maps (x, y, z) [and a shape's code] to one value, the signed distance

    def __init__(
        self,
        path: str | None = None,
        count: int = 96,
        family_seed: int = 0,
        val: int = 8,
        test: int = 16,
        extent: float = 0.8,
        size: int = 48,
        shapes_per_batch: int = 8,
        batch_size: int = 512,
        pool: int = 4096,
        near: int = 4096,
        near_std: tuple[float, float] = (0.02, 0.004),
        eval_points: int = 5000,
        partial: str = "view",
        view: tuple[float, float, float] = (1.0, 1.0, 1.0),
        cut: tuple[float, ...] = (0.5, 0.5, 0.0, 1.0, 1.0, 1.0),
        observed: int = 1024,
        scan_offset: float = 0.01,
        up: str = "y",
        seed: int = 0,
        task: ShapeTask | None = None,
    ) -> None:
        super().__init__()
        check_arg("data.path", path, nullable(string()))
        for key, value in (("count", count), ("shapes_per_batch", shapes_per_batch), ("batch_size", batch_size)):
            check_arg(f"data.{key}", value, POSITIVE_INT)
        for key, value in (("pool", pool), ("near", near), ("eval_points", eval_points), ("observed", observed)):
            check_arg(f"data.{key}", value, POSITIVE_INT)
        for key, value in (("val", val), ("test", test), ("family_seed", family_seed), ("seed", seed)):
            check_arg(f"data.{key}", value, integer(lo=0))
        check_arg("data.extent", extent, number(gt=0, le=1))
        check_arg("data.size", size, integer(lo=2))
        check_arg("data.near_std", list(near_std) if not isinstance(near_std, str) else near_std, TWO_STDS)
        check_arg("data.partial", partial, one_of("view", "box"))
        check_arg("data.view", list(view) if not isinstance(view, str) else view, VECTOR)
        check_arg("data.cut", list(cut) if not isinstance(cut, str) else cut, BOX)
        check_arg("data.scan_offset", scan_offset, POSITIVE)
        check_arg("data.up", up, one_of(*UP))
        task = task if task is not None else SDF("deepsdf")
        if not isinstance(task, ShapeTask):
            raise ConfigError("task", task.name, "does not fit shapes; use task=sdf or occupancy with data=shape_set")
        if task.laplace is not None:  # its pairs of coarse and fine points are drawn by model=shape only
            raise ConfigError("task.loss", "bacon", "fits one shape (data=shape); use siren, igr or deepsdf for a set")
        self.path, self.count, self.family_seed, self.n_val, self.n_test = path, count, family_seed, val, test
        self.extent, self.size, self.shapes_per_batch, self.batch_size = extent, size, shapes_per_batch, batch_size
        self.pool, self.n_near, self.near_std, self.eval_points = pool, near, tuple(near_std), eval_points
        self.view = np.asarray(view, dtype=np.float64) / np.linalg.norm(view)
        self.cut = np.asarray(cut, dtype=np.float64) if partial == "box" else None
        self.observed, self.scan_offset, self.seed, self.task, self.up = observed, scan_offset, seed, task, up
        self.shapes: list[Shape] = []
        self.splits: dict[str, np.ndarray] = {}
        self.held: dict[str, HeldOut] = {}

    @property
    def n_train(self) -> int:
        return len(self.splits["train"])

    def setup(self, stage: str | None = None) -> None:
        if self.shapes:
            return
        shapes = family(self.count, self.family_seed) if self.path is None else read_folder(self.path, self.extent)
        if self.n_val + self.n_test >= len(shapes):
            raise ConfigError(
                "data.test", self.n_test, f"with data.val={self.n_val} leaves no training shape of the {len(shapes)}"
            )
        self.shapes = shapes
        order = np.random.default_rng(self.seed).permutation(len(shapes))  # the split, disjoint by construction
        test, val = order[: self.n_test], order[self.n_test : self.n_test + self.n_val]
        self.splits = {"train": np.sort(order[self.n_test + self.n_val :]), "val": np.sort(val), "test": np.sort(test)}
        rng = np.random.default_rng(self.seed + 1)
        pools = [self.train_pools(shapes[i], rng) for i in self.splits["train"]]
        self.surface, self.normals, self.near, self.near_sdf = (
            np.stack(a).astype(np.float32) for a in zip(*pools, strict=True)
        )
        self.held = {stage: self.held_out(self.splits[stage], rng) for stage in ("val", "test")}

    def train_pools(self, shape: Shape, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """One training shape's surface (P, 3), normals (P, 3), near points (M, 3) and their distances (M,), M fixed
        (near plus its uniform share): a mesh's dropped points of undecided sign replaced by draws of the others."""
        surface, normals = shape.sample_surface(self.pool, rng)
        near, sdf = near_samples(shape, self.n_near, self.near_std, self.task.uniform_share, rng)
        m = self.n_near + int(self.n_near * self.task.uniform_share)
        if len(near) != m:
            keep = rng.choice(len(near), size=m, replace=len(near) < m)
            near, sdf = near[keep], sdf[keep]
        return surface, normals, near, sdf

    def held_out(self, index: np.ndarray, rng: np.random.Generator) -> HeldOut:
        """The val or test shapes `index` (B,): partial observations and ground truth (HeldOut)."""
        parts, points, normals, inside = [], [], [], []
        for i in index:
            shape = self.shapes[i]
            parts.append(scan(shape, self.view, self.pool, self.observed, self.scan_offset, rng, self.cut))
            p, n = shape.sample_surface(self.eval_points, rng)
            points.append(p), normals.append(n), inside.append(inside_grid(shape, self.size))
        if not len(index):
            empty = np.zeros((0, 0, 3))
            partial = Partial(empty, empty, empty, np.zeros((0, 0)))
            return HeldOut(index, partial, empty, empty, np.zeros((0,) + (self.size,) * 3, bool), np.zeros(0))
        partial = Partial(*(np.concatenate([getattr(p, k) for p in parts]) for k in vars(parts[0])))
        units = np.array([self.shapes[i].longest_side() for i in index])
        return HeldOut(index, partial, np.stack(points), np.stack(normals), np.stack(inside), units)

    def describe(self) -> str:
        """'96 shapes of the procedural family (80 train, 8 val, 16 test)', or of a folder."""
        what = "the procedural family" if self.path is None else Path(self.path).name
        n = {k: len(v) for k, v in self.splits.items()}
        return f"{len(self.shapes)} shapes of {what} ({n['train']} train, {n['val']} val, {n['test']} test)"
