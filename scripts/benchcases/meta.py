"""Benchmark case `meta` of scripts/bench.py: the outer step of meta-learned codes, vectorised against a Python loop.

    python scripts/bench.py --case meta --device cpu --threads 1            # Fashion-MNIST, 64 signals
    python scripts/bench.py --case meta --device cpu model.first_order=true  # first order

One outer step of `model.latent_source=meta` (second order, model.inner_steps=3 by default) on --signals signals
of data.pixels_per_image pixels each, taken two ways on the same batch, the same field and the same step sizes:

* nfields: the module's own training objective (CollectionModule.codes: the inner meta-SGD steps, torch.func's
  grad vmapped over the signals; then the task's loss of the adapted codes), backward, the module's Adam;
* hand-written: a Python loop over the signals, each signal's code from zero by `torch.autograd.grad` with
  create_graph (first order: the gradient detached), z <- z - alpha * g, its loss of the adapted code; the
  mean of the signals' losses, backward, Adam over the same parameters (a copy of them).

The two steps alternate, each timed on its own, so both see the same seconds of a machine whose speed drifts;
the first of each is a warm-up. Prints steps/s, signals/s and the ratio nfields / hand-written (target >= 3x at
64 signals on the CPU). Both sides compute the same loss and gradients (tests/test_bench_meta.py).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from collections.abc import Callable

import torch
from pytorch_lightning.utilities import move_data_to_device
from torch import nn

from nfields.fields.field import conditioned
from nfields.lit.collection import CollectionModule
from nfields.run.build import build_datamodule, build_module
from nfields.run.compose import compose_run_config
from nfields.tasks.base import Observation

from .common import trainer

FIELD = [  # the field of scripts/meta_compare.py: FiLM shift modulations from a 64-number code (functa)
    "data=fashion_mnist",
    "encoding=fourier",
    "encoding.n_features=64",
    "network=mlp",
    "network.n_neurons=128",
    "cond=film",
    "cond.scale=false",
    "cond.identity_init=false",
    "model.latent_dim=64",
    "model.latent_source=meta",
    "logger=none",
]


def setup(signals: int, device: str, extra: list[str]) -> tuple[CollectionModule, Observation]:
    """The module and a fixed batch of `signals` signals' sampled observations (B, P, ...) on the device."""
    with tempfile.TemporaryDirectory() as d:
        cfg = compose_run_config([*FIELD, f"trainer={trainer(device)}", f"data.batch_size={signals}", *extra], d)
        dm = build_datamodule(cfg)
        torch.manual_seed(cfg.seed)
        module = build_module(cfg, dm).to(device)
    batch = next(iter(dm.loader("train", signals, shuffle=False)))
    observed = module.sample(
        move_data_to_device(batch["observed"], device)
    )  # the same pixels for both paths, every step
    return module, observed


def nfields_loss(module: CollectionModule, observed: Observation) -> torch.Tensor:
    """The module's training objective on the batch: codes by its vmapped inner loop, the task's outer loss."""
    codes = module.codes({"observed": observed}, observed)  # (B, code_dim) after the inner steps
    return module.task.loss(conditioned(module.field, codes), observed)


def hand_loss(
    field: nn.Module, alpha: torch.Tensor, observed: Observation, steps: int, first_order: bool
) -> torch.Tensor:
    """The same outer loss by a Python loop over the signals, each adapted with torch.autograd on its own."""
    values = observed.values.float() / 255 if observed.values.dtype == torch.uint8 else observed.values.float()
    losses = []
    for v, c in zip(values, observed.points(), strict=True):  # (P, C), (P, d): one signal
        z = torch.zeros(field.code_dim, dtype=alpha.dtype, device=v.device, requires_grad=True)  # starts at zero
        for _ in range(steps):
            inner = (field(c[None], z[None]).float() - v).pow(2).mean()  # (1, P, C) against (P, C)
            (g,) = torch.autograd.grad(inner, z, create_graph=not first_order)
            z = z - alpha * (g.detach() if first_order else g)  # (code_dim,)
        losses.append((field(c[None], z[None]).float() - v).pow(2).mean())
    return torch.stack(losses).mean()  # every signal has P points: the mean of means is the batch's mean


def optimizer(module: CollectionModule) -> torch.optim.Optimizer:
    opt = module.configure_optimizers()
    return opt["optimizer"] if isinstance(opt, dict) else opt  # a scheduler, if any, is not stepped here


def paths(module: CollectionModule, observed: Observation) -> tuple[Callable[[], float], Callable[[], float]]:
    """One outer step each (loss, backward, Adam), nfields' on the module and the hand loop's on a copy of it."""
    hand = copy.deepcopy(module)
    opt, hand_opt = (optimizer(m) for m in (module, hand))  # the model's Adam, its groups and rates, on each
    source = hand.source

    def ours() -> float:
        loss = nfields_loss(module, observed)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def theirs() -> float:
        loss = hand_loss(hand.field, source.alpha(), observed, source.inner_steps, source.first_order)
        hand_opt.zero_grad(set_to_none=True)
        loss.backward()
        hand_opt.step()
        return float(loss.detach())

    return ours, theirs


def run(a: argparse.Namespace) -> None:
    """Case meta: steps/s of the vectorised outer step and of the hand loop over signals, in alternation."""
    signals, steps = a.signals, max(a.steps or 6, 2)
    module, observed = setup(signals, a.device, a.overrides)
    src = module.source
    order = "first" if src.first_order else "second"
    b, p = observed.values.shape[:2]
    print(f"# meta: outer step, {order} order, k={src.inner_steps} inner steps, {b} signals x {p} points,")
    print(f"# device {a.device}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    ours, theirs = paths(module, observed)
    times = {"hand": 0.0, "nfields": 0.0}
    sync = torch.cuda.synchronize if torch.device(a.device).type == "cuda" else (lambda: None)
    for i in range(steps):
        for name, step in (("hand", theirs), ("nfields", ours)):
            sync()
            t = time.perf_counter()
            step()
            sync()
            if i > 0:  # the first step of each is its warm-up
                times[name] += time.perf_counter() - t
    rate = {k: (steps - 1) / v for k, v in times.items()}
    print("| path | steps/s | signals/s |\n|---|---|---|")
    print(f"| hand-written loop over signals | {rate['hand']:.3f} | {rate['hand'] * b:.1f} |")
    print(f"| nfields (vmapped inner loop) | {rate['nfields']:.3f} | {rate['nfields'] * b:.1f} |")
    print(f"ratio nfields / hand-written steps/s: {rate['nfields'] / rate['hand']:.2f} (target >= 3 at 64 signals)")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("meta")
    g.add_argument("--signals", type=int, default=64, help="signals per outer step (the batch)")
