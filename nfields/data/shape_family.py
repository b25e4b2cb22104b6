"""A procedural family of shapes with exact signed distances, for data=shape_set with no folder (data.path: null):
spheres, tori, capsules and boxes of random sizes and proportions in random orientations, about the centre of the
cube (0, 1)^3. Generated from a seed, nothing read or downloaded.

Each kind's parameters are drawn uniformly (cube units; every shape stays within 0.4 of the centre):
  sphere   radius in [0.15, 0.35]
  torus    ring radius in [0.15, 0.25], tube radius in [0.05, 0.1]
  capsule  half length of its segment in [0.05, 0.2], radius in [0.08, 0.18]
  box      half sides each in [0.08, 0.22]
and the shape is rotated by a rotation drawn uniformly (Haar) from SO(3); the sphere's rotation changes nothing.
The kinds take turns (shape i is KINDS[i % 4]), so every kind is as common in a set.
"""

from __future__ import annotations

import numpy as np

from nfields.data.shape_analytic import CENTRE, Box, Sphere, Torus, unit
from nfields.data.shape_io import Shape

KINDS = ("sphere", "torus", "capsule", "box")


class Capsule(Shape):
    """The points within `radius` of a segment of half length `half` along z through the centre."""

    name = "capsule"

    def __init__(self, half: float = 0.15, radius: float = 0.12) -> None:
        self.half, self.radius = half, radius

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        h, r = self.half, self.radius
        side = 4 * np.pi * r * h  # the cylinder's area; the two half spheres' together: 4 pi r^2
        on_side = rng.uniform(0, side + 4 * np.pi * r**2, n) < side  # (n,) uniform by area
        u = rng.uniform(0, 2 * np.pi, n)
        normals = np.where(
            on_side[:, None], np.stack([np.cos(u), np.sin(u), np.zeros(n)], -1), unit(rng.normal(size=(n, 3)))
        )
        axis = np.where(on_side, rng.uniform(-h, h, n), np.where(normals[:, 2] >= 0, h, -h))  # (n,): along z
        points = CENTRE + r * normals
        points[:, 2] += axis
        return points, normals

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        p = points - CENTRE
        q = p.copy()
        q[:, 2] -= np.clip(p[:, 2], -self.half, self.half)  # from the nearest point of the segment
        return np.linalg.norm(q, axis=-1) - self.radius

    def longest_side(self) -> float:
        return 2 * (self.half + self.radius)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation (3, 3) uniform on SO(3): the QR decomposition of a Gaussian matrix, signs fixed (Mezzadri 2007)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


class Posed(Shape):
    """A shape about the centre rotated by R (3, 3): x_world = c + R (x_shape - c). Distances are unchanged by a
    rotation, so the signed distance stays exact."""

    def __init__(self, shape: Shape, rotation: np.ndarray, name: str) -> None:
        self.shape, self.rotation, self.name = shape, rotation, name
        points, _ = self.sample_surface(20_000, np.random.default_rng(0))  # the rotated bounding box's side
        self.side = float(np.ptp(points, axis=0).max())

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        points, normals = self.shape.sample_surface(n, rng)  # (n, 3) each, in the shape's own frame
        return CENTRE + (points - CENTRE) @ self.rotation.T, normals @ self.rotation.T

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        return self.shape.signed_distance(CENTRE + (points - CENTRE) @ self.rotation)  # R^T (x - c) + c, row-wise

    def longest_side(self) -> float:
        """The longest side of the rotated shape's bounding box, from 20,000 surface samples (metrics' unit)."""
        return self.side


def random_shape(kind: str, rng: np.random.Generator) -> Shape:
    """One shape of `kind` (KINDS) with its parameters drawn as the module docstring says, not yet rotated."""
    if kind == "sphere":
        return Sphere(rng.uniform(0.15, 0.35))
    if kind == "torus":
        return Torus(rng.uniform(0.15, 0.25), rng.uniform(0.05, 0.1))
    if kind == "capsule":
        return Capsule(rng.uniform(0.05, 0.2), rng.uniform(0.08, 0.18))
    return Box(tuple(rng.uniform(0.08, 0.22, 3)))


def family(count: int, seed: int) -> list[Shape]:
    """`count` shapes, the kinds in turn, each with its own sizes and orientation, the same for the same seed."""
    rng = np.random.default_rng(seed)
    shapes: list[Shape] = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        shapes.append(Posed(random_shape(kind, rng), random_rotation(rng), f"{kind}{i:03d}"))
    return shapes
