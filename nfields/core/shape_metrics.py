"""Scores of a reconstructed surface against the ground truth (Occupancy Networks' conventions, Mescheder et al.
2019, and the F-score of Tatarchenko et al. 2019), on point samples of both surfaces.

Normalisation: every distance is divided by the ground truth's longest bounding-box side (`unit`), so a shape
spans 1 whatever its file's units; tau (F-score) is in those units too (0.01: 1 % of the shape's size).

  chamfer_l1          (mean |p - NN_gt(p)| over p on the prediction + mean |q - NN_pred(q)| over q on the truth) / 2
  chamfer_l2          the same with squared distances
  normal_consistency  the mean of |n_p . n_NN(p)| over both directions, / 2 (orientation-free, in [0, 1])
  fscore              2 P R / (P + R): P the fraction of predicted points within tau of the truth, R the converse
  iou                 |pred inside & truth inside| / |pred inside | truth inside| on a grid's cells

A field's surface is scored by `score_surface`: its zero level extracted by marching cubes on an n^3 grid
(core/sdf_mesh.py), sampled, and scored as above.
"""

from __future__ import annotations

import numpy as np

from nfields.core.geometry import face_areas_normals, sample_surface
from nfields.core.sdf_mesh import SdfFn, extract_surface

TAU = 0.01  # F-score threshold, in units of the shape's longest side


def surface_scores(
    pred: np.ndarray, pred_normals: np.ndarray, gt: np.ndarray, gt_normals: np.ndarray, unit: float, tau: float = TAU
) -> dict[str, float]:
    """Points (N, 3) with unit normals (N, 3) on the prediction and (M, 3), (M, 3) on the truth -> the scores above.
    No predicted point (no surface yet): every distance score is NaN, the F-score 0."""
    if len(pred) == 0:
        nan = float("nan")
        return {"chamfer_l1": nan, "chamfer_l2": nan, "normal_consistency": nan, "fscore": 0.0}
    from scipy.spatial import cKDTree  # imported when used (every run imports this module)

    to_gt, i_gt = cKDTree(gt).query(pred)  # (N,): each predicted point's nearest true point
    to_pred, i_pred = cKDTree(pred).query(gt)  # (M,)
    to_gt, to_pred = to_gt / unit, to_pred / unit
    nc_pred = np.abs(np.einsum("ij,ij->i", pred_normals, gt_normals[i_gt])).mean()
    nc_gt = np.abs(np.einsum("ij,ij->i", gt_normals, pred_normals[i_pred])).mean()
    precision, recall = float((to_gt < tau).mean()), float((to_pred < tau).mean())
    return {
        "chamfer_l1": float((to_gt.mean() + to_pred.mean()) / 2),
        "chamfer_l2": float(((to_gt**2).mean() + (to_pred**2).mean()) / 2),
        "normal_consistency": float((nc_pred + nc_gt) / 2),
        "fscore": 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall),
    }


def iou(pred_inside: np.ndarray, gt_inside: np.ndarray) -> float:
    """Intersection over union of two boolean occupancies of the same cells (1 when both are empty)."""
    union = np.logical_or(pred_inside, gt_inside).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred_inside, gt_inside).sum() / union)


SLAB = 8  # planes of the grid evaluated at a time when extracting or scoring the inside


Mesh = tuple[np.ndarray, np.ndarray]  # vertices (V, 3), faces (F, 3)


def extract(fn: SdfFn, n: int, inside: bool) -> tuple[Mesh, np.ndarray | None]:
    """The zero level of `fn` on an n^3 grid -> (its mesh, and if `inside` the grid's inside cells (n, n, n), (z, y, x):
    IoU's cells), in one pass over the grid."""
    cells = np.zeros((n, n, n), bool) if inside else None
    return extract_surface(fn, n, slab=SLAB, inside=cells), cells


def score_mesh(
    mesh: Mesh,
    inside: np.ndarray | None,
    gt_points: np.ndarray,
    gt_normals: np.ndarray,
    unit: float,
    gt_inside: np.ndarray | None = None,
) -> dict[str, float]:
    """An extracted surface (`extract`) scored against the truth's surface samples (E, 3) with normals (E, 3) and,
    if given, its inside (n, n, n) (surface_scores, iou)."""
    verts, faces = mesh
    rng = np.random.default_rng(0)  # the same predicted samples for the same mesh
    if len(faces) and face_areas_normals(verts.astype(np.float64), faces)[0].sum() > 0:
        pts, normals = sample_surface(verts.astype(np.float64), faces, len(gt_points), rng)
    else:
        pts, normals = np.zeros((0, 3)), np.zeros((0, 3))
    metrics = surface_scores(pts, normals, gt_points, gt_normals, unit)
    if gt_inside is not None:
        metrics["iou"] = iou(inside, gt_inside)
    return metrics


def score_surface(
    fn: SdfFn,
    n: int,
    gt_points: np.ndarray,
    gt_normals: np.ndarray,
    unit: float,
    gt_inside: np.ndarray | None = None,
) -> tuple[dict[str, float], Mesh]:
    """The zero level of `fn` on an n^3 grid, scored against the truth (score_mesh) -> (the metrics, the mesh)."""
    mesh, inside = extract(fn, n, gt_inside is not None)
    return score_mesh(mesh, inside, gt_points, gt_normals, unit, gt_inside), mesh
