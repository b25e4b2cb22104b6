"""Shapes read from files: a triangle mesh (.off, .obj, .ply, read with trimesh) or an oriented point cloud (.xyz:
one point a line, `x y z nx ny nz`), normalised into the coordinate cube (0, 1)^3.

Normalisation: the bounding box's centre goes to the cube's centre and its longest side to `extent` (0.8: the shape
spans [0.1, 0.9] along that axis), a uniform scale, so distances scale by one number. The transform is kept
(`Normalisation`): outputs (the extracted mesh) go back to the file's own units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nfields.core.errors import DataError
from nfields.core.geometry import sample_surface, unsigned_distance, winding_number

MESHES = (".off", ".obj", ".ply")
CLOUDS = (".xyz",)
AMBIGUOUS = 0.15  # a winding number within 0.5 +- this decides no sign (the point sees a hole)


@dataclass(frozen=True)
class Normalisation:
    """x_cube = (x - centre) * scale + 0.5; distances in the cube are `scale` times the file's."""

    centre: tuple[float, float, float] = (0.5, 0.5, 0.5)
    scale: float = 1.0

    @staticmethod
    def fit(points: np.ndarray, extent: float) -> Normalisation:
        lo, hi = points.min(0), points.max(0)
        return Normalisation(tuple(float(c) for c in (lo + hi) / 2), extent / float((hi - lo).max()))

    def to_cube(self, x: np.ndarray) -> np.ndarray:
        return (x - np.asarray(self.centre)) * self.scale + 0.5

    def to_input(self, x: np.ndarray) -> np.ndarray:
        return (x - 0.5) / self.scale + np.asarray(self.centre)


class Shape:
    """A shape in the cube's coordinates: surface samples with outward normals, and signed distances (negative
    inside). `exact_sign`: the inside is known (a closed or nearly closed mesh, an analytic shape); a point cloud's
    sign is its nearest point's normal's, good near the surface only."""

    exact_sign = True
    name = "shape"

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n points on the surface (n, 3) and their unit outward normals (n, 3)."""
        raise NotImplementedError

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) -> (N,) signed distance in the cube's units, negative inside."""
        raise NotImplementedError

    def longest_side(self) -> float:
        """The longest side of the bounding box, in the cube's units: what the metrics' distances are divided by."""
        raise NotImplementedError


class MeshShape(Shape):
    """A triangle mesh (V, 3), (F, 3) already in the cube's coordinates; the sign from generalised winding numbers."""

    def __init__(self, verts: np.ndarray, faces: np.ndarray, name: str = "mesh") -> None:
        self.verts, self.faces, self.name = verts, faces, name

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return sample_surface(self.verts, self.faces, n, rng)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        return self.decided(points)[0]

    def decided(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signed distances (N,) and whether each sign is decided (N,) bool: False where the winding number is near
        0.5 (next to a hole, or a mesh that is not a surface with an inside)."""
        w = winding_number(points, self.verts, self.faces)  # (N,): 1 inside, 0 outside
        sign = np.where(w > 0.5, -1.0, 1.0)
        return sign * unsigned_distance(points, self.verts, self.faces), np.abs(w - 0.5) > AMBIGUOUS

    def longest_side(self) -> float:
        return float(np.ptp(self.verts, axis=0).max())


class CloudShape(Shape):
    """An oriented point cloud (N, 3) with unit normals (N, 3) in the cube: no inside, only its points."""

    exact_sign = False

    def __init__(self, points: np.ndarray, normals: np.ndarray, name: str = "cloud") -> None:
        self.points, self.normals, self.name = points, normals, name
        from scipy.spatial import cKDTree  # imported when used: every run imports this module

        self.tree = cKDTree(points)

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.integers(0, len(self.points), n)
        return self.points[idx], self.normals[idx]

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance to the nearest point, signed by that point's normal: an approximation (module docstring)."""
        d, idx = self.tree.query(points)
        side = np.einsum("ij,ij->i", points - self.points[idx], self.normals[idx])
        return np.where(side < 0, -d, d)

    def longest_side(self) -> float:
        return float(np.ptp(self.points, axis=0).max())


def read_xyz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An .xyz file -> points (N, 3), unit normals (N, 3); one-line DataError for what cannot be used."""
    try:
        a = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#")
    except ValueError as e:
        why = (str(e).splitlines() or [type(e).__name__])[0]
        raise DataError(f"{path}: not a table of numbers ({why}); an .xyz file has lines 'x y z nx ny nz'") from e
    if a.size == 0:
        raise DataError(f"{path}: holds no points; an .xyz file has lines 'x y z nx ny nz'")
    if a.shape[1] != 6:
        raise DataError(f"{path}: {a.shape[1]} numbers a line; expected 6, 'x y z nx ny nz' (oriented normals)")
    if not np.isfinite(a).all():
        raise DataError(f"{path}: holds NaN or inf values; repair the file")
    n = np.linalg.norm(a[:, 3:], axis=1)
    if (n < 1e-12).any():
        raise DataError(f"{path}: {int((n < 1e-12).sum())} points have a zero normal; every point needs its normal")
    return a[:, :3], a[:, 3:] / n[:, None]


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A mesh file -> vertices (V, 3) float64, triangles (F, 3) int64 (duplicate vertices merged by trimesh)."""
    import trimesh  # imported when a mesh is read: every run imports this module, few read meshes

    try:
        mesh = trimesh.load(path, file_type=path.suffix[1:].lower(), force="mesh")
    except Exception as e:  # noqa: BLE001 - trimesh raises many kinds of error for a malformed file
        why = (str(e).splitlines() or [type(e).__name__])[0] or type(e).__name__
        raise DataError(f"{path}: a corrupt or unreadable {path.suffix} mesh ({why}); export it again") from e
    verts, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0 or len(verts) == 0:
        raise DataError(f"{path}: holds no triangles; a point cloud goes in an .xyz file 'x y z nx ny nz'")
    if not np.isfinite(verts).all():
        raise DataError(f"{path}: vertices hold NaN or inf values; repair the mesh")
    return verts, faces


def read_shape(path: str | Path, extent: float) -> tuple[Shape, Normalisation]:
    """A mesh or point-cloud file -> the shape in the cube and the transform back to the file's units."""
    path = Path(path).expanduser()
    kinds = ", ".join(MESHES) + " (meshes) or .xyz (an oriented point cloud)"
    if not path.exists():
        raise DataError(f"shape file not found: {path} (set data.path to a {kinds})")
    if path.is_dir():
        raise DataError(f"data.path={path} is a folder; set it to a {kinds} file")
    suffix = path.suffix.lower()
    if suffix not in MESHES + CLOUDS:
        raise DataError(f"{path}: unsupported shape file type '{suffix}'; use {kinds}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    points, normals = read_xyz(path) if suffix in CLOUDS else (None, None)
    verts, faces = (None, None) if suffix in CLOUDS else read_mesh(path)
    pts = points if points is not None else verts
    if float(np.ptp(pts, axis=0).max()) <= 0:
        raise DataError(f"{path}: every point is the same point; a shape needs an extent")
    norm = Normalisation.fit(pts, extent)
    if points is not None:
        return CloudShape(norm.to_cube(points), normals, path.name), norm
    return MeshShape(norm.to_cube(verts), faces, path.name), norm
