"""Benchmark case `meta` of scripts/bench.py: the outer step of meta-learned codes, batched against a Python loop.

    python scripts/bench.py --case meta --device cpu --threads 1            # Fashion-MNIST, 64 signals
    python scripts/bench.py --case meta --device cpu model.first_order=true  # first order
    python scripts/bench.py --case meta --device cpu --threads 1 cond=concat  # another conditioning, no ceiling

One outer step of `model.latent_source=meta` (second order, model.inner_steps=3 by default) on --signals signals
of data.pixels_per_image pixels each, taken three ways on the same batch, the same field and the same step sizes:

* nfields: the module's own training objective (CollectionModule.codes: the inner meta-SGD steps, each the
  gradient of the signals' summed loss with respect to the codes (B, code_dim), one batched forward and backward;
  then the task's loss of the adapted codes), backward, the module's Adam;
* hand-written: a Python loop over the signals, each signal's code from zero by `torch.autograd.grad` with
  create_graph (first order: the gradient detached), z <- z - alpha * g, its loss of the adapted code; the
  mean of the signals' losses, backward, Adam over the same parameters (a copy of them);
* ceiling: the bare work of the batched step, the same forward, backward and double backward on all signals'
  points at once written in plain torch (F.linear, relu, sigmoid on the field's own weights; the Fourier
  features and the first layer's product on them, which FiLM modulates after the product, computed once a step
  for the four passes), backward, Adam (a third copy): what the CPU needs for the batched step
  without any framework code around it. Written for the case's field (a projection encoding such as fourier,
  network=mlp, cond=film with linear maps from global codes); another field prints why it has no ceiling.

The steps alternate, each timed on its own, so all see the same seconds of a machine whose speed drifts; the
first of each is a warm-up. Prints steps/s, signals/s and the ratios to the hand-written loop (target >= 3x at
64 signals on the CPU). All three compute the same loss and gradients (tests/test_bench_meta.py).
"""

from __future__ import annotations

import argparse
import copy
import math
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import move_data_to_device
from torch import nn

from nfields.fields.conditioning.film import FiLM
from nfields.fields.encodings.base import ProjectionEncoding
from nfields.fields.field import NeuralField
from nfields.fields.networks.mlp import MLP
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


def field_overrides(extra: list[str]) -> list[str]:
    """FIELD, less its cond.* keys (FiLM's) when the overrides choose another conditioning (cond=concat)."""
    if any(o.startswith("cond=") for o in extra):
        return [o for o in FIELD if not o.startswith("cond")]
    return FIELD


def setup(signals: int, device: str, extra: list[str]) -> tuple[CollectionModule, Observation]:
    """The module and a fixed batch of `signals` signals' sampled observations (B, P, ...) on the device."""
    with tempfile.TemporaryDirectory() as d:
        over = [*field_overrides(extra), f"trainer={trainer(device)}", f"data.batch_size={signals}", *extra]
        cfg = compose_run_config(over, d)
        dm = build_datamodule(cfg)
        torch.manual_seed(cfg.seed)
        module = build_module(cfg, dm).to(device)
    batch = next(iter(dm.loader("train", signals, shuffle=False)))
    observed = module.sample(
        move_data_to_device(batch["observed"], device)
    )  # the same pixels for both paths, every step
    return module, observed


def nfields_loss(module: CollectionModule, observed: Observation) -> torch.Tensor:
    """The module's training objective on the batch: codes by its batched inner loop, the task's outer loss."""
    return module.data_loss({"observed": observed}, observed)[1]  # codes by the inner steps, then the outer loss


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


def no_ceiling(field: nn.Module) -> str | None:
    """Why bare_loss cannot compute this field (None: it can)."""
    if not isinstance(field, NeuralField) or not isinstance(field.encoding, ProjectionEncoding):
        return "the encoding is not a projection (fourier, positional, basic)"
    net, cond = field.network, field.cond
    if not isinstance(net, MLP) or net.output_activation != "sigmoid" or net.centered:
        return "the network is not network=mlp with a sigmoid output"
    if not isinstance(cond, FiLM) or cond.hidden != 0 or field.latent.local_dim:
        return "the conditioning is not cond=film with linear maps (cond.hidden=0) from global codes"
    return None


def bare_loss(
    field: nn.Module, alpha: torch.Tensor, observed: Observation, steps: int, first_order: bool
) -> torch.Tensor:
    """The same outer loss on the batched graph in plain torch (no_ceiling(field) must be None): every signal's
    points through the field's weights at once, the inner gradient that of the summed loss w.r.t. the codes."""
    net, maps, scale = field.network, field.cond.maps, field.cond.scale
    values = observed.values.float() / 255 if observed.values.dtype == torch.uint8 else observed.values.float()
    b, p, c = values.shape
    phase = observed.points() @ (field.encoding.B * (2 * math.pi)).t()  # (B, P, F / 2): fixed coordinates
    feats = torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)  # (B, P, F), once for all four passes
    first = F.linear(feats, net.hidden[0].weight, net.hidden[0].bias)  # (B, P, width): no code in it, once too
    weights = [t for lin, m in zip(net.hidden, maps, strict=True) for t in (lin.weight, lin.bias, *m[0].parameters())]
    weights += [net.head.weight, net.head.bias]

    def f(z: torch.Tensor, w: list[torch.Tensor]) -> torch.Tensor:  # codes (B, code_dim) -> (B, P, C)
        h = first
        for i in range(len(maps)):
            wi, bi, wm, bm = w[4 * i : 4 * i + 4]
            mod = F.linear(z, wm, bm).unsqueeze(1)  # (B, 1, width) shifts, or (B, 1, 2 width) scales and shifts
            pre = h if i == 0 else F.linear(h, wi, bi)  # (B, P, width): one product for every signal's points
            if scale:
                dgamma, beta = mod.chunk(2, dim=-1)
                pre = pre * (1 + dgamma) + beta
            else:
                pre = pre + mod
            h = torch.relu(pre)
        return torch.sigmoid(F.linear(h, w[-2], w[-1]))

    inner_w = [t.detach() for t in weights] if first_order else weights
    z = values.new_zeros(b, field.code_dim, dtype=alpha.dtype).requires_grad_(True)  # (B, code_dim)
    for _ in range(steps):
        zi = z.detach().requires_grad_(True) if first_order else z
        summed = (f(zi, inner_w) - values).pow(2).sum() / (p * c)  # sum over signals of each one's mean
        (g,) = torch.autograd.grad(summed, zi, create_graph=not first_order)  # (B, code_dim): row b is signal b's
        z = z - alpha * g
    return (f(z, weights) - values).pow(2).mean()


def optimizer(module: CollectionModule) -> torch.optim.Optimizer:
    opt = module.configure_optimizers()
    return opt["optimizer"] if isinstance(opt, dict) else opt  # a scheduler, if any, is not stepped here


def paths(module: CollectionModule, observed: Observation) -> dict[str, Callable[[], float]]:
    """One outer step each (loss, backward, Adam): nfields' on the module, the hand loop's on a copy of it and,
    where the field allows (no_ceiling), the ceiling's on another copy -> {"hand", "nfields"[, "ceiling"]}."""
    src = module.source

    def step(model: CollectionModule, loss: Callable[[CollectionModule], torch.Tensor]) -> Callable[[], float]:
        opt = optimizer(model)  # the model's Adam, its groups and rates, on each copy

        def one() -> float:
            out = loss(model)
            opt.zero_grad(set_to_none=True)
            out.backward()
            opt.step()
            return float(out.detach())

        return one

    def loop(m: CollectionModule) -> torch.Tensor:
        return hand_loss(m.field, m.source.alpha(), observed, src.inner_steps, src.first_order)

    def bare(m: CollectionModule) -> torch.Tensor:
        return bare_loss(m.field, m.source.alpha(), observed, src.inner_steps, src.first_order)

    out = {"hand": step(copy.deepcopy(module), loop), "nfields": step(module, lambda m: nfields_loss(m, observed))}
    if no_ceiling(module.field) is None:
        out["ceiling"] = step(copy.deepcopy(module), bare)
    return out


ROWS = {  # the printed rows, in order
    "hand": "hand-written loop over signals",
    "nfields": "nfields (batched inner loop)",
    "ceiling": "ceiling: the batched step in plain torch",
}


def run(a: argparse.Namespace) -> None:
    """Case meta: steps/s of nfields' outer step, the hand loop over signals and the ceiling, in alternation."""
    signals, steps = a.signals, max(a.steps or 6, 2)
    module, observed = setup(signals, a.device, a.overrides)
    src = module.source
    order = "first" if src.first_order else "second"
    b, p = observed.values.shape[:2]
    print(f"# meta: outer step, {order} order, k={src.inner_steps} inner steps, {b} signals x {p} points,")
    print(f"# device {a.device}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    steppers = paths(module, observed)
    times = dict.fromkeys(steppers, 0.0)
    sync = torch.cuda.synchronize if torch.device(a.device).type == "cuda" else (lambda: None)
    for i in range(steps):
        for name, step in steppers.items():
            sync()
            t = time.perf_counter()
            step()
            sync()
            if i > 0:  # the first step of each is its warm-up
                times[name] += time.perf_counter() - t
    rate = {k: (steps - 1) / v for k, v in times.items()}
    print("| path | steps/s | signals/s |\n|---|---|---|")
    for key, label in ROWS.items():
        if key in rate:
            print(f"| {label} | {rate[key]:.3f} | {rate[key] * b:.1f} |")
    print(f"ratio nfields / hand-written steps/s: {rate['nfields'] / rate['hand']:.2f} (target >= 3 at 64 signals)")
    if "ceiling" in rate:
        print(f"ratio ceiling / hand-written steps/s: {rate['ceiling'] / rate['hand']:.2f}")
        print(f"ratio nfields / ceiling steps/s: {rate['nfields'] / rate['ceiling']:.2f}")
    else:
        print(f"no ceiling row: {no_ceiling(module.field)}")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("meta")
    g.add_argument("--signals", type=int, default=64, help="signals per outer step (the batch)")
