"""Analytic shapes for data=shape with no file (data.path: null): a sphere, a torus and a box about the centre of
the cube (0, 1)^3, with exact signed distances and exactly uniform surface samples. Nothing is read or downloaded.

Sizes: the sphere's radius 0.3; the torus's ring radius 0.25 and tube radius 0.1, its axis along z; the box's half
sides (0.3, 0.2, 0.25). Distances are in the cube's units, negative inside (Inigo Quilez's formulas).
"""

from __future__ import annotations

import numpy as np

from nfields.data.shape_io import Shape

CENTRE = np.array([0.5, 0.5, 0.5])


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class Sphere(Shape):
    name = "sphere"

    def __init__(self, radius: float = 0.3) -> None:
        self.radius = radius

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        normals = unit(rng.normal(size=(n, 3)))  # isotropic directions: uniform on the sphere
        return CENTRE + self.radius * normals, normals

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points - CENTRE, axis=-1) - self.radius

    def longest_side(self) -> float:
        return 2 * self.radius


class Torus(Shape):
    name = "torus"

    def __init__(self, ring: float = 0.25, tube: float = 0.1) -> None:
        self.ring, self.tube = ring, tube

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        # uniform by area: the area element is (R + r cos v) du dv; v is kept with probability (R + r cos v) / (R + r)
        v = np.empty(0)
        while len(v) < n:
            cand = rng.uniform(0, 2 * np.pi, 2 * n)
            keep = rng.uniform(0, 1, 2 * n) < (self.ring + self.tube * np.cos(cand)) / (self.ring + self.tube)
            v = np.concatenate([v, cand[keep]])
        v, u = v[:n], rng.uniform(0, 2 * np.pi, n)
        normals = np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), np.sin(v)], -1)  # (n, 3)
        ring = self.ring * np.stack([np.cos(u), np.sin(u), np.zeros(n)], -1)  # the tube's centre line
        return CENTRE + ring + self.tube * normals, normals

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        p = points - CENTRE
        q = np.stack([np.hypot(p[:, 0], p[:, 1]) - self.ring, p[:, 2]], -1)  # (N, 2): to the centre line
        return np.linalg.norm(q, axis=-1) - self.tube

    def longest_side(self) -> float:
        return 2 * (self.ring + self.tube)


class Box(Shape):
    name = "box"

    def __init__(self, half: tuple[float, float, float] = (0.3, 0.2, 0.25)) -> None:
        self.half = np.asarray(half, dtype=np.float64)

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        h = self.half
        areas = np.array([h[1] * h[2], h[0] * h[2], h[0] * h[1]]).repeat(2)  # faces -x, +x, -y, +y, -z, +z
        face = rng.choice(6, size=n, p=areas / areas.sum())
        axis, side = face // 2, np.where(face % 2 == 0, -1.0, 1.0)
        p = rng.uniform(-1, 1, (n, 3)) * h
        p[np.arange(n), axis] = side * h[axis]
        normals = np.zeros((n, 3))
        normals[np.arange(n), axis] = side
        return CENTRE + p, normals

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        q = np.abs(points - CENTRE) - self.half  # (N, 3)
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)

    def longest_side(self) -> float:
        return float(2 * self.half.max())


ANALYTIC: dict[str, type[Shape]] = {"sphere": Sphere, "torus": Torus, "box": Box}
