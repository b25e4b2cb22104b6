"""MemberAdam (model=many's optimiser): each member's own torch.optim.Adam step, at its own lr, on real and complex
parameters, with a step count per tensor."""

from __future__ import annotations

import pytest
import torch

from nfields.lit.member_adam import MemberAdam


def test_member_adam_takes_each_members_adam_step_at_its_own_lr() -> None:
    torch.manual_seed(0)
    start, lrs = [torch.randn(5, 4) for _ in range(3)], [1e-3, 3e-3, 1e-2]
    stack = torch.nn.Parameter(torch.stack(start))
    alone = [torch.nn.Parameter(p.clone()) for p in start]
    opt = MemberAdam([{"params": [stack], "member_lr": torch.tensor(lrs)}], lr=1e-3)
    refs = [torch.optim.Adam([p], lr=lr) for p, lr in zip(alone, lrs, strict=True)]
    for _ in range(30):
        target = torch.randn(5, 4)
        opt.zero_grad()
        (stack - target).pow(3).sum().backward()
        opt.step()
        for p, ref in zip(alone, refs, strict=True):
            ref.zero_grad()
            (p - target).pow(3).sum().backward()
            ref.step()
    for m, p in enumerate(alone):
        torch.testing.assert_close(stack[m], p, atol=1e-6, rtol=1e-5)


def complex_and_real_loss(params: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """A real loss of a complex (.., 5, 4) and a real (.., 4) tensor, not a quadratic (Adam's scale matters)."""
    z, w = params
    return ((z - target).abs().pow(3) + (z.real * w.unsqueeze(-2)).pow(2)).sum()


@pytest.mark.parametrize("lrs", [[1e-2, 1e-2, 1e-2], [1e-3, 3e-3, 1e-2]])
def test_member_adam_steps_complex_parameters_as_torch_adam(lrs: list[float]) -> None:
    """Complex parameters: torch's Adam updates each real component (torch.view_as_real), its second moment
    is |g|^2 per component; a member stack of a complex and a real tensor ends where each member's torch Adam
    does, at one lr for all and at its own lr each. (g * g of a complex g rotates and mis-scales the step.)"""
    torch.manual_seed(0)
    start = [(torch.randn(5, 4, dtype=torch.cfloat), torch.randn(4)) for _ in range(3)]
    stack = [torch.nn.Parameter(torch.stack([s[i] for s in start])) for i in range(2)]  # (3, 5, 4) cfloat, (3, 4)
    alone = [[torch.nn.Parameter(t.clone()) for t in s] for s in start]
    opt = MemberAdam([{"params": stack, "member_lr": torch.tensor(lrs)}], lr=1e-2, weight_decay=0.1)
    refs = [torch.optim.Adam(p, lr=lr, weight_decay=0.1) for p, lr in zip(alone, lrs, strict=True)]
    for _ in range(30):
        target = torch.randn(5, 4, dtype=torch.cfloat)
        opt.zero_grad()
        complex_and_real_loss(stack, target).backward()
        opt.step()
        for p, ref in zip(alone, refs, strict=True):
            ref.zero_grad()
            complex_and_real_loss(p, target).backward()
            ref.step()
    for m, (z, w) in enumerate(alone):
        torch.testing.assert_close(stack[0][m], z, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(stack[1][m], w, atol=1e-6, rtol=1e-5)
        assert opt.state[stack[0]]["exp_avg_sq"].dtype == torch.cfloat  # state keeps the parameter's dtype


def test_member_adam_keeps_a_step_count_per_tensor() -> None:
    """A tensor with no gradient at a step takes no step and does not count it (torch's Adam: a step per tensor):
    b joins a's group after 3 steps without a gradient, so its bias correction starts from step 1."""
    torch.manual_seed(0)
    a0, b0 = torch.randn(2, 3), torch.randn(2, 4)
    ours, theirs = [torch.nn.Parameter(t.clone()) for t in (a0, b0)], [torch.nn.Parameter(t.clone()) for t in (a0, b0)]
    opt, ref = MemberAdam([{"params": ours}], lr=1e-2), torch.optim.Adam([{"params": theirs}], lr=1e-2)
    for step in range(8):
        for (a, b), o in ((ours, opt), (theirs, ref)):
            o.zero_grad(set_to_none=True)
            loss = (a - 1).pow(2).sum() + (0 if step < 3 else (b + 1).pow(2).sum() + (a.sum() * b.mean()))
            loss.backward()
            o.step()
    assert opt.state[ours[0]]["step"] == 8 and opt.state[ours[1]]["step"] == 5
    torch.testing.assert_close(ours[1], theirs[1], atol=1e-6, rtol=1e-5, msg="b, stepped from its own step 1")
    torch.testing.assert_close(ours[0], theirs[0], atol=1e-6, rtol=1e-5, msg="a")
