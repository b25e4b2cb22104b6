"""What a shape task trains on and the interface it keeps: a ShapeBatch of points, and ShapeTask.loss.

Shapes are not grids (tasks/base.py's Task observes a grid signal): a shape is given as points on its surface with
their normals, points anywhere in the cube, and points near the surface with their signed distance when the shape
has an inside (a mesh, an analytic shape; not an oriented point cloud). Coordinates are in the cube (0, 1)^3 and
distances in its units; the field is f(x) -> (..., 1), negative inside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from nfields.core.checks import check_arg, integer

FieldFn = Callable[[torch.Tensor], torch.Tensor]  # coords (..., M, 3) -> values (..., M, 1)


@dataclass
class ShapeBatch:
    """One step's points: surface (B, 3) with unit outward normals (B, 3); free (B, 3) uniform in the cube; near
    (M, 3) around the surface with their signed distances near_sdf (M,), or None where the sign is unknown. A batch
    of S shapes (model=shape_set) has a leading axis on each: (S, B, 3), ..., (S, M)."""

    surface: torch.Tensor
    normals: torch.Tensor
    free: torch.Tensor
    near: torch.Tensor
    near_sdf: torch.Tensor | None = None


class ShapeTask:
    """A shape's objective and how its field's value reads as a surface.

    needs_distances  the loss reads near_sdf (a point cloud cannot give it)
    sign             the value times sign is negative inside and positive outside, its zero level the surface:
                     1 for a signed distance, -1 for an occupancy logit (high inside); marching cubes, the IoU's
                     inside and the panel read sign x value
    distance         the value is a distance (sphere tracing may step by it); False: a logit (ray marching)
    display_scale    the |sign x value| drawn palest in the panel's slices (a distance in cube units, or a logit)
    uniform_share    uniform points added to the near-surface pool, per near-surface point (data/shape.py)
    laplace          None: the near pool is DeepSDF's (Gaussian offsets, exact signed distances); (coarse, fine)
                     Laplace scales: it is BACON's (pairs of a coarse and a fine offset, distances estimated from
                     the surface samples: data/shape.py), drawn pair by pair (lit/shape.py)
    option           how messages name the objective (task.loss=deepsdf, task=occupancy)
    """

    name = "shape"
    needs_distances = False
    sign = 1.0
    distance = True
    display_scale = 0.5
    uniform_share = 0.1
    laplace: tuple[float, float] | None = None

    @property
    def option(self) -> str:
        return f"task={self.name}"

    def __init__(self, seed: int = 0) -> None:
        check_arg("task.seed", seed, integer(lo=0, hi=2**32 - 1))
        self.seed = seed

    def loss(self, field_fn: FieldFn, batch: ShapeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss () and its weighted terms by name (each (), detached), which sum to it."""
        raise NotImplementedError
