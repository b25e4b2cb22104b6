"""Scores of a reconstructed surface against the ground truth (Occupancy Networks' conventions, Mescheder et al.
2019, and the F-score of Tatarchenko et al. 2019), on point samples of both surfaces.

Normalisation: every distance is divided by the ground truth's longest bounding-box side (`unit`), so a shape
spans 1 whatever its file's units; tau (F-score) is in those units too (0.01: 1 % of the shape's size).

  chamfer_l1          (mean |p - NN_gt(p)| over p on the prediction + mean |q - NN_pred(q)| over q on the truth) / 2
  chamfer_l2          the same with squared distances
  normal_consistency  the mean of |n_p . n_NN(p)| over both directions, / 2 (orientation-free, in [0, 1])
  fscore              2 P R / (P + R): P the fraction of predicted points within tau of the truth, R the converse
  iou                 |pred inside & truth inside| / |pred inside | truth inside| on a grid's cells
"""

from __future__ import annotations

import numpy as np

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
