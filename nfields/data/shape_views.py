"""The ground truth's shaded views for data=shape, traced as the field's are (fields/trace.py), from its own
distance: nothing is rasterised, so the two pictures differ only by the surfaces.

  analytic  its exact signed distance, sphere traced; normals by central differences
  mesh      its unsigned distance (exact to the nearest of the k triangles whose centroids are nearest, as
            core/geometry.py's), sphere traced from outside: no sign, so no winding numbers per step; the
            surface traced is OFFSET outside the mesh (a fraction of a pixel), so the hit lies off the distance's
            kink and its central differences give the normal
  cloud     the distance to the nearest point less twice the points' mean spacing (each point a small ball, so
            rays do not slip between them); the normal the nearest point's
All in float64 on the host, `chunk` rays at a time.

Up: fields/trace.py's orbit circles the z axis, z up in the pictures; `data.up=y` (the default: most scanned meshes,
the Stanford ones among CGAL's, stand along y) turns the whole orbit, cameras, their up and their light, by the
rotation that takes z to y (x, y, z) -> (y, z, x) (`orbit_up`), so a y-up shape is seen as a z-up one turned up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.spatial import cKDTree

from nfields.core.geometry import closest_on_triangles
from nfields.data.shape_io import CloudShape, MeshShape, Shape
from nfields.fields.trace import NormalFn, ValueFn, View, difference_normals, orbit, render_views

OFFSET = 2e-3  # cube units: how far outside a mesh its traced surface lies (a pixel of a 256 view is ~5e-3)


UP = ("y", "z")  # data.up: the axis that is up in the shaded views


def orbit_up(n: int, up: str = "y") -> list[View]:
    """`n` views evenly around the cube's centre (fields/trace.py's orbit) with `up` (y or z) up in the pictures."""
    views = orbit(n)  # z up
    if up == "z":
        return views

    def turn(v: tuple[float, float, float]) -> tuple[float, float, float]:
        return (v[1], v[2], v[0])  # a rotation (a cyclic permutation) taking z to y; the cube's centre stays

    return [View(turn(w.eye), w.target, turn(w.up), w.fov) for w in views]  # the target is the centre: unmoved


def numpy_fn(f: Callable[[np.ndarray], np.ndarray]) -> ValueFn:
    """A NumPy function of points (N, 3) -> (N,) as a torch one (float64 on the host)."""
    return lambda x: torch.from_numpy(f(x.detach().cpu().double().numpy())).to(x)


class MeshDistance:
    """A mesh's unsigned distance with its centroid k-d tree built once (one build per query would be repeated at
    every step of every ray chunk)."""

    def __init__(self, shape: MeshShape, k: int = 16) -> None:
        self.tris = shape.verts[shape.faces]  # (F, 3, 3)
        self.tree, self.k = cKDTree(self.tris.mean(1)), min(k, len(shape.faces))

    def __call__(self, p: np.ndarray) -> np.ndarray:
        _, idx = self.tree.query(p, k=self.k)
        t = self.tris[idx.reshape(len(p), self.k)]  # (N, k, 3, 3)
        q = closest_on_triangles(p[:, None], t[:, :, 0], t[:, :, 1], t[:, :, 2])  # (N, k, 3)
        return np.linalg.norm(q - p[:, None], axis=-1).min(1)


def traced(shape: Shape) -> tuple[ValueFn, NormalFn]:
    """What is sphere traced for `shape` and its normals (module docstring)."""
    if isinstance(shape, MeshShape):
        dist = MeshDistance(shape)
        fn = numpy_fn(lambda p: dist(p) - OFFSET)
        return fn, difference_normals(fn, OFFSET / 4)
    if isinstance(shape, CloudShape):
        spacing = float(shape.tree.query(shape.points, k=2)[0][:, 1].mean())  # mean nearest-neighbour distance

        def normals(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(shape.normals[shape.tree.query(x.cpu().double().numpy())[1]]).to(x)

        return numpy_fn(lambda p: shape.tree.query(p)[0] - 2 * spacing), normals
    fn = numpy_fn(shape.signed_distance)
    return fn, difference_normals(fn, 1e-5)


def true_views(shape: Shape, views: Sequence[View], size: int, chunk: int = 16384) -> torch.Tensor:
    """The shape's surface from each view -> (V, size, size, 3) in [0, 1]."""
    fn, normals = traced(shape)
    return render_views(fn, views, size, normals=normals, chunk=chunk, dtype=torch.float64)
