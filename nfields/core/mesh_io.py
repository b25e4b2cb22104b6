"""Surfaces of volumes: marching cubes (scikit-image) and a binary PLY writer (any mesh viewer reads it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.measure import marching_cubes

from nfields.core.files import atomic_path


def surface(volume: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The `level` surface of a (D, H, W) volume -> vertices (V, 3) as (x, y, z) in the cell-centre coordinates of
    nfields/core/coords.py (x along W, z along D, in (0, 1)), and triangles (F, 3). A volume with no crossing of
    `level` has no surface: ValueError."""
    if not (volume.min() <= level <= volume.max()) or volume.min() == volume.max():
        raise ValueError(f"the volume does not cross level {level} (values {volume.min()}..{volume.max()}): no surface")
    verts, faces, _, _ = marching_cubes(volume, level=level)  # verts (V, 3) in array indices (d, h, w)
    size = np.array(volume.shape, dtype=np.float64)
    xyz = ((verts + 0.5) / size)[:, ::-1]  # index i -> centre (i + 0.5) / n; (d, h, w) -> (x, y, z)
    return np.ascontiguousarray(xyz, dtype=np.float32), faces[:, ::-1].astype(np.int32)  # reversed: normals outward


def write_ply(path: str | Path, verts: np.ndarray, faces: np.ndarray) -> Path:
    """A binary little-endian PLY of vertices (V, 3) float32 and triangles (F, 3) int32, written atomically."""
    path = Path(path)
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(verts)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    tris = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    tris["n"], tris["v"] = 3, faces
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(np.asarray(verts, dtype="<f4").tobytes())
        f.write(tris.tobytes())
    return path


def write_obj(path: str | Path, verts: np.ndarray, faces: np.ndarray) -> Path:
    """A Wavefront OBJ (text) of vertices (V, 3) and triangles (F, 3), written atomically: what W&B's Object3D
    shows (it takes no PLY)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        np.savetxt(f, verts, fmt="v %.6f %.6f %.6f")
        np.savetxt(f, faces + 1, fmt="f %d %d %d")  # OBJ counts vertices from 1
    return Path(path)
