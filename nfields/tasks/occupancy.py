"""task=occupancy: fit a shape's inside as a classifier, BCE on inside/outside labels (Occupancy Networks,
Mescheder et al. 2019; the near-surface and uniform samples of Convolutional Occupancy Networks, Peng et al. 2020).

The field's value is a logit: sigmoid(f) is the probability that the point is inside. The labels are the signs
of the near-surface pool's signed distances, the same signs task=sdf's DeepSDF loss trains on (data/shape.py:
points near the surface and as many uniform in the cube, a mesh's sign by generalised winding numbers); so a
point cloud, which has no inside, is refused. The surface is the 0.5 level, logit 0: marching cubes, the IoU and
the pictures read -f (ShapeTask.sign = -1), negative inside as a signed distance.

    loss = mean BCE(sigmoid(f(x)), [s(x) < 0]) over the step's labelled points x with signed distances s
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nfields.tasks.shape import FieldFn, ShapeBatch, ShapeTask


def inside_labels(sdf: torch.Tensor) -> torch.Tensor:
    """Signed distances (M,) -> occupancy labels (M,) float: 1 inside (s < 0), 0 outside or on the surface."""
    return (sdf < 0).float()


class Occupancy(ShapeTask):
    name = "occupancy"
    needs_distances = True  # the labels are the signs of the near pool's distances
    sign = -1.0  # a logit is high inside: -f is negative inside, as a signed distance
    distance = False  # a logit is no distance: pictures march along rays and bisect its sign change
    display_scale = 10.0  # logits: the panel's slices are palest at |f| >= 10
    uniform_share = 1.0  # as many uniform points as near ones: the labels must cover the whole cube, or the logit
    # is free far from the surface and grows insides there

    def loss(self, field_fn: FieldFn, batch: ShapeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if batch.near_sdf is None:
            raise ValueError("task=occupancy needs inside/outside labels (signed distances); this batch has none")
        logits = field_fn(batch.near)[..., 0].float()  # (M,)
        bce = F.binary_cross_entropy_with_logits(logits, inside_labels(batch.near_sdf.float()))
        return bce, {"bce": bce.detach()}
