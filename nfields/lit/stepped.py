"""SteppedModule: k optimiser steps per Lightning call, through Lightning's public manual optimisation.

Lightning's training loop costs a fixed amount of Python per call (fetching a batch, hooks, progress, result
collection), as much as a whole small step. model=single and model=many therefore take `model.steps_per_call`
optimiser steps inside one training_step (nfields/run/speed.py chooses k for "auto"). Each step goes through
the LightningOptimizer's `step`, so Lightning counts every step in trainer.global_step. Its backward is
`manual_backward` (DDP all-reduces the gradients, a gradient scaler scales the loss) or, where that is all
manual_backward would do, loss.backward() between the backward hooks that some callback or the module overrides
(the NaN guard's on_before_backward); and the optimiser skips the closure Lightning wraps around its step where
that closure only dispatches no-op on_before_optimizer_step hooks. Lightning's dispatch of every hook to every
callback costs about 0.1 ms a step, a tenth of a 1 ms step (scripts/bench.py --case tiny measures the loop
against a hand-written one).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from functools import partial, wraps
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy

from nfields.core.checks import POSITIVE_INT, check_arg, one_of
from nfields.lit.base import BaseModule

Step = Callable[[], None]


def time_step(step: Step, device: torch.device, budget_s: float = 0.05) -> float:
    """Seconds per call of `step` on `device`: one warm-up call, then calls until `budget_s` has passed (none
    when the warm-up alone is longer: such a step needs no amortising)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
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


def replace_update(optimizer: torch.optim.Optimizer, update: Callable[[], Any], run_closure: bool) -> None:
    """`optimizer`'s step becomes `update` (its own step, or a compiled one), with the closure Lightning passes it
    (the on_before_optimizer_step hooks) run eagerly before it when `run_closure`, skipped when that closure does
    nothing here (direct_step). An attribute of this run's own optimiser object, as torch's LR schedulers wrap
    it; torch's class is untouched. It carries `update`'s attributes (functools.wraps), so an LR scheduler still
    finds the mark it left on the step it wrapped, and does not warn that the step was replaced."""

    @wraps(update)
    def step(closure: Callable[[], Any] | None = None) -> Any:
        if run_closure and closure is not None:
            closure()
        return update()

    optimizer.step = step


PLAIN_PRECISION = (Precision, DoublePrecision, HalfPrecision)  # backward is loss.backward() between the hooks


def plain_one_device(trainer: pl.Trainer) -> bool:
    """One device (SingleDeviceStrategy) and a precision plugin that neither scales the loss nor wraps backward or
    the optimiser's step (32/64/16-bit, or autocast without a gradient scaler): where Lightning's backward and
    step add only the dispatch of hooks (direct_backward, direct_step)."""
    plugin = trainer.precision_plugin
    plain = type(plugin) in PLAIN_PRECISION or (type(plugin) is MixedPrecision and plugin.scaler is None)
    return plain and type(trainer.strategy) is SingleDeviceStrategy


def active_hooks(trainer: pl.Trainer, module: pl.LightningModule, name: str) -> list[Callable[..., Any]]:
    """The `name` hooks that do something, in Lightning's order (callbacks, then the module): the others are the
    base classes' no-ops, so skipping them changes nothing."""
    hooks: list[Callable[..., Any]] = [
        partial(getattr(cb, name), trainer, module)
        for cb in trainer.callbacks
        if getattr(type(cb), name) is not getattr(pl.Callback, name)
    ]
    if getattr(type(module), name) is not getattr(pl.LightningModule, name):
        hooks.append(getattr(module, name))
    return hooks


def direct_backward(module: pl.LightningModule) -> Callable[[torch.Tensor], None] | None:
    """What manual_backward does, without its dispatch, where that is exact: one device, a precision plugin that
    neither scales the loss nor wraps backward (32-bit, or autocast without a gradient scaler), no backward of the
    module's own. Then it is the hooks that do something, around loss.backward(). None: use manual_backward."""
    trainer = module.trainer
    if not (plain_one_device(trainer) and type(module).backward is pl.LightningModule.backward):
        return None
    before, after = (active_hooks(trainer, module, h) for h in ("on_before_backward", "on_after_backward"))

    def backward(loss: torch.Tensor) -> None:
        for hook in before:
            hook(loss)
        loss.backward()
        for hook in after:
            hook()

    return backward


def direct_step(module: pl.LightningModule) -> bool:
    """Whether the closure Lightning wraps around each optimiser step does nothing here, so the optimiser may skip
    it: no callback or the module overrides on_before_optimizer_step (the base classes' are no-ops), on one device
    with a plain precision plugin (plain_one_device: not DDP, no gradient scaler). Lightning's closure
    then only dispatches no-ops to every callback: a tenth of a 1 ms step. Gradient clipping, the closure's other
    part, is never done under manual optimisation."""
    trainer = module.trainer
    return plain_one_device(trainer) and not active_hooks(trainer, module, "on_before_optimizer_step")


def direct_zero_grad(optimizer: torch.optim.Optimizer) -> Callable[[], None] | None:
    """Gradients to None directly where that is all the optimiser's zero_grad does: torch's own also opens a
    profiler range each call (10-40 us beside a 1 ms step). None: the optimiser has its own zero_grad."""
    if type(optimizer).zero_grad is not torch.optim.Optimizer.zero_grad:
        return None
    params = [p for g in optimizer.param_groups for p in g["params"]]

    def zero_grad() -> None:
        for p in params:
            p.grad = None

    return zero_grad


class SteppedModule(BaseModule):
    """A module that optimises inside training_step, `steps_per_call` steps per call (model=single, many)."""

    def __init__(self, *args: Any, steps_per_call: int | str = "auto", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_arg("model.steps_per_call", steps_per_call, POSITIVE_INT | one_of("auto"))
        self.steps_per_call = steps_per_call  # "auto": the run chooses (nfields/run/speed.py) before the trainer
        self.automatic_optimization = False
        self.shown: dict[str, float] = {}  # the progress bar's train/loss (log_training)

    def on_train_start(self) -> None:
        if self.steps_per_call == "auto":  # trained without nfields.run: one step per call
            self.steps_per_call = 1
        self.optimizer = self.optimizers()  # the LightningOptimizer: its step() counts in trainer.global_step
        self.scheduler = self.lr_schedulers()
        # what each step calls (direct where that is exact): a 1 ms step feels every layer of dispatch
        raw = self.optimizer.optimizer  # the torch optimiser the LightningOptimizer wraps
        self.backward_of = direct_backward(self) or self.manual_backward
        own_zero = partial(self.optimizer.zero_grad, set_to_none=True)
        self.clear_grads = direct_zero_grad(raw) or own_zero
        # the step still goes through the LightningOptimizer (it counts trainer.global_step); the optimiser skips
        # Lightning's closure where it does nothing
        self.torch_update = raw.step  # torch's step (as an LR scheduler wraps it): model.compile=step compiles it
        self.step_closure = not direct_step(self)
        if not self.step_closure:
            replace_update(raw, self.torch_update, run_closure=False)

    def optimise(self, loss: torch.Tensor) -> None:
        """One optimiser step on the gradients of `loss` () (trainer.global_step + 1)."""
        self.clear_grads()
        self.backward_of(loss)
        self.update()

    def update(self) -> None:
        """The optimiser's step on the gradients accumulated since zero_grad (several backward passes: model=many)
        and the scheduler's step."""
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()

    def current_lr(self) -> float:
        """The learning rate of the first parameter group now (train/lr)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def loss(self) -> torch.Tensor:
        """The training loss () of one optimiser step on fresh samples."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """model.steps_per_call optimiser steps on fresh samples (each counts in trainer.global_step); training
        metrics every trainer.log_every_n_steps optimiser steps, whatever k."""
        every, step = self.log_every(), self.global_step
        loss_of, optimise = self.loss, self.optimise  # bound once: a 1 ms step feels every lookup
        for _ in range(self.steps_per_call):
            loss = loss_of()
            optimise(loss)  # trainer.global_step + 1
            step += 1
            if every and step % every == 0:
                self.log_training(loss.detach())
        return loss.detach()

    def training_metrics(self, loss: torch.Tensor) -> dict[str, float]:
        """The training metrics at this optimiser step ({"train/loss": ..., ...}), `loss` the step's ()."""
        raise NotImplementedError

    def log_training(self, loss: torch.Tensor) -> None:
        """training_metrics at this optimiser step, straight to the loggers (self.log's result collection costs as
        much Python as a small step) and to history.json's "train"; train/loss also goes to the progress bar."""
        metrics = self.training_metrics(loss)
        self.shown = {"train/loss": metrics["train/loss"]}
        self.train_log.append({"step": self.global_step, **metrics})
        for logger in self.trainer.loggers:  # they write on rank zero only
            logger.log_metrics(metrics, step=self.global_step)
            logger.save()

    def progress_metrics(self) -> dict[str, float]:
        return self.shown

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        # Lightning counts calls, not steps, in its loop state: a resumed run must take as many steps per call
        checkpoint["nfields_steps_per_call"] = self.steps_per_call

    def probe(self, device: torch.device) -> tuple[torch.nn.Module, Callable[[torch.nn.Module], None]]:
        """The field to time (this module's; it is copied) and a function that computes the gradients of one
        training step of a copy of it on `device` (backward included: model=many goes chunk by chunk)."""
        raise NotImplementedError

    def probe_step_s(self, device: torch.device) -> float:
        """Seconds per optimiser step on `device`, timed on a copy of the field with the run's optimiser: the
        run's weights, optimiser state and random streams are untouched (what steps_per_call=auto is chosen from)."""
        field, backward = self.probe(device)
        copied = copy.deepcopy(field).to(device)
        opt = self.build_optimizer(list(copied.parameters()))

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            backward(copied)
            opt.step()

        with torch.compiler.set_stance("force_eager"):  # model.compile=field: time the eager field, compile nothing
            return time_step(step, device)
