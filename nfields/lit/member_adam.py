"""MemberAdam: Adam over stacked members (M, ...) with a learning rate per member (model=many).

Adam is elementwise, so one Adam over the stacked parameters of M fields takes exactly the M
steps the fields would take alone. What it adds to torch.optim.Adam is a per-member factor on the
step: a param group's `member_lr` (M,) gives each member of its stacked tensors its own rate
(members.sweep.model.lr), as a factor member_lr / lr on the group's `lr`, which a scheduler still
moves. The update is torch's single-tensor Adam (torch/optim/adam.py, `_single_tensor_adam`), with
the step size broadcast over the member axis.
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
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                exp_avg, exp_avg_sq, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = group["lr"] / (1 - beta1**t)
                denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])
                scale = self.scale_for(group, p)
                if scale is None:
                    p.addcdiv_(exp_avg, denom, value=-step_size)
                else:
                    p.sub_(exp_avg.div(denom).mul_(scale * step_size))
        return loss
