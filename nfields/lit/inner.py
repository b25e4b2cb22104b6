"""InnerLoop: optimiser steps inside one Lightning call without Lightning's per-step wrappers.

Lightning's manual optimisation runs, per step, `manual_backward` (strategy -> precision plugin ->
every callback's on_before_backward / on_after_backward through the trainer's hook dispatcher) and
`LightningOptimizer.step` (strategy -> precision plugin -> a closure -> on_before_optimizer_step ->
the torch optimizer). At a 1 ms step that Python costs about as much as the step. Where it is exact,
this loop does the same work directly: the strategy's own pre/post backward (DDP's
`prepare_for_backward`, so gradients are still all-reduced), the hooks that some callback or the
module actually overrides (the NaN guard's on_before_backward), `loss.backward()`, the raw torch
optimizer's step, the progress counter behind `trainer.global_step`, and the scheduler per step.

It is exact when the precision plugin adds nothing to backward or step (32-bit, or bf16/fp16
autocast without a gradient scaler: autocast itself is the plugin's train_step_context, which
Lightning already holds around training_step) and the strategy is a single device or plain DDP.
Anything else (a GradScaler, DeepSpeed, FSDP, post-localSGD averaging) takes Lightning's path.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning import Callback
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.strategies import DDPStrategy, SingleDeviceStrategy, Strategy

HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def raw_path_is_exact(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    """True when the direct loop does exactly what manual_backward + LightningOptimizer.step would."""
    plugin, strategy = trainer.precision_plugin, trainer.strategy
    plain_precision = type(plugin) is Precision or (type(plugin) is MixedPrecision and plugin.scaler is None)
    plain_strategy = type(strategy) is SingleDeviceStrategy or (
        type(strategy) is DDPStrategy and strategy._model_averager is None
    )
    own_backward = type(module).backward is not pl.LightningModule.backward
    return plain_precision and plain_strategy and not own_backward


def active_hooks(trainer: pl.Trainer, module: pl.LightningModule, name: str) -> list[Callable[..., Any]]:
    """The `name` hooks that do something, in Lightning's order (callbacks, then the module): the others
    are the base class's no-ops, so skipping them changes nothing."""
    hooks: list[Callable[..., Any]] = [
        partial(getattr(cb, name), trainer, module)
        for cb in trainer.callbacks
        if getattr(type(cb), name) is not getattr(Callback, name)
    ]
    if getattr(type(module), name) is not getattr(pl.LightningModule, name):
        hooks.append(getattr(module, name))
    return hooks


def _no_loss(hook: Callable[[], Any], loss: torch.Tensor) -> None:
    hook()  # on_after_backward takes no loss


class InnerLoop:
    """One optimiser step per `step(loss)`, counted in trainer.global_step like Lightning's own."""

    def __init__(self, module: pl.LightningModule) -> None:
        trainer = module.trainer
        self.module, self.trainer, self.strategy = module, trainer, trainer.strategy
        self.lightning_optimizer = module.optimizers()
        self.optimizer: torch.optim.Optimizer = self.lightning_optimizer.optimizer  # the raw torch optimizer
        self.scheduler = module.lr_schedulers()
        self.exact = raw_path_is_exact(trainer, module)
        # torch's zero_grad(set_to_none=True) is this loop (plus a profiler range), unless the optimiser has its own
        self.direct_zero = self.exact and type(self.optimizer).zero_grad is torch.optim.Optimizer.zero_grad
        # What LightningOptimizer.step advances (trainer.global_step under manual optimisation).
        self.progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        before_backward, after_backward, self.before_step = (active_hooks(trainer, module, h) for h in HOOKS)
        self.optimizer_step: Callable[[], Any] = self.optimizer.step  # model.compile=step swaps in a compiled one
        # What the direct path calls around loss.backward(), in Lightning's order, without the no-ops: at a 1 ms
        # step each Python call between the kernels shows (the base Strategy's pre/post_backward do nothing).
        strategy_type = type(self.strategy)
        self.pre: list[Callable[[torch.Tensor], Any]] = [
            *([self.strategy.pre_backward] if strategy_type.pre_backward is not Strategy.pre_backward else []),
            *before_backward,
        ]
        self.post: list[Callable[[torch.Tensor], Any]] = [
            *(partial(_no_loss, h) for h in after_backward),
            *([self.strategy.post_backward] if strategy_type.post_backward is not Strategy.post_backward else []),
        ]

    def step(self, loss: torch.Tensor) -> None:
        """zero_grad, backward of `loss` (), the optimiser update and the scheduler's step."""
        self.zero_grad()
        self.backward(loss)
        self.update()

    def zero_grad(self) -> None:
        """Gradients to None. Directly where that is what the optimiser's zero_grad does: torch's own opens a
        profiler range (record_function) each call, 10-40 us at a 0.5 ms step, more than the loop below."""
        if not self.direct_zero:
            (self.optimizer if self.exact else self.lightning_optimizer).zero_grad(set_to_none=True)
            return
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                p.grad = None

    def backward(self, loss: torch.Tensor) -> None:
        """manual_backward of `loss` (), directly where that is exact (several per step accumulate: model=many)."""
        if not self.exact:
            self.module.manual_backward(loss)
            return
        for call in self.pre:  # DDP's pre_backward: prepare_for_backward, so the reducer all-reduces
            call(loss)
        loss.backward()
        for call in self.post:
            call(loss)

    def update(self) -> None:
        """The optimiser step (counted in trainer.global_step) and the scheduler's."""
        if not self.exact:
            self.lightning_optimizer.step()
        else:
            self.progress.increment_ready()
            for hook in self.before_step:
                hook(self.optimizer)
            self.optimizer_step()
            self.progress.increment_completed()
        if self.scheduler is not None:
            self.scheduler.step()


def time_step(
    field: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer_fn: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    batch: tuple[torch.Tensor, torch.Tensor],
    device: torch.device,
    budget_s: float = 0.05,
) -> float:
    """Seconds per optimiser step of `field` on `device`: a timing probe on a copy, so the run's weights,
    optimiser state and random streams are untouched. One warm-up step, then steps until `budget_s` has
    passed (none when the warm-up alone is longer: such a step needs no amortising)."""
    probe = copy.deepcopy(field).to(device)
    probe._compiled_call_impl = None  # model.compile=field: time the eager field, do not compile a copy
    opt = optimizer_fn(list(probe.parameters()))  # the run's optimiser and learning rate
    x, y = (t.to(device) for t in batch)  # (B, 2), (B, C)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(probe, x, y).backward()
        opt.step()

    t0 = time.perf_counter()
    step()
    sync()
    warm = time.perf_counter() - t0
    if warm >= budget_s:
        return warm
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s or n < 3:
        step()
        n += 1
        sync()
    return (time.perf_counter() - t0) / n
