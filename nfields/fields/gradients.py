"""Gradients of a scalar field with respect to its input coordinates: normals, eikonal terms |grad f| = 1.

    value, grad = value_and_input_gradient(field, x)     # (N, 1), (N, d); differentiable again
    eikonal = (grad.norm(dim=-1) - 1).abs().mean()       # trains by loss.backward(): a double backward

Every encoding and network of nfields is differentiable twice in its input (tests/test_input_gradients.py),
the grids too: given coordinates that require grad they gather their cells' corners and blend them by products
of the fractional weights (piecewise multilinear: the gradient jumps across cell faces, and its own derivative
along an axis is zero inside a cell). network=finer with scale_req_grad=false treats |x| + 1 as a constant, as
its paper's code does, so its input gradient is then not the derivative of the field.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def value_and_input_gradient(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, create_graph: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """fn (..., N, d) -> (..., N, 1) a scalar per point (a field, or `conditioned(field, codes)`); x (..., N, d)
    -> (fn(x) (..., N, 1), d fn / d x (..., N, d)).

    Each output depends on its own point alone (true of every field), so the gradient of the sum is each point's
    gradient, in one backward pass. `create_graph` (the default: training) keeps the graph of the gradient, so a
    loss on it trains the field; False for normals that are only looked at (rendering). Runs under no_grad too."""
    with torch.enable_grad():
        x = x if x.requires_grad else x.detach().requires_grad_()  # a fresh leaf: no kept features are reused
        y = fn(x)
        if y.shape[-1] != 1:
            raise ValueError(f"input gradient of a scalar field: fn must return (..., N, 1), got {tuple(y.shape)}")
        (grad,) = torch.autograd.grad(y.sum(), x, create_graph=create_graph, materialize_grads=True)
    return y, grad


def input_gradient(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, create_graph: bool = True
) -> torch.Tensor:
    """d fn / d x (..., N, d) of a scalar field at x (..., N, d): value_and_input_gradient without the value."""
    return value_and_input_gradient(fn, x, create_graph)[1]
