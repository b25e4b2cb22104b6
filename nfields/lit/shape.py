"""ShapeModule: fits one shape's signed distance or occupancy field (model=shape, data=shape, task=sdf|occupancy).

Each step draws its points on the device from pools the datamodule sampled once (surface points with normals,
points near the surface with their signed distances) plus fresh uniform points (lit/samples.py does the same
for grids: no DataLoader of points). Evaluation extracts the zero level set by marching cubes on a data.size^3
grid slab by slab (core/sdf_mesh.py) and scores it against the ground truth (core/shape_metrics.py); the panel
shows the field's surface, shaded from `model.views` fixed views by tracing the field itself (fields/trace.py),
above its middle slices, beside the ground truth traced and sliced the same way (data/shape_views.py); the mesh is
written in the input's units.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nfields.core.checks import POSITIVE, POSITIVE_INT, boolean, check_arg, nullable
from nfields.core.errors import ConfigError
from nfields.core.mesh_io import write_obj, write_ply
from nfields.core.sdf_mesh import mid_planes, sdf_picture, torch_fn
from nfields.core.shape_metrics import score_surface
from nfields.core.views import column, strip
from nfields.data.shape import PANEL, ShapeDataModule
from nfields.data.shape_views import orbit_up, true_views
from nfields.fields.base import Field
from nfields.fields.trace import render_views
from nfields.lit.base import Optimizer
from nfields.lit.stepped import SteppedModule
from nfields.tasks.shape import ShapeBatch, ShapeTask


class ShapeModule(SteppedModule):
    """model=shape: one field fitted to one shape's signed distance (data=shape)."""

    data_type = ShapeDataModule
    data_kind = "one shape (data=shape)"

    def __init__(
        self,
        field: Field,
        task: ShapeTask,
        data: ShapeDataModule,
        optimizer: Optimizer,
        lr: float = 1e-4,
        render_chunk: int = 65536,
        views: int = 3,
        view_size: int = 96,
        steps_per_call: int | str = "auto",
        grad_clip: float | None = None,
        amsgrad: bool = False,
        **base: Any,  # BaseModule's: scheduler, compile, latent_dim, run_config
    ) -> None:
        check_arg("model.grad_clip", grad_clip, nullable(POSITIVE))
        check_arg("model.amsgrad", amsgrad, boolean())
        if amsgrad and getattr(optimizer, "func", None) not in (torch.optim.Adam, torch.optim.AdamW):
            name = getattr(getattr(optimizer, "func", optimizer), "__name__", optimizer)
            raise ConfigError("model.amsgrad", amsgrad, f"is Adam's (and AdamW's) option; model.optimizer is {name}")
        if amsgrad:  # Adam's max of past squared gradients (FINER's training loop): one more keyword of the partial
            optimizer = functools.partial(optimizer, amsgrad=True)
        super().__init__(field, task, optimizer, lr, steps_per_call=steps_per_call, **base)
        self.grad_clip = grad_clip
        check_arg("model.render_chunk", render_chunk, POSITIVE_INT)
        check_arg("model.views", views, POSITIVE_INT)
        check_arg("model.view_size", view_size, POSITIVE_INT)
        self.views, self.view_size = orbit_up(views, data.up), view_size  # data.up: up in the pictures
        self.pred_views: torch.Tensor | None = None  # (S, V S + gaps, 3): the last evaluation's shaded views
        self.gt_views: torch.Tensor | None = None  # the truth's, traced once
        self.render_chunk, self.data = render_chunk, data
        data.setup()

        def buffer(name: str, x: np.ndarray | None) -> None:  # pools on the device, not in checkpoints
            self.register_buffer(name, None if x is None else torch.from_numpy(x).float(), persistent=False)

        buffer("surface", data.surface)  # (P, 3)
        buffer("normals", data.normals)  # (P, 3)
        buffer("near", data.near)  # (M, 3)
        buffer("near_sdf", data.near_sdf)  # (M,) or None
        self.generator: torch.Generator | None = None
        self.mesh: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64))
        self.pred_slices = np.zeros((3, PANEL, PANEL), np.float32)
        self.terms: dict[str, torch.Tensor] = {}

    # ---- training -------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        seed = torch.initial_seed() + 7919 * self.global_rank  # each rank its own points (DDP)
        self.generator = torch.Generator(device=self.surface.device).manual_seed(seed)

    def sample(self, generator: torch.Generator | None = None) -> ShapeBatch:
        """This step's points: data.batch_size surface points, as many uniform ones, and as many near ones (BACON's
        objective: as many pairs of a coarse and a fine one, in turn)."""
        g, b, dev = generator if generator is not None else self.generator, self.data.batch_size, self.surface.device
        i = torch.randint(0, self.surface.shape[0], (b,), device=dev, generator=g)
        m = self.near.shape[0]
        if self.task.laplace is None:
            j = torch.randint(0, max(m, 1), (b if m else 0,), device=dev, generator=g)  # data.near=0: none
        else:  # BACON's pairs (data/shape.py): a coarse point at each even position, a fine one at each odd
            j = 2 * torch.randint(0, m // 2, (b,), device=dev, generator=g) + torch.arange(b, device=dev) % 2
        free = torch.rand(b, 3, device=dev, generator=g)
        sdf = None if self.near_sdf is None else self.near_sdf[j]
        return ShapeBatch(self.surface[i], self.normals[i], free, self.near[j], sdf)

    def loss(self) -> torch.Tensor:
        loss, self.terms = self.task.loss(self.field, self.sample())
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """model.grad_clip: the field's gradients scaled so that their global norm is at most the bound (SIREN's and
        FINER's max_norm 1, DeepSDF's GradientClipNorm: the network's, not the codes'). Lightning calls this after
        the backward and, under 16-bit mixed precision, after unscaling the gradients, right before the step."""
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.field.parameters(), self.grad_clip)

    def training_metrics(self, loss: torch.Tensor) -> dict[str, float]:
        """train/loss, each weighted term (train/sdf, train/eikonal, ...) and train/lr."""
        return {
            "train/loss": float(loss),
            **{f"train/{k}": float(v) for k, v in self.terms.items()},
            "train/lr": self.current_lr(),
        }

    def probe(self, device: torch.device) -> tuple[torch.nn.Module, Callable[[torch.nn.Module], None]]:
        g = torch.Generator(device=self.surface.device).manual_seed(0)  # its own: the run's stream is untouched
        batch = self.sample(g)
        moved = ShapeBatch(*(None if t is None else t.to(device) for t in vars(batch).values()))

        def backward(field: torch.nn.Module) -> None:
            self.task.loss(field, moved)[0].backward()

        return self.field, backward

    # ---- evaluation -----------------------------------------------------------------------
    def signed_field(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """The field's value at points (M, 3) -> (M, 1), read as a signed distance would be: negative inside, the
        surface at 0 (a distance as it is; an occupancy logit negated: ShapeTask.sign); a conditional field's at
        one `code` (code_dim,) (model=shape_set)."""
        y = self.field(x) if code is None else self.field(x, code[None])[0]
        return y if self.task.sign == 1 else self.task.sign * y

    def sdf_fn(self, code: torch.Tensor | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """signed_field on host points, chunk by chunk on the device (core/sdf_mesh.py's torch_fn)."""
        return torch_fn(lambda x: self.signed_field(x, code), self.device, self.render_chunk)

    def evaluate(self, stage: str) -> dict[str, float]:
        """Extract the surface at data.size^3 and score it (core/shape_metrics.py); keep the mesh and slices."""
        data, fn = self.data, self.sdf_fn()
        metrics, self.mesh = score_surface(
            fn, data.size, data.gt_points, data.gt_normals, data.shape.longest_side(), data.gt_inside
        )
        self.pred_slices = fn(mid_planes(PANEL).reshape(-1, 3)).reshape(3, PANEL, PANEL)
        self.pred_views = self.shaded_views()
        self.log_scores(stage, metrics)
        return metrics

    def shaded_views(self, size: int | None = None) -> torch.Tensor:
        """The field's surface from the fixed views, traced on the device -> (S, V S + gaps, 3) in [0, 1]."""
        return strip(list(self.trace(lambda x: self.signed_field(x)[..., 0], self.views, size or self.view_size)))

    def trace(self, value: Callable[[torch.Tensor], torch.Tensor], views: Any, size: int) -> torch.Tensor:
        """A signed value (N, 3) -> (N,) (negative inside) traced from `views` on the device (fields/trace.py) ->
        (V, size, size, 3) in [0, 1], shaded by the surface's normals."""
        chunk = max(1, min(self.render_chunk, 16384))  # rays a pass: the tracer keeps a few values per ray
        return render_views(value, views, size, distance=self.task.distance, chunk=chunk, device=self.device)

    def panel_images(self) -> dict[str, torch.Tensor]:
        """Above: the predicted and the true surface, shaded from the fixed views; below: their middle slices
        (x, y, z = 0.5) of the signed distance (an occupancy: of -logit)."""
        if self.gt_views is None:
            self.gt_views = strip(list(true_views(self.data.shape, self.views, self.view_size)))
        pred = sdf_picture(self.pred_slices, self.task.display_scale)
        if self.pred_views is not None:
            pred = column(self.pred_views, pred)
        return {"prediction": pred, "ground truth": column(self.gt_views, sdf_picture(self.data.gt_slices))}

    def panel_captions(self) -> dict[str, str]:
        stage = "test" if self.trainer.testing else "val"
        chamfer = self.trainer.callback_metrics.get(f"{stage}/chamfer_l1")
        return {} if chamfer is None else {"prediction": f"Chamfer-L1 {float(chamfer):.4f}"}

    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        n = max(8, min(PANEL, max_size // 3))
        return sdf_picture(self.sdf_fn()(mid_planes(n).reshape(-1, 3)).reshape(3, n, n), self.task.display_scale)

    def write_media(self, stem: Path) -> Path | None:
        """The last evaluation's surface in the input's units: prediction.ply, and prediction.obj (returned: W&B's
        Object3D takes OBJ); None when the field has no zero level yet."""
        verts, faces = self.mesh
        if not len(faces):
            return None
        verts = self.mesh_units(verts)
        write_ply(stem.with_suffix(".ply"), verts, faces)
        return write_obj(stem.with_suffix(".obj"), verts, faces)

    def mesh_units(self, verts: np.ndarray) -> np.ndarray:
        """Vertices (V, 3) in the cube -> in the units the mesh is written in: the input's."""
        return self.data.norm.to_input(verts.astype(np.float64)).astype(np.float32)

    def surface_extra(self, domain: str) -> dict[str, Any]:
        """The checkpoint keys of every shape module: the (n, n, n, 1) evaluation grid (its in_dim 3 and out_dim 1),
        the domain, and how the value reads as a surface (ShapeTask.sign and .distance) and which way is up."""
        n = self.data.size
        return {
            "nfields_image_shape": [n, n, n, 1],
            "nfields_domain": domain,
            "nfields_shape_sign": self.task.sign,
            "nfields_shape_distance": self.task.distance,
            "nfields_shape_up": self.data.up,
        }

    def checkpoint_extra(self) -> dict[str, Any]:
        """What scripts/render.py needs without the data (surface_extra) and the transform from the cube back to
        the input's units (a signed distance, or an occupancy logit)."""
        norm = self.data.norm
        return {
            **self.surface_extra("shape"),
            "nfields_shape_centre": list(norm.centre),
            "nfields_shape_scale": norm.scale,
        }
