"""LearnitModule: a meta-learned initialisation of one field's weights (model=learnit; Tancik et al. 2021,
"Learned initializations for optimizing coordinate-based neural representations").

The module holds one field, the one model=single would build, and trains its weights theta on a collection so
that a few plain SGD steps from theta fit an unseen signal:

    maml      theta_b = theta after k = model.inner_steps steps of SGD (model.inner_lr) on signal b's loss;
              the outer loss is the mean of the signals' losses at theta_b, backpropagated through the inner
              steps (second order; model.first_order=true: each inner gradient taken as a constant)
              model.step_sizes=per_layer|per_param: the inner SGD's rates are learned too (meta-SGD), one per
              weight tensor or one per weight, starting at model.inner_lr, used clamped at 0, trained by the
              outer optimiser with theta, saved in the checkpoint and used to fit unseen signals (test SGD);
              per_layer_step (MAML++'s LSLR): one per weight tensor and inner step, test SGD's step s taking
              inner step s's rates and every step after inner_steps the last one's
    reptile   the same inner steps, no graph; the outer gradient is theta - mean_b theta_b (Adam, as learnit)

The inner steps run on every signal of the batch at once (torch.func: grad, vmap; fields/adapt.py), on the
task's own loss. Unseen signals (validation, test) are fitted from theta and, for comparison, from the
field's standard initialisation (its weights as built, before any training) by the same test-time optimiser
(model.test_optimizer at model.test_lr); `<stage>/psnr_meta_step<s>` and `test/psnr_std_step<s>` are the mean
PSNR after s steps. The trained theta is the field's state dict, which model=single loads by model.init_from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from nfields.core.checks import POSITIVE, Check, boolean, check_arg, integer, is_int, nullable, one_of
from nfields.core.coords import cell_grid
from nfields.core.errors import ConfigError
from nfields.core.media import as_float, tile
from nfields.data.collection import CollectionDataModule
from nfields.fields.adapt import BatchedOptimizer, ParamLoss, Params, Rates, fit_steps, sgd_adapt
from nfields.fields.base import Field
from nfields.lit.signals import Batch, SignalsModule, enlarged
from nfields.lit.tto import per_image_psnr
from nfields.tasks.base import Observation, Task

STEP_SIZES = ("fixed", "per_layer", "per_param", "per_layer_step")
STEPS = Check(lambda v: isinstance(v, Sequence) and len(v) > 0 and all(is_int(s) and s >= 0 for s in v),
              "a non-empty list of integers >= 0")  # fmt: skip


def field_loss(field: Field, task: Task, footprint: torch.Tensor | None) -> ParamLoss:
    """The task's loss on one signal as a function of the field's weights, for torch.func:
    (params, values (N, C), coords (N, d)) -> (). The same task.loss that every run trains on, on a batch of one
    (superres's footprint: the observations' own)."""

    def loss(params: Params, values: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        obs = Observation(values.unsqueeze(0), coords=coords.unsqueeze(0), footprint=footprint)  # (1, N, ...)
        return task.loss(lambda c: functional_call(field, params, (c,)), obs)

    return loss


class LearnitModule(SignalsModule):
    """model=learnit: meta-learns the initial weights of one field (cond=none) on a collection."""

    data_kind = "a collection of images or clips (data=fashion_mnist|mnist|cifar10|celeba|image_folder|synthetic|...)"
    compile_modes = (False,)  # the inner loop calls the field through torch.func

    def __init__(
        self,
        field: Field,
        task: Task,
        data: CollectionDataModule,
        meta: str = "maml",
        inner_steps: int = 2,
        inner_lr: float = 1.0,
        first_order: bool = False,
        test_steps: Sequence[int] = (0, 1, 2, 5, 10, 100),
        test_optimizer: str = "sgd",
        test_lr: float | None = None,
        step_sizes: str = "fixed",
        n_grid: int = 8,
        **base: Any,  # BaseModule's: optimizer, lr, scheduler, compile, latent_dim, run_config
    ) -> None:
        super().__init__(data, n_grid, field, task, **base)
        check_arg("model.meta", meta, one_of("maml", "reptile"))
        check_arg("model.inner_steps", inner_steps, integer(lo=1))
        check_arg("model.inner_lr", inner_lr, POSITIVE)
        check_arg("model.first_order", first_order, boolean())
        check_arg("model.test_steps", list(test_steps), STEPS)
        check_arg("model.test_optimizer", test_optimizer, one_of("sgd", "adam"))
        check_arg("model.test_lr", test_lr, nullable(POSITIVE))
        check_arg("model.step_sizes", step_sizes, one_of(*STEP_SIZES))
        if field.cond is not None:
            raise ConfigError("cond", "not none", "model=learnit meta-learns the weights of one field: use cond=none")
        if step_sizes != "fixed" and meta == "reptile":
            raise ConfigError(
                "model.step_sizes",
                step_sizes,
                "reptile's outer update has no gradient for step sizes: use model.meta=maml or model.step_sizes=fixed",
            )
        self.meta, self.inner_steps, self.inner_lr, self.first_order = meta, inner_steps, inner_lr, first_order
        self.test_steps = sorted({*test_steps, inner_steps})  # test/psnr is the meta init's after inner_steps
        self.test_optimizer, self.test_lr = test_optimizer, inner_lr if test_lr is None else test_lr
        self.channels, self.domain = data.channels, data.domain
        # The standard initialisation: the field's weights as built. A plain dict, not a buffer: it stays out
        # of the checkpoint (a rebuilt module draws the same weights from the same seed).
        self.standard = {k: p.detach().clone() for k, p in self.weights().items()}
        # meta-SGD's learned inner rates, by weight name ('.' -> '-': a ParameterDict key), () per tensor, one per
        # weight or (inner_steps,) per tensor (one per inner step); empty for fixed (model.inner_lr), so a fixed
        # run's checkpoint holds the field alone
        self.per_step = step_sizes == "per_layer_step"
        self.step_sizes = nn.ParameterDict()
        for k, p in self.weights().items() if step_sizes != "fixed" else ():
            shape = {"per_layer": (), "per_param": p.shape, "per_layer_step": (inner_steps,)}[step_sizes]
            self.step_sizes[k.replace(".", "-")] = nn.Parameter(torch.full(shape, float(inner_lr)))

    def weights(self) -> Params:
        """The field's trainable weights by name (what meta-learning initialises); buffers and frozen parameters
        (a Fourier matrix) stay the module's own in functional_call."""
        return {k: p for k, p in self.field.named_parameters() if p.requires_grad}

    def rates(self) -> Rates:
        """The inner SGD's rates: model.inner_lr (fixed), or the learned step sizes by weight name (() or
        (*shape)), clamped at 0: a rate the outer optimiser drives below 0 stops there (its gradient is then 0);
        per_layer_step: a list of inner_steps such dicts, step s's rates () (adapt.rate: later steps the last)."""
        if len(self.step_sizes) == 0:
            return self.inner_lr
        rates = {k: self.step_sizes[k.replace(".", "-")].clamp_min(0) for k in self.weights()}
        return [{k: r[s] for k, r in rates.items()} for s in range(self.inner_steps)] if self.per_step else rates

    def param_groups(self) -> list[dict[str, Any]]:
        """The field's weights and, when learned, the step sizes (the same outer optimiser and rate)."""
        groups = super().param_groups()
        return groups + [{"params": list(self.step_sizes.parameters())}] if len(self.step_sizes) else groups

    # ---- training -------------------------------------------------------------------------
    @staticmethod
    def signal_data(obs: Observation) -> tuple[torch.Tensor, torch.Tensor]:
        """(values (B, N, C) floats in [0, 1], coords (B, N, d)) of stacked observations, rows per signal."""
        return as_float(obs.values), obs.points()

    def outer_loss(self, observed: Observation) -> tuple[torch.Tensor, torch.Tensor]:
        """(what backward() is called on, the mean loss of the adapted weights for the logs) on B signals.

        maml: the loss at the adapted weights itself. reptile: sum_k <theta_k - mean_b theta_b,k, theta_k> with
        the first factor constant, whose gradient is learnit's Reptile direction theta - mean_b theta_b."""
        loss, data = field_loss(self.field, self.task, observed.footprint), self.signal_data(observed)
        params = self.weights()
        if self.meta == "maml":
            adapted = sgd_adapt(loss, params, data, self.inner_steps, self.rates(), self.first_order)  # (B, ...)
            mse = vmap(loss)(adapted, *data).mean()  # (): mean over signals of each one's loss
            return mse, mse.detach()
        fixed = {k: p.detach() for k, p in params.items()}
        adapted = sgd_adapt(loss, fixed, data, self.inner_steps, self.inner_lr, first_order=True)
        with torch.no_grad():
            mse = vmap(loss)(adapted, *data).mean()
        direction = {k: (fixed[k] - adapted[k].mean(0)).detach() for k in params}  # (*shape) each
        return sum((direction[k] * p).sum() for k, p in params.items()), mse

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        outer, mse = self.outer_loss(self.sample(batch["observed"]))
        self.log_train(mse, batch["image"].shape[0])
        return outer

    # ---- evaluation: fit unseen signals from the meta-learned and the standard initialisation --------
    def render(self, params: Params) -> torch.Tensor:
        """Batched weights {name: (B, *shape)} -> the B fields on the signals' grid (B, *grid, C), unclamped."""
        coords = cell_grid(self.image_shape, device=self.device).reshape(-1, len(self.image_shape))  # (N, d)
        out = vmap(lambda p: functional_call(self.field, p, (coords,)))(params)  # (B, N, C)
        return out.reshape(out.shape[0], *self.image_shape, out.shape[-1])

    def fit_curve(
        self,
        init: Params,
        observed: Observation,
        images: torch.Tensor,
        score: torch.Tensor | None,
        steps: list[int],
        lr: Rates | None = None,
    ) -> tuple[dict[int, float], torch.Tensor]:
        """Fit B unseen signals (B, *grid, C) from `init` on their observations by the test-time optimiser at `lr`
        (None: model.test_lr) -> ({s: mean PSNR after s steps} for s in steps, the renders after inner_steps
        (B, *grid, C))."""
        loss = field_loss(self.field, self.task, observed.footprint)
        curve, shown = {}, images
        optimizer = BatchedOptimizer(self.test_optimizer, self.test_lr if lr is None else lr)
        for s, params in fit_steps(loss, init, self.signal_data(observed), max(steps), optimizer):
            if s in steps:
                with torch.no_grad():
                    pred = self.render(params).float().clamp(0, 1)
                curve[s] = float(per_image_psnr(pred, images, score).mean())
                if s == self.inner_steps:
                    shown = pred
        return curve, shown

    def evaluate(self, stage: str, batch: Batch, batch_idx: int) -> None:  # type: ignore[override]
        """Val: the meta init after 0 and inner_steps steps; test: both inits after every one of test_steps."""
        images, score = batch["image"], self.score_mask(batch, stage)  # clean (B, *grid, C), scored (B, *grid)
        steps = self.test_steps if stage == "test" else sorted({0, self.inner_steps})
        inits = {"meta": self.weights()}
        if stage == "test":
            inits["std"] = {k: v.to(self.device) for k, v in self.standard.items()}
        # the learned init is fitted with its learned step sizes when the test optimiser is the inner loop's SGD
        learned = len(self.step_sizes) > 0 and self.test_optimizer == "sgd"
        with torch.no_grad():  # the rates as numbers: nothing trains here
            rates = {"meta": self.rates() if learned else None, "std": None}
        b, shown = images.shape[0], {}
        with torch.inference_mode(False), torch.enable_grad():  # Lightning evaluates under inference mode
            # clones turn inference tensors into normal ones that autograd may save
            images, score = images.clone(), None if score is None else score.clone()
            observed = batch["observed"].clone()
            for name, init in inits.items():
                curve, shown[name] = self.fit_curve(init, observed, images, score, steps, rates[name])
                for s, psnr in curve.items():
                    self.log(f"{stage}/psnr_{name}_step{s}", psnr, batch_size=b, sync_dist=True)
                if name == "meta":
                    self.log(
                        f"{stage}/psnr", curve[self.inner_steps], prog_bar=stage == "val", batch_size=b, sync_dist=True
                    )
        if batch_idx == 0:
            n, steps_shown = min(self.n_grid, b), self.inner_steps
            with torch.no_grad():
                init = self.render({k: p.detach()[None] for k, p in self.weights().items()}).clamp(0, 1)[0]
            self.grid = {"meta init": init.float(), "prediction": shown["meta"][:n].detach()}  # after inner_steps
            if "std" in shown:
                self.grid[f"standard init, {steps_shown} steps"] = shown["std"][:n].detach()
            self.grid["ground truth"] = images[:n].detach().float()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.evaluate("val", batch, batch_idx)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self.evaluate("test", batch, batch_idx)

    # ---- figures and checkpoints -----------------------------------------------------------------
    @torch.no_grad()
    def progress_frame(self, max_size: int = 256) -> torch.Tensor:
        """The initialisation's own render (what every unseen signal starts from) -> (h, w, C)."""
        frame = self.pictures(self.render({k: p[None] for k, p in self.weights().items()}).float().clamp(0, 1))[0]
        return enlarged(frame, max_size)

    def panel_images(self) -> dict[str, torch.Tensor]:
        """The meta init's render, the first evaluated signals after inner_steps from it ('prediction': the
        run's prediction.png) and from the standard init (test), and the signals."""
        return {
            name: self.pictures(x[None])[0] if name == "meta init" else tile(self.pictures(x), cols=4)
            for name, x in self.grid.items()
        }

    def checkpoint_extra(self) -> dict[str, Any]:
        # The signals' (*grid, C) and domain: load_field (scripts/render.py, model.init_from) needs no data
        return {"nfields_image_shape": [*self.image_shape, self.channels], "nfields_domain": self.domain}
