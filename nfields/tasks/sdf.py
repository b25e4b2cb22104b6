"""task=sdf: fit a shape's signed distance field, with the objective of SIREN, IGR, DeepSDF or BACON (`task.loss`).

  siren    Sitzmann et al. 2020, vsitzmann/siren loss_functions.py `sdf`: over one batch of surface and free points
           (every mean over the whole batch, a term being 0 on the points it does not apply to, as there):
           |f| on the surface x 3e3, exp(-100 |f|) off it x 1e2, 1 - cos(grad f, n) on the surface x 1e2,
           | |grad f| - 1 | everywhere x 5e1.
  igr      Gropp et al. 2020, amosgropp/IGR code/reconstruction/run.py: mean |f| on the surface, + 0.1 x the eikonal
           term mean (|grad f| - 1)^2 on off-surface points (near the surface and uniform, as IGR's sampler mixes
           local and global samples), + 1 x mean |grad f - n| (the L2 norm of the difference) on the surface.
  deepsdf  Park et al. 2019, facebookresearch/DeepSDF train_deep_sdf.py: mean |clamp(f, -d, d) - clamp(s, -d, d)|
           over points near the surface with their signed distances s, d = task.clamp (0.1).
  bacon    Lindell et al. 2022, BACON's loss_functions.py `overfit_sdf`, which FINER's SDF experiments train with
           (liuzhen0212/FINER sdf/bacon): the sum of squared errors (f - s)^2 over the step's points, the coarse
           ones' x task.coarse_weight (1e-2). Its points come in pairs (data/shape.py): a surface sample moved by a
           Laplace offset of scale task.laplace[0] (0.1, coarse) then one of task.laplace[1] (0.001, fine), at
           even and odd positions as BACON's batches; s is estimated from the surface samples as BACON's MeshSDF
           does, (x - p1) . mean(n1, n2, n3) over the 3 nearest samples, not an exact distance.

Gradients with respect to the input: torch.autograd.grad with create_graph (fields/gradients.py).
Units: the field's coordinates are the cube (0, 1)^3, so distances are half of those in SIREN's [-1, 1]; the
formulas are applied as written, on these units.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nfields.core.checks import POSITIVE, Check, check_arg, one_of
from nfields.fields.gradients import value_and_input_gradient
from nfields.tasks.shape import FieldFn, ShapeBatch, ShapeTask

LOSSES = ("siren", "igr", "deepsdf", "bacon")
SCALES = Check(
    lambda v: isinstance(v, list | tuple) and len(v) == 2 and all(POSITIVE.ok(s) for s in v), "two numbers > 0"
)


def value_and_gradient(field_fn: FieldFn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f(x) (N,) in fp32 and its input gradient (N, 3), kept in the graph: a loss on it trains the field through a
    double backward (fields/gradients.py)."""
    f, g = value_and_input_gradient(field_fn, x)  # (N, 1), (N, 3)
    return f[..., 0].float(), g


class SDF(ShapeTask):
    name = "sdf"

    def __init__(
        self,
        loss: str = "siren",
        clamp: float = 0.1,
        coarse_weight: float = 1e-2,
        laplace: tuple[float, float] = (0.1, 0.001),
        seed: int = 0,
    ) -> None:
        check_arg("task.loss", loss, one_of(*LOSSES))
        check_arg("task.clamp", clamp, POSITIVE)
        check_arg("task.coarse_weight", coarse_weight, POSITIVE)
        check_arg("task.laplace", list(laplace) if not isinstance(laplace, str) else laplace, SCALES)
        super().__init__(seed)
        self.kind, self.clamp, self.coarse_weight = loss, clamp, coarse_weight
        self.needs_distances = loss == "deepsdf"
        self.laplace = (float(laplace[0]), float(laplace[1])) if loss == "bacon" else None
        self.uniform_share = 0.0 if loss == "bacon" else self.uniform_share  # BACON's points are all near ones

    @property
    def option(self) -> str:
        return f"task.loss={self.kind}"

    def loss(self, field_fn: FieldFn, batch: ShapeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = {"siren": self.siren, "igr": self.igr, "deepsdf": self.deepsdf, "bacon": self.bacon}[self.kind](
            field_fn, batch
        )
        return sum(terms.values()), {k: v.detach() for k, v in terms.items()}

    @staticmethod
    def siren(field_fn: FieldFn, batch: ShapeBatch) -> dict[str, torch.Tensor]:
        b = batch.surface.shape[-2]
        f, g = value_and_gradient(field_fn, torch.cat([batch.surface, batch.free], -2))  # (..., N), (..., N, 3)
        n = f.numel()  # each term's mean is over all N points (zeros where it does not apply), as SIREN's
        cos = F.cosine_similarity(g[..., :b, :], batch.normals.to(g.dtype), dim=-1)  # (..., B)
        return {
            "sdf": f[..., :b].abs().sum() / n * 3e3,
            "inter": torch.exp(-1e2 * f[..., b:].abs()).sum() / n * 1e2,
            "normal": (1 - cos).sum() / n * 1e2,
            "eikonal": (g.norm(dim=-1) - 1).abs().mean() * 5e1,
        }

    @staticmethod
    def igr(field_fn: FieldFn, batch: ShapeBatch) -> dict[str, torch.Tensor]:
        f_on, g_on = value_and_gradient(field_fn, batch.surface)  # (..., B), (..., B, 3)
        _, g_off = value_and_gradient(field_fn, torch.cat([batch.near, batch.free], -2))  # (..., M + B', 3)
        return {
            "sdf": f_on.abs().mean(),
            "eikonal": 0.1 * ((g_off.norm(dim=-1) - 1) ** 2).mean(),
            "normal": 1.0 * (g_on - batch.normals.to(g_on.dtype)).norm(dim=-1).mean(),
        }

    def deepsdf(self, field_fn: FieldFn, batch: ShapeBatch) -> dict[str, torch.Tensor]:
        if batch.near_sdf is None:
            raise ValueError("task.loss=deepsdf needs signed distances near the surface; this batch has none")
        f = field_fn(batch.near)[..., 0].float()  # (..., M)
        d = self.clamp
        return {"sdf": (f.clamp(-d, d) - batch.near_sdf.float().clamp(-d, d)).abs().mean()}

    def bacon(self, field_fn: FieldFn, batch: ShapeBatch) -> dict[str, torch.Tensor]:
        if batch.near_sdf is None:
            raise ValueError("task.loss=bacon needs its estimated distances near the surface; this batch has none")
        f = field_fn(batch.near)[..., 0].float()  # (..., M)
        se = (f - batch.near_sdf.float()) ** 2  # (..., M): even positions coarse, odd fine (the pool's pairs)
        return {"sdf_fine": se[..., 1::2].sum(), "sdf_coarse": self.coarse_weight * se[..., ::2].sum()}
