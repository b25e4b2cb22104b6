"""Quantisation-aware fine-tuning: a few steps with every parameter quantised in the forward pass.

Post-training quantisation (the default) rounds weights that were never trained to be rounded. Here each
step evaluates the field with its parameters replaced by their quantised values, q(w) = w + (Q(w) - w)
detached: the loss sees the quantised field and the gradient flows to w unchanged (straight-through).
Q is the encoder's own quantiser (uniform on the tensor's clipped range, recomputed each step, or fp16, or a
tensor's own from its scheme: GaussianImage's residual VQ of colours has its codebooks refitted each step),
the objective the MSE against the whole signal, and the weights kept are those whose quantised field had
the lowest loss, as COIN keeps its best-PSNR weights.
"""

from __future__ import annotations

import torch
from torch.func import functional_call

from nfields.analysis.codec.quantise import FP16, Spec, clip_range
from nfields.analysis.codec.schemes import tensor_specs
from nfields.analysis.codec.vq import rvq, rvq_values
from nfields.core.coords import cell_grid
from nfields.fields.base import Field


def fake_quantise(w: torch.Tensor, bits: int, spec: Spec | None = None) -> torch.Tensor:
    """w with its forward value quantised as the encoder would and its gradient passed straight through."""
    real = torch.view_as_real(w) if w.is_complex() else w
    bits = spec[1] if spec and spec[0] == "uniform" else bits
    if spec and spec[0] == "rvq":  # (G, C) rows: the encoder's codebooks and lookups
        books, idx = rvq(real.detach().double().cpu().numpy(), spec[1], spec[2])
        q = torch.from_numpy(rvq_values(books, idx)).to(real)
    elif bits == FP16 or spec and spec[0] == "fp16":
        q = real.detach().half().to(real.dtype)
    else:
        lo, hi = clip_range(real.detach().double().cpu().numpy(), bits)
        n, step = (1 << bits) - 1, (hi - lo) / ((1 << bits) - 1) if hi > lo else 0.0
        q = lo + torch.round((real.detach().clamp(lo, hi) - lo) / step) * step if step else torch.full_like(real, lo)
        q = q.clamp(lo, lo + n * step)
    out = real + (q - real).detach()
    return torch.view_as_complex(out) if w.is_complex() else out


def finetune(
    field: Field, target: torch.Tensor, bits: int, steps: int, lr: float = 1e-3, scheme: str = "auto"
) -> float:
    """Fine-tune `field` in place for `steps` Adam steps on `target` (*grid, C) in [0, 1]; returns the best
    quantised-forward MSE (its weights are left in the field)."""
    field.train()
    grid = tuple(target.shape[:-1])
    coords = cell_grid(grid).reshape(-1, len(grid))  # (N, d) cell centres, as the renderer lists them
    y = target.reshape(-1, target.shape[-1]).float()  # (N, C)
    params, specs = dict(field.named_parameters()), tensor_specs(field, scheme)
    opt = torch.optim.Adam(params.values(), lr=lr)
    best, best_state = float("inf"), None
    for _ in range(steps + 1):  # the last pass only scores the final update
        quantised = {n: fake_quantise(p, bits, specs.get(n)) for n, p in params.items()}
        loss = torch.mean((functional_call(field, quantised, (coords,)) - y) ** 2)
        if loss.item() < best:
            best, best_state = loss.item(), {k: v.detach().clone() for k, v in field.state_dict().items()}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    field.load_state_dict(best_state)
    return best
