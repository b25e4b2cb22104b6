"""MemberAdam: Adam over stacked members (M, ...) with a learning rate per member (model=many).

Adam is elementwise, so one Adam over the stacked parameters of M fields takes exactly the M
steps the fields would take alone. What it adds to torch.optim.Adam is a per-member factor on the
step: a param group's `member_lr` (M,) gives each member of its stacked tensors its own rate
(members.sweep.model.lr), as a factor member_lr / lr on the group's `lr`, which a scheduler still
moves. The update is torch's single-tensor Adam (torch/optim/adam.py, `_single_tensor_adam`), with
the step size broadcast over the member axis. As there, a complex tensor is updated as its real view
(..., 2): each real component has its own moments (|g|^2 per component, not the complex g * g), and
every tensor keeps its own step count (a tensor without a gradient at a step neither moves nor counts it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from nfields.core.checks import NON_NEGATIVE, POSITIVE, check_arg, number


class MemberAdam(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        check_arg("model.lr", lr, POSITIVE)
        check_arg("model.optimizer.eps", eps, POSITIVE)
        check_arg("model.optimizer.weight_decay", weight_decay, NON_NEGATIVE)
        for b in betas:
            check_arg("model.optimizer.betas", b, number(ge=0.0, le=1.0))
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "member_lr": None}
        super().__init__(params, defaults)
        for g in self.param_groups:  # (M,) member_lr / lr, fixed at the start: None when every member has lr
            m = g["member_lr"]
            scale = None if m is None else torch.as_tensor(m, dtype=torch.float32) / g["lr"]
            g["member_scale"] = None if scale is None or bool((scale == 1).all()) else scale

    @staticmethod
    def scale_for(group: dict[str, Any], p: torch.Tensor) -> torch.Tensor | None:
        """The group's per-member factor shaped to broadcast over p (M, ...) -> (M, 1, ..., 1); None: all 1."""
        s = group["member_scale"]
        if s is None:
            return None
        if s.shape[0] != p.shape[0]:
            raise ValueError(f"member_lr has {s.shape[0]} members, a parameter has {p.shape[0]}")
        return s.to(p.device).view(-1, *([1] * (p.dim() - 1)))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self.update(group, params)
        return loss

    def update(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        """One Adam step of the group's params, as torch's single-tensor Adam computes it, in foreach ops (one
        call per op for all the group's tensors: the stacked fields' steps are small, their count is not)."""
        beta1, beta2 = group["betas"]
        grads = [p.grad for p in params]
        if group["weight_decay"] != 0:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        states = [self.state[p] for p in params]
        for p, st in zip(params, states, strict=True):
            if not st:  # the moments keep the parameter's dtype (complex stays complex in the state dict)
                st["step"] = 0
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["step"] += 1
        # Complex (M, ...) -> real views (M, ..., 2), as torch's Adam: the moments are per real component.
        params, grads = [as_real(p) for p in params], [as_real(g) for g in grads]
        exp_avgs = [as_real(st["exp_avg"]) for st in states]
        exp_avg_sqs = [as_real(st["exp_avg_sq"]) for st in states]
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        steps = [st["step"] for st in states]  # one per tensor: a tensor may have missed steps (grad None)
        step_sizes = [group["lr"] / (1 - beta1**t) for t in steps]
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, [math.sqrt(1 - beta2**t) for t in steps])
        torch._foreach_add_(denom, group["eps"])
        scales = [self.scale_for(group, p) for p in params]
        if scales[0] is None:
            torch._foreach_addcdiv_(params, exp_avgs, denom, [-s for s in step_sizes])
        else:
            update = torch._foreach_div(exp_avgs, denom)
            torch._foreach_mul_(update, scales)  # each member's own lr / the group's
            torch._foreach_mul_(update, step_sizes)
            torch._foreach_sub_(params, update)


def as_real(t: torch.Tensor) -> torch.Tensor:
    """A complex tensor (...) as its real view (..., 2), sharing its storage; a real one as it is."""
    return torch.view_as_real(t) if t.is_complex() else t
