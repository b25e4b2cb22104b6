"""Fitting a field's own weights to each of B signals at once, functionally (torch.func): MAML's and Reptile's
inner loop, and test-time fitting from an initialisation.

The field is given as a loss of its parameters on one signal, `loss(params, *data_b) -> ()`, with `params` a
dict {name: tensor} as torch.func.functional_call takes it; `vmap` runs it on every signal of a batch, so
there is no Python loop over signals. Every signal gets its own copy of the weights: batched parameters are
(B, *shape) where the shared ones are (*shape).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch.func import grad, vmap

Params = dict[str, torch.Tensor]
# loss(params, *data of one signal) -> (): e.g. the task's loss of the field with these weights on one signal
ParamLoss = Callable[..., torch.Tensor]
# An optimiser's rates: one number, rates by name (each () or (*shape)), or a list of either, one per step
# (MAML++'s per-step rates: step s, counted from 0, takes entry min(s, len - 1): past the list, its last)
Rates = float | Params | list[float | Params]


def sgd_adapt(
    loss: ParamLoss,
    params: Params,
    data: Sequence[torch.Tensor],
    steps: int,
    lr: Rates,
    first_order: bool = False,
) -> Params:
    """`steps` steps of plain SGD, theta <- theta - lr * dL_b/dtheta, from the shared `params` on each signal's
    data (tensors (B, ...), a row per signal) -> the adapted weights {name: (B, *shape)}. `lr`: one rate, rates
    by name (meta-SGD's learned step sizes: each a number () or one per weight (*shape)) or a list of these, one
    per step (MAML++); the graph of learned rates is kept, so the outer loss has a gradient for them.

    The graph to `params` is kept (MAML, second order: the outer gradient goes through the inner gradients);
    `first_order` takes each inner gradient at detached weights, so d(adapted)/d(params) is the identity
    (first-order MAML; Reptile needs no graph at all and passes detached params)."""

    def one(p: Params, *d: torch.Tensor) -> Params:  # one signal: p shared (*shape), d its rows
        for s in range(steps):
            g = grad(loss)({k: v.detach() for k, v in p.items()} if first_order else p, *d)
            p = {k: v - rate(lr, k, s) * g[k] for k, v in p.items()}
        return p

    return vmap(one, in_dims=(None, *(0,) * len(data)))(params, *data)


def rate(lr: Rates, name: str, step: int = 0) -> float | torch.Tensor:
    """The rate of weight `name` at step `step` (from 0): `lr` itself, or its entry when rates are given by name
    (() or (*shape)); per-step rates (a list): those of entry `step`, or of the last entry beyond the list."""
    if isinstance(lr, list):
        lr = lr[min(step, len(lr) - 1)]
    return lr[name] if isinstance(lr, dict) else lr


def expand(params: Params, b: int) -> Params:
    """Shared weights (*shape) -> B copies (B, *shape), one per signal to fit (no gradient to the originals)."""
    return {k: v.detach().unsqueeze(0).expand(b, *v.shape).clone() for k, v in params.items()}


class BatchedOptimizer:
    """SGD or Adam on batched weights {name: (B, *shape)}: B independent fits, each with its own Adam moments
    (the update torch.optim.Adam makes for one signal's weights, written on tensors so every signal steps at
    once). `kind`: 'sgd' | 'adam'; `lr`: one rate, rates by name (() or (*shape), shared by the B fits) or a list
    of these, one per step (after the list: its last, as `rate` reads it)."""

    def __init__(self, kind: str, lr: Rates, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if kind not in ("sgd", "adam"):
            raise ValueError(f"kind={kind}: must be sgd or adam")
        self.kind, self.lr, self.betas, self.eps = kind, lr, betas, eps
        self.m: Params = {}
        self.v: Params = {}
        self.t = 0

    def step(self, params: Params, grads: Params) -> Params:
        """One update of every signal's weights -> the new weights (B, *shape) per name."""
        self.t += 1  # this step's number from 1: its rates are entry t - 1 of per-step rates
        if self.kind == "sgd":
            return {k: p - rate(self.lr, k, self.t - 1) * grads[k] for k, p in params.items()}
        b1, b2 = self.betas
        out = {}
        for k, p in params.items():
            g = grads[k]
            self.m[k] = b1 * self.m.get(k, torch.zeros_like(g)) + (1 - b1) * g
            self.v[k] = b2 * self.v.get(k, torch.zeros_like(g)) + (1 - b2) * g * g
            m_hat, v_hat = self.m[k] / (1 - b1**self.t), self.v[k] / (1 - b2**self.t)
            out[k] = p - rate(self.lr, k, self.t - 1) * m_hat / (v_hat.sqrt() + self.eps)
        return out


def fit_steps(
    loss: ParamLoss, params: Params, data: Sequence[torch.Tensor], steps: int, optimizer: BatchedOptimizer
) -> Iterator[tuple[int, Params]]:
    """Test-time fitting: B copies of the shared `params`, each fitted to its own signal's data (B, ...) by
    `optimizer` -> yields (s, weights after s steps (B, *shape)) for s = 0..steps (detached: nothing trains)."""
    b = data[0].shape[0]
    p = expand(params, b)
    step = vmap(grad(loss), in_dims=(0, *(0,) * len(data)))  # per-signal gradients, each at its own weights
    yield 0, p
    for s in range(1, steps + 1):
        g = step(p, *data)
        p = {k: v.detach() for k, v in optimizer.step(p, g).items()}
        yield s, p
