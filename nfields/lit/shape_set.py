"""ShapeSetModule: one conditional field for a set of shapes, an auto-decoder (model=shape_set, data=shape_set).

DeepSDF (Park et al. 2019): each training shape has a code (fields/latents/autodecoder.py: drawn from
N(0, model.code_std^2), trained at model.latent_lr with the L2 prior model.code_reg x ||z||^2); the field f(x, z)
is conditioned on it (cond=concat|film|hypernet). A step draws `data.shapes_per_batch` training shapes and
`data.batch_size` points of each from their pools (as model=shape draws one shape's: lit/shape.py) and trains on the
task's objective (task=sdf: task.loss, or task=occupancy) over the batch of shapes, plus the codes' prior.

Completion: a val or test shape is never trained on. Its code is fitted from zero (the prior's mean) to its
partial observation (data/shape_set.py: a depth-scan-like half of its surface) by test-time optimisation, the
network and the trained codes frozen (`model.tto_steps`, `model.val_tto_steps` at each validation; Adam at
model.tto_lr, `data.batch_size` observed points a shape a step, the same task loss and prior); the completed surface
is extracted and scored on the WHOLE shape (Chamfer, F-score, normal consistency, IoU: core/shape_metrics.py's
score_surface). Beside it, the mean shape: the field at the mean of the trained codes, scored against the same
shapes (`<stage>/<metric>_mean_shape`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from nfields.core.checks import POSITIVE, POSITIVE_INT, check_arg, integer
from nfields.core.errors import ConfigError
from nfields.core.sdf_mesh import mid_planes, sdf_picture
from nfields.core.shape_metrics import extract, score_mesh, score_surface
from nfields.core.views import strip
from nfields.data.shape_set import Partial, ShapeSetDataModule
from nfields.data.shape_views import true_views
from nfields.fields.base import Field
from nfields.fields.field import conditioned
from nfields.fields.latents.autodecoder import AutoDecoder
from nfields.lit.shape import ShapeModule
from nfields.lit.tto import frozen
from nfields.tasks.shape import ShapeBatch, ShapeTask

# The largest step a ray takes in the shaded views (cube units): task.loss=deepsdf trains distances only up to its
# clamp (0.1), and beyond it a value can be far larger than the distance, so a full step would jump past thin parts.
MAX_STEP = 0.05


def draw(
    surface: torch.Tensor,
    normals: torch.Tensor,
    near: torch.Tensor,
    near_sdf: torch.Tensor,
    shapes: torch.Tensor,
    b: int,
    g: torch.Generator,
) -> ShapeBatch:
    """`b` points of each of `shapes` (S,) from the pools (N, P, 3) / (N, M, 3) / (N, M): surface points with their
    normals, as many uniform in the cube and as many near ones with their distances, each (S, b, ...)."""
    dev, rows = surface.device, shapes[:, None]  # (S, 1)
    i = torch.randint(0, surface.shape[1], (len(shapes), b), device=dev, generator=g)  # (S, b)
    j = torch.randint(0, near.shape[1], (len(shapes), b), device=dev, generator=g)
    free = torch.rand(len(shapes), b, 3, device=dev, generator=g)
    return ShapeBatch(surface[rows, i], normals[rows, i], free, near[rows, j], near_sdf[rows, j])


class ShapeSetModule(ShapeModule):
    """model=shape_set: one conditional field and a code per training shape (module docstring)."""

    data_type = ShapeSetDataModule
    data_kind = "a set of shapes (data=shape_set)"
    own_code = False  # codes come from the auto-decoder, one per training shape

    def __init__(
        self,
        field: Field,
        task: ShapeTask,
        data: ShapeSetDataModule,
        lr: float = 1e-4,
        latent_dim: int | None = 64,
        latent_lr: float = 1e-3,
        code_reg: float = 1e-4,
        code_std: float = 0.01,
        tto_steps: int = 300,
        val_tto_steps: int = 100,
        tto_lr: float = 5e-3,
        n_grid: int = 4,
        views: int = 1,
        view_size: int = 64,
        **base: Any,  # ShapeModule's: optimizer, render_chunk, steps_per_call, grad_clip, amsgrad, and BaseModule's
    ) -> None:
        if field.cond is None:
            raise ConfigError(
                "cond", "none", "model=shape_set gives each shape a code: use cond=concat, film or hypernet"
            )
        data.setup()
        super().__init__(field, task, data, lr=lr, latent_dim=latent_dim, views=views, view_size=view_size, **base)
        for key, val in (("tto_steps", tto_steps), ("val_tto_steps", val_tto_steps)):
            check_arg(f"model.{key}", val, integer(lo=0))
        check_arg("model.tto_lr", tto_lr, POSITIVE)
        check_arg("model.code_std", code_std, POSITIVE)
        check_arg("model.n_grid", n_grid, POSITIVE_INT)
        self.source = AutoDecoder(field.code_dim, data.n_train, 1, lr=latent_lr, reg_weight=code_reg, init_std=code_std)
        self.tto_steps, self.val_tto_steps, self.tto_lr, self.n_grid = tto_steps, val_tto_steps, tto_lr, n_grid
        self.panel: dict[str, torch.Tensor] = {}  # the last evaluation's shaded views
        self.truth: dict[str, torch.Tensor] = {}  # each held-out split's true views, traced once

    # ---- training -------------------------------------------------------------------------
    def sample_shapes(self, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ShapeBatch]:
        """This step's shapes (S,) (distinct training indices) and their points: data.batch_size surface points
        (S, B, 3) with normals, as many uniform (S, B, 3) and as many near ones (S, B, 3) with distances (S, B)."""
        g = generator if generator is not None else self.generator
        s = torch.randperm(self.surface.shape[0], device=self.surface.device, generator=g)[: self.data.shapes_per_batch]
        pools = (self.surface, self.normals, self.near, self.near_sdf)
        return s, draw(*pools, s, self.data.batch_size, g)

    def loss(self) -> torch.Tensor:
        index, batch = self.sample_shapes()
        codes = self.source(index, batch.surface)  # (S, code_dim)
        loss, terms = self.task.loss(conditioned(self.field, codes), batch)
        reg = self.source.regularization(codes)  # DeepSDF's prior on the codes
        self.terms = {**terms, "code_reg": reg.detach()}
        return loss + reg

    def param_groups(self) -> list[dict[str, Any]]:
        return [*super().param_groups(), {"params": list(self.source.parameters()), "lr": self.source.lr}]

    def probe(self, device: torch.device) -> tuple[torch.nn.Module, Callable[[torch.nn.Module], None]]:
        index, batch = self.sample_shapes(torch.Generator(device=self.surface.device).manual_seed(0))
        moved = ShapeBatch(*(t.to(device) for t in vars(batch).values()))
        codes = self.source(index, batch.surface).detach().to(device)

        def backward(field: torch.nn.Module) -> None:
            self.task.loss(conditioned(field, codes), moved)[0].backward()

        return self.field, backward

    # ---- completion ---------------------------------------------------------------------------
    def complete(self, partial: Partial, steps: int, seed: int = 0) -> torch.Tensor:
        """Codes (B, code_dim) of B unseen shapes fitted from zero to their partial observations, the field and the
        trained codes frozen: only the new codes move."""
        dev, b = self.surface.device, self.data.batch_size
        g = torch.Generator(device=dev).manual_seed(seed)  # the same draws at every evaluation
        with torch.inference_mode(False), torch.enable_grad(), frozen(self.field), frozen(self.source):
            # made here: tensors made under Lightning's inference mode could not be saved for backward
            obs = {k: torch.from_numpy(np.asarray(v)).float().to(dev) for k, v in vars(partial).items()}
            shapes = torch.arange(obs["surface"].shape[0], device=dev)  # (B,): every held-out shape, every step
            codes = self.source.init_codes(obs["surface"]).detach().clone().requires_grad_(True)  # (B, code_dim)
            opt = torch.optim.Adam([codes], lr=self.tto_lr)
            for _ in range(steps):
                batch = draw(obs["surface"], obs["normals"], obs["near"], obs["near_sdf"], shapes, b, g)
                loss = self.task.loss(conditioned(self.field, codes), batch)[0] + self.source.regularization(codes)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return codes.detach()

    def evaluate(self, stage: str) -> dict[str, float]:
        """Complete each held-out shape of `stage` from its partial observation, score it on the whole shape, and
        the mean shape beside it; keep the first shapes' shaded views and the first completed mesh."""
        held, data = self.data.held[stage], self.data
        if not len(held.index):
            return {}
        codes = self.complete(held.partial, self.tto_steps if stage == "test" else self.val_tto_steps)
        mean = self.source.codes.weight.detach().mean(0)  # (code_dim,): the mean shape's code
        # the mean shape is one surface: extracted once, scored against each held-out shape
        mean_mesh, mean_inside = extract(self.sdf_fn(mean), data.size, True)
        scores: dict[str, list[float]] = {}
        for k in range(len(held.index)):
            truth = (held.gt_points[k], held.gt_normals[k], float(held.units[k]), held.gt_inside[k])
            done, mesh = score_surface(self.sdf_fn(codes[k]), data.size, *truth)
            self.mesh = mesh if k == 0 else self.mesh
            base = score_mesh(mean_mesh, mean_inside, *truth)
            for name, value in [*done.items(), *((f"{m}_mean_shape", v) for m, v in base.items())]:
                scores.setdefault(name, []).append(value)
        metrics = {name: float(np.mean(values)) for name, values in scores.items()}
        self.log_scores(stage, metrics)
        shown = min(self.n_grid, len(held.index))
        self.panel = {
            "prediction": self.views_of([codes[k] for k in range(shown)]),
            "mean shape": self.views_of([mean]),
        }
        if stage not in self.truth:
            self.truth[stage] = strip(
                [true_views(data.shapes[i], self.views[:1], self.view_size)[0] for i in held.index[:shown]]
            )
        self.panel["ground truth"] = self.truth[stage]
        return metrics

    def views_of(self, codes: list[torch.Tensor]) -> torch.Tensor:
        """Each code's shape from the first fixed view, traced from the field, side by side -> (S, n S + gaps, 3)."""
        with torch.inference_mode(False):  # the tracer's normals take autograd: no code made under inference mode
            codes = [c.clone() for c in codes]
        imgs = []
        for c in codes:
            value = lambda x, c=c: self.signed_field(x, c)[..., 0].clamp(-MAX_STEP, MAX_STEP)  # noqa: E731  (N, 3) -> (N,)
            imgs.append(self.trace(value, self.views[:1], self.view_size)[0])  # (S, S, 3)
        return strip(imgs)

    def panel_images(self) -> dict[str, torch.Tensor]:
        """Completed held-out shapes, the mean shape, and the held-out shapes' truth, each from the first view."""
        return dict(self.panel)

    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        """The middle slice z = 0.5 of the first training shapes' signed distances, side by side."""
        n, k = max(8, min(64, max_size // self.n_grid)), min(self.n_grid, self.data.n_train)
        points = mid_planes(n)[2].reshape(-1, 3)
        codes = self.source.codes.weight.detach()
        values = [self.sdf_fn(codes[i])(points) for i in range(k)]
        return sdf_picture(np.stack(values).reshape(k, n, n), self.task.display_scale)

    def mesh_units(self, verts: np.ndarray) -> np.ndarray:
        """prediction.ply and .obj (the first test shape's completed surface) are in the cube's units: each shape of
        the set was normalised on its own."""
        return verts

    def checkpoint_extra(self) -> dict[str, Any]:
        """What scripts/render.py needs without the data (surface_extra) and the training shapes' names in code order
        (codes are the state_dict's source.codes.weight, one row per training shape)."""
        data = self.data
        return {
            **self.surface_extra("shape_set"),
            "nfields_shape_names": [data.shapes[i].name for i in data.splits["train"]],
        }
