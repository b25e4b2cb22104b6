"""A signed distance field's surface and pictures: marching cubes slab by slab, and slices for the panel.

The field is any function of points (N, 3) in the cube (0, 1)^3 -> values (N,), negative inside. It is evaluated
on the n^3 cell centres (i + 0.5) / n (core/coords.py's convention), `slab` planes at a time, and each slab's
surface is extracted on its own (skimage.measure.marching_cubes) with one plane shared with the next: the memory
beyond the output mesh is that of one slab, n^2 (slab + 1) values, whatever n (512^3 needs no more than 128^3 but
for its larger output). Vertices on the shared planes are merged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from skimage.measure import marching_cubes

from nfields.core.views import strip

SdfFn = Callable[[np.ndarray], np.ndarray]  # points (N, 3) in the cube -> values (N,)


def plane_points(n: int, z: np.ndarray) -> np.ndarray:
    """Cell centres of the planes z (k,) of an n^3 grid -> (k, n, n, 3) as (x, y, z): array axes (z, y, x)."""
    c = (np.arange(n) + 0.5) / n
    zz, yy, xx = np.meshgrid(z, c, c, indexing="ij")
    return np.stack([xx, yy, zz], -1)


def extract_surface(
    fn: SdfFn, n: int, level: float = 0.0, slab: int = 16, inside: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The `level` set of fn on an n^3 grid -> vertices (V, 3) float32 in the cube and triangles (F, 3) int64,
    counter-clockwise seen from outside (fn > level); empty arrays when fn does not cross `level`. `inside`, an
    (n, n, n) bool array (z, y, x) if given, receives fn < level at every cell (IoU) from the same evaluation."""
    centres = (np.arange(n) + 0.5) / n
    verts, faces, count = [], [], 0
    for z0 in range(0, max(n - 1, 1), slab):
        planes = np.arange(z0, min(z0 + slab + 1, n))  # slab + 1 planes: the last is the next slab's first
        values = fn(plane_points(n, centres[planes]).reshape(-1, 3)).reshape(len(planes), n, n)
        if inside is not None:
            inside[planes] = values < level
        if not (values.min() <= level <= values.max()) or values.min() == values.max():
            continue
        v, f, _, _ = marching_cubes(values, level=level)  # v (V, 3) in indices (z, y, x)
        v[:, 0] += z0
        verts.append(((v + 0.5) / n)[:, ::-1])  # (x, y, z) in the cube
        faces.append(f + count)
        count += len(v)
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    v, f = np.concatenate(verts), np.concatenate(faces)
    # merge the copies of vertices on the planes two slabs share (identical coordinates from identical values)
    keys = np.round(v * n * 1e4).astype(np.int64)  # (V, 3)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    faces = inverse.reshape(-1)[f][:, ::-1]  # marching cubes winds them inward for a field low inside: reversed
    return v[first].astype(np.float32), np.ascontiguousarray(faces, dtype=np.int64)


def torch_fn(field: Callable[[torch.Tensor], torch.Tensor], device: torch.device, chunk: int = 65536) -> SdfFn:
    """A torch field (M, 3) -> (M, 1) as an SdfFn on NumPy points, `chunk` points a forward pass, no gradients."""

    @torch.no_grad()
    def fn(points: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(points).float()
        out = [field(x[i : i + chunk].to(device))[..., 0].float().cpu() for i in range(0, len(x), chunk)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    return fn


def mid_planes(n: int) -> np.ndarray:
    """Points of the cube's three middle planes at n x n -> (3, n, n, 3): x = 0.5 (rows z, columns y), y = 0.5
    (rows z, columns x), z = 0.5 (rows y, columns x); rows from the top at the high end, as a picture reads."""
    c = (np.arange(n) + 0.5) / n
    a, b = np.meshgrid(c[::-1], c, indexing="ij")  # (n, n): row coordinate (descending), column coordinate
    half = np.full_like(a, 0.5)
    return np.stack(
        [np.stack([half, b, a], -1), np.stack([b, half, a], -1), np.stack([b, a, half], -1)]
    )  # (3, n, n, 3)


def sdf_picture(values: np.ndarray, scale: float = 0.5) -> torch.Tensor:
    """Slices of signed distances (k, n, n) -> (n, k n + gaps, 3) in [0, 1]: blue inside, orange outside, paler
    farther from the surface (|d| / scale), contour bands every scale / 10 and the zero level in black."""
    d = torch.from_numpy(np.asarray(values, dtype=np.float32))
    t = (d.abs() / scale).clamp(0, 1)[..., None]  # (k, n, n, 1)
    inside, outside = torch.tensor([0.16, 0.36, 0.76]), torch.tensor([0.91, 0.52, 0.15])
    base = torch.where(d[..., None] < 0, inside, outside)
    img = base * (1 - t) + t  # toward white with distance
    bands = 0.85 + 0.15 * torch.cos(2 * torch.pi * d / (scale / 10)).abs()[..., None]  # (k, n, n, 1)
    img = img * bands
    pixel = 1.0 / d.shape[-1]  # the slices span the cube: a pixel is 1 / n of distance; the zero line ~2 px wide
    img = torch.where(d.abs()[..., None] < pixel, torch.zeros(3), img)
    return strip(list(img.clamp(0, 1)))
