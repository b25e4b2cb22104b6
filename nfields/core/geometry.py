"""Triangle-mesh geometry in NumPy: area-weighted surface samples, exact distances, generalised winding numbers.

A mesh is vertices (V, 3) float64 and triangles (F, 3) int, counter-clockwise seen from outside (outward normals),
as marching cubes writes them (core/mesh_io.py) and .off/.obj/.ply files usually store them.

The winding number w(q) = (1 / 4 pi) * sum of the solid angles of the triangles seen from q (Jacobson et al. 2013,
"Robust inside-outside segmentation using generalized winding numbers") is 1 inside a closed mesh, 0 outside, and
stays near those values around a few holes, where a ray-parity test flips: so it decides the sign of a distance.
Triangles are grouped into spatially compact clusters (the leaves of a k-d tree of their centroids); a cluster
far from q (beyond FAR x its radius) counts as its dipole, the first term of Barill et al. 2018's fast winding
numbers, and a near one triangle by triangle: O(N (F / S + near triangles)) instead of O(N F).
"""

from __future__ import annotations

import numpy as np

FAR = 2.0  # a cluster is approximated by its dipole beyond FAR x its radius (error ~ (1 / FAR)^2 of its share)
CLUSTER = 64  # triangles per cluster
CHUNK = 4096  # query points per block: bounds the (N, K) and (pairs, S) temporaries


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def face_areas_normals(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangle areas (F,) and unit normals (F, 3) (zero for a degenerate triangle)."""
    a, b, c = (verts[faces[:, i]] for i in range(3))  # (F, 3) each
    cross = np.cross(b - a, c - a)  # (F, 3): twice the area along the normal
    twice = np.linalg.norm(cross, axis=-1)
    return 0.5 * twice, cross / np.maximum(twice, 1e-300)[:, None]


def sample_surface(
    verts: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform over the surface's area -> points (n, 3) and the unit normals of their triangles (n, 3)."""
    areas, normals = face_areas_normals(verts, faces)
    idx = rng.choice(len(faces), size=n, p=areas / areas.sum())  # (n,) triangles, by area
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)  # uniform barycentrics: (1 - s, s (1 - r2), s r2)
    a, b, c = (verts[faces[idx, i]] for i in range(3))
    pts = a * (1 - s)[:, None] + b * (s * (1 - r2))[:, None] + c * (s * r2)[:, None]
    return pts, normals[idx]


def closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The closest point to p on triangle (a, b, c), broadcast over leading dims (..., 3) -> (..., 3).

    Ericson, Real-Time Collision Detection, 5.1.5: which Voronoi region of the triangle p projects into. The
    regions are tested in his order; here each later np.where overrides, so they are applied in reverse."""
    ab, ac, ap, bp, cp = b - a, c - a, p - a, p - b, p - c
    d1, d2, d3, d4, d5, d6 = dot(ab, ap), dot(ac, ap), dot(ab, bp), dot(ac, bp), dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    def safe(num: np.ndarray, den: np.ndarray) -> np.ndarray:  # num / den, 0 where den is 0 (degenerate)
        return np.divide(num, den, out=np.zeros_like(num), where=den != 0)

    denom = va + vb + vc
    out = a + ab * safe(vb, denom)[..., None] + ac * safe(vc, denom)[..., None]  # inside the face
    w_bc = safe(d4 - d3, (d4 - d3) + (d5 - d6))
    out = np.where(((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0))[..., None], b + (c - b) * w_bc[..., None], out)
    out = np.where(((vb <= 0) & (d2 >= 0) & (d6 <= 0))[..., None], a + ac * safe(d2, d2 - d6)[..., None], out)
    out = np.where(((d6 >= 0) & (d5 <= d6))[..., None], c, out)
    out = np.where(((vc <= 0) & (d1 >= 0) & (d3 <= 0))[..., None], a + ab * safe(d1, d1 - d3)[..., None], out)
    out = np.where(((d3 >= 0) & (d4 <= d3))[..., None], b, out)
    return np.where(((d1 <= 0) & (d2 <= 0))[..., None], a, out)


def unsigned_distance(points: np.ndarray, verts: np.ndarray, faces: np.ndarray, k: int = 16) -> np.ndarray:
    """Distance from each point (N, 3) to the mesh -> (N,): exact to the nearest of the k triangles whose centroids
    are nearest the point (the nearest triangle is among them unless triangle sizes vary wildly nearby)."""
    tris = verts[faces]  # (F, 3, 3)
    from scipy.spatial import cKDTree  # imported when used (every run imports this module)

    tree = cKDTree(tris.mean(1))
    k = min(k, len(faces))
    out = np.empty(len(points))
    for lo in range(0, len(points), CHUNK):
        p = points[lo : lo + CHUNK]  # (n, 3)
        _, idx = tree.query(p, k=k)  # (n, k)
        idx = idx.reshape(len(p), k)
        t = tris[idx]  # (n, k, 3, 3)
        q = closest_on_triangles(p[:, None], t[:, :, 0], t[:, :, 1], t[:, :, 2])  # (n, k, 3)
        out[lo : lo + CHUNK] = np.linalg.norm(q - p[:, None], axis=-1).min(1)
    return out


def solid_angles(q: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Signed solid angle of triangle (a, b, c) seen from q, broadcast (..., 3) -> (...) (Van Oosterom and
    Strackee 1983): 2 atan2(a . (b x c), |a||b||c| + (a.b)|c| + (b.c)|a| + (c.a)|b|), with a, b, c from q."""
    a, b, c = a - q, b - q, c - q
    la, lb, lc = (np.sqrt(dot(x, x)) for x in (a, b, c))
    bxc = b[..., [1, 2, 0]] * c[..., [2, 0, 1]] - b[..., [2, 0, 1]] * c[..., [1, 2, 0]]  # b x c
    det = dot(a, bxc)
    den = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb
    return 2 * np.arctan2(det, den)


def kd_order(x: np.ndarray, leaf: int) -> np.ndarray:
    """An order of points (N, 3) in which each run of `leaf` points is a compact box: the points are split at
    the median of their longest axis, recursively, down to runs of at most `leaf` (a k-d tree's leaves)."""
    order = np.arange(len(x))

    def split(lo: int, hi: int) -> None:
        if hi - lo <= leaf:
            return
        idx = order[lo:hi]
        axis = int(np.argmax(np.ptp(x[idx], axis=0)))
        half = ((hi - lo) // 2 + leaf - 1) // leaf * leaf  # a multiple of leaf: every run but the last is full
        order[lo:hi] = idx[np.argpartition(x[idx, axis], half - 1)] if half < hi - lo else idx
        split(lo, lo + half)
        split(lo + half, hi)

    split(0, len(x))
    return order


def winding_number(points: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Generalised winding number of the mesh at each point (N, 3) -> (N,): 1 inside, 0 outside (module docstring)."""
    tris = verts[faces][kd_order(verts[faces].mean(1), CLUSTER)]  # (F, 3, 3), spatially sorted
    f = len(tris)
    k = -(-f // CLUSTER)
    pad = np.repeat(tris[-1:, :1], k * CLUSTER - f, axis=0).repeat(3, axis=1)  # degenerate: solid angle 0
    clusters = np.concatenate([tris, pad]).reshape(k, CLUSTER, 3, 3)  # (K, S, 3, 3)
    cross = 0.5 * np.cross(clusters[:, :, 1] - clusters[:, :, 0], clusters[:, :, 2] - clusters[:, :, 0])
    area = np.linalg.norm(cross, axis=-1)  # (K, S)
    dipole = cross.sum(1)  # (K, 3): the cluster's area-weighted normal
    centre = (clusters.mean(2) * area[..., None]).sum(1) / np.maximum(area.sum(1), 1e-300)[:, None]  # (K, 3)
    radius = np.linalg.norm(clusters - centre[:, None, None], axis=-1).reshape(k, -1).max(1)  # (K,)
    out = np.empty(len(points))
    for lo in range(0, len(points), CHUNK):
        p = points[lo : lo + CHUNK]  # (n, 3)
        r = centre[None] - p[:, None]  # (n, K, 3)
        dist = np.linalg.norm(r, axis=-1)  # (n, K)
        near = dist < FAR * radius[None]
        far_part = np.where(near, 0.0, dot(r, dipole[None]) / np.maximum(dist, 1e-300) ** 3).sum(1)  # (n,)
        qi, ci = np.nonzero(near)  # (pairs,) each: exact over the near clusters' triangles
        exact = np.zeros(len(p))
        for s in range(0, len(qi), CHUNK):
            q, c = p[qi[s : s + CHUNK], None], clusters[ci[s : s + CHUNK]]  # (m, 1, 3), (m, S, 3, 3)
            angles = solid_angles(q, c[:, :, 0], c[:, :, 1], c[:, :, 2]).sum(1)  # (m,)
            exact += np.bincount(qi[s : s + CHUNK], weights=angles, minlength=len(p))
        out[lo : lo + CHUNK] = (far_part + exact) / (4 * np.pi)
    return out


def winding_number_exact(points: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The same by summing every triangle (N, 3) -> (N,): O(N F), the reference the fast one is tested against."""
    a, b, c = (verts[faces[:, i]][None] for i in range(3))  # (1, F, 3)
    return np.concatenate(
        [solid_angles(p[:, None], a, b, c).sum(1) for p in np.array_split(points, max(1, len(points) // 256))]
    ) / (4 * np.pi)
