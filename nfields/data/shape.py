"""data=shape: one shape, fitted as a signed distance field (model=shape, task=sdf).

`data.path`: a mesh (.off, .obj, .ply) or an oriented point cloud (.xyz: x y z nx ny nz), normalised into the
cube (data/shape_io.py); null: an analytic shape, `data.analytic` (sphere, torus, box: data/shape_analytic.py).

Set up once, on the host (NumPy), then moved to the device by the module:
  surface pool   `data.pool` surface points with their normals, from which each step draws `data.batch_size`;
  near pool      as many points near the surface (Gaussian offsets of std `data.near_std`, half at each of its two
                 scales, as DeepSDF's samples) plus uniform points in the cube (a tenth as many for task=sdf, as many
                 for task=occupancy: ShapeTask.uniform_share), with their signed distances when
                 the shape has an inside (a mesh's sign by generalised winding numbers: core/geometry.py);
                 task.loss=bacon: BACON's instead (laplace_samples), for a point cloud too;
  ground truth   `data.eval_points` surface samples with normals (the metrics), the inside of the cells of a
                 `data.size`^3 grid (IoU; not for a point cloud, which has no inside), and the middle slices of the
                 signed distance (the panel).
Points whose sign the winding number cannot decide (near a hole) are dropped from the near pool; when more than a
tenth are, the mesh is refused in one line. Each step also draws `data.batch_size` free points uniform in the cube.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from nfields.core.checks import POSITIVE, POSITIVE_INT, Check, check_arg, integer, nullable, number, one_of, string
from nfields.core.errors import ConfigError, DataError
from nfields.core.sdf_mesh import mid_planes, plane_points
from nfields.data.grid import OnDevice
from nfields.data.shape_analytic import ANALYTIC
from nfields.data.shape_io import CloudShape, MeshShape, Normalisation, Shape, read_shape
from nfields.data.shape_views import UP
from nfields.tasks.sdf import SDF
from nfields.tasks.shape import ShapeTask

PANEL = 96  # side of each slice in the panel
MAX_UNDECIDED = 0.1  # the largest fraction of near points whose sign may be undecided

TWO_STDS = Check(
    lambda v: isinstance(v, list | tuple) and len(v) == 2 and all(POSITIVE.ok(s) for s in v), "two numbers > 0"
)


class ShapeDataModule(OnDevice):
    """One shape in the cube (0, 1)^3: its sample pools and ground truth (module docstring)."""

    dims, channels = 3, 1  # the field maps (x, y, z) to one value, the signed distance

    def __init__(
        self,
        path: str | None = None,
        analytic: str = "torus",
        extent: float = 0.8,
        size: int | None = 64,
        batch_size: int = 4096,
        pool: int = 100_000,
        near: int = 16_384,
        near_std: tuple[float, float] = (0.02, 0.004),
        eval_points: int = 20_000,
        up: str = "y",
        seed: int = 0,
        task: ShapeTask | None = None,
    ) -> None:
        super().__init__()
        check_arg("data.path", path, nullable(string()))
        check_arg("data.analytic", analytic, one_of(*ANALYTIC))
        check_arg("data.extent", extent, number(gt=0, le=1))
        check_arg("data.size", size, nullable(integer(lo=2)))
        check_arg("data.batch_size", batch_size, POSITIVE_INT)
        check_arg("data.pool", pool, POSITIVE_INT)
        check_arg("data.near", near, integer(lo=0))
        check_arg("data.near_std", list(near_std) if not isinstance(near_std, str) else near_std, TWO_STDS)
        check_arg("data.eval_points", eval_points, POSITIVE_INT)
        check_arg("data.seed", seed, integer(lo=0))
        check_arg("data.up", up, one_of(*UP))
        task = task if task is not None else SDF()
        if not isinstance(task, ShapeTask):
            raise ConfigError("task", task.name, "does not fit a shape; use task=sdf or occupancy with data=shape")
        if task.needs_distances and near == 0:
            raise ConfigError("data.near", near, f"{task.option} trains on points near the surface: use >= 1")
        if task.laplace is not None and near < 2:
            raise ConfigError("data.near", near, f"{task.option} trains on pairs of points near the surface: use >= 2")
        self.path, self.analytic, self.extent, self.size = path, analytic, extent, size or 64
        self.batch_size, self.pool, self.n_near, self.near_std = batch_size, pool, near, tuple(near_std)
        self.eval_points, self.seed, self.task, self.up = eval_points, seed, task, up
        self.shape: Shape | None = None
        self.norm = Normalisation()

    def setup(self, stage: str | None = None) -> None:
        if self.shape is not None:
            return
        if self.path is None:
            self.shape = ANALYTIC[self.analytic]()
        else:
            self.shape, self.norm = read_shape(self.path, self.extent)
        if self.task.needs_distances and not self.shape.exact_sign:
            raise DataError(
                f"{self.shape.name}: {self.task.option} needs signed distances, which an oriented point "
                "cloud does not give; use task=sdf with task.loss=siren or igr, or a mesh"
            )
        rng = np.random.default_rng(self.seed)
        self.surface, self.normals = self.shape.sample_surface(self.pool, rng)  # (P, 3) each
        self.near, self.near_sdf = self.near_pool(rng)
        self.gt_points, self.gt_normals = self.shape.sample_surface(self.eval_points, rng)  # (E, 3) each
        self.gt_inside = inside_grid(self.shape, self.size) if self.shape.exact_sign else None  # the IoU's cells
        self.gt_slices = self.shape.signed_distance(mid_planes(PANEL).reshape(-1, 3)).reshape(3, PANEL, PANEL)

    def near_pool(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Points near the surface and the task's share uniform (M, 3), with signed distances (M,) when the shape has an
        inside (else None); undecided signs dropped (module docstring). BACON's (task.laplace): estimated from a
        point cloud's own points, or from the surface pool's samples of any other shape."""
        if self.task.laplace is not None:
            cloud = self.shape if isinstance(self.shape, CloudShape) else None
            points, normals = (cloud.points, cloud.normals) if cloud else (self.surface, self.normals)
            return laplace_samples(points, normals, self.n_near, self.task.laplace, rng)
        return near_samples(self.shape, self.n_near, self.near_std, self.task.uniform_share, rng)

    def describe(self) -> str:
        """'torus (analytic)', 'bunny00.off: 37706 vertices, 75408 triangles', 'kitten.xyz: 5210 points'."""
        shape = self.shape
        if isinstance(shape, MeshShape):
            return f"{shape.name}: {len(shape.verts)} vertices, {len(shape.faces)} triangles"
        if isinstance(shape, CloudShape):
            return f"{shape.name}: {len(shape.points)} points"
        return f"{shape.name} (analytic)"


def inside_grid(shape: Shape, n: int) -> np.ndarray:
    """The inside of an n^3 grid's cells (n, n, n) bool, axes (z, y, x), 8 planes at a time (bounded memory)."""
    centres = (np.arange(n) + 0.5) / n
    planes = [plane_points(n, centres[z : z + 8]).reshape(-1, 3) for z in range(0, n, 8)]
    return np.concatenate([shape.signed_distance(p) < 0 for p in planes]).reshape(n, n, n)


def near_samples(
    shape: Shape, m: int, near_std: tuple[float, float], uniform_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """m points near `shape`'s surface (Gaussian offsets, half at each std of `near_std`) and m x `uniform_share`
    uniform in the cube (M, 3), with their signed distances (M,) when the shape has an inside (else None); a mesh's
    points of undecided sign are dropped, and the mesh refused in one line when more than MAX_UNDECIDED are."""
    base, _ = shape.sample_surface(m, rng)
    std = np.where(np.arange(m) % 2 == 0, near_std[0], near_std[1])[:, None]  # two scales
    pts = np.concatenate([base + rng.normal(size=base.shape) * std, rng.uniform(0, 1, (int(m * uniform_share), 3))])
    pts = np.clip(pts, 0, 1)
    if not shape.exact_sign:
        return pts, None
    if not isinstance(shape, MeshShape):
        return pts, shape.signed_distance(pts)
    sdf, decided = shape.decided(pts)
    if len(pts) and (~decided).mean() > MAX_UNDECIDED:
        raise DataError(
            f"{shape.name}: the inside cannot be decided at {100 * (~decided).mean():.0f}% of the points "
            "near the surface (the mesh is open or not oriented); close its holes, or fit its surface alone "
            "with data.near=0 and task.loss=siren or igr"
        )
    return pts[decided], sdf[decided]


def laplace_samples(
    points: np.ndarray, normals: np.ndarray, m: int, scales: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """BACON's MeshSDF.sample_surface (FINER's SDF data): m // 2 pairs of points (M, 3), each pair one of the oriented
    `points` (N, 3) with unit `normals` (N, 3) moved by a Laplace offset of scale `scales[0]` (coarse, even positions)
    and another moved by one of `scales[1]` (fine, odd positions), wrapped back into the cube (x - 1 above 1, x + 1
    below 0, as BACON's into [-0.5, 0.5]); with their distances (M,) estimated as BACON's: (x - p1) . n, n the mean
    normal of the 3 nearest points p1, p2, p3 (a signed distance to p1's tangent plane, exact only near the surface)."""
    m -= m % 2
    base = points[rng.integers(0, len(points), m)]  # (M, 3)
    scale = np.where(np.arange(m) % 2 == 0, scales[0], scales[1])[:, None]  # (M, 1): coarse, fine, coarse, ...
    x = base + rng.laplace(size=base.shape) * scale
    x = np.where(x > 1, x - 1, np.where(x < 0, x + 1, x))
    _, nearest = cKDTree(points).query(x, k=3)  # (M, 3) indices
    n = normals[nearest].mean(1)  # (M, 3): not renormalised, as BACON's
    return x, np.sum((x - points[nearest[:, 0]]) * n, axis=-1)
