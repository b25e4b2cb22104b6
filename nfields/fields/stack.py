"""FieldStack: M independent fields of one structure, trained as one vectorised model (model=many).

The members' parameters and buffers are stacked along a leading member axis (M, ...) and one
template field is applied to all of them at once with torch.func (`functional_call` + `vmap`): a
linear layer of M members becomes one batched matrix product, so M small fields cost one kernel
per layer instead of M. Works for every field whose forward only reads its parameters and buffers
(every encoding and network nfields ships); `check_members` finds the ones that do not.

Members never share a gradient: the loss of a stack is the sum of its members' losses, and the
gradient of member m's loss with respect to member m's slice is exactly that of the field alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.utils._pytree import tree_map

MemberFn = Callable[..., torch.Tensor]  # fn(field, *args) -> a tensor for one member


def mangle(name: str) -> str:
    """A dotted parameter name as a key nn.ParameterDict accepts ("encoding.B" -> "encoding__B")."""
    return name.replace(".", "__")


def structure(field: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    """(name, shape, dtype) of every parameter and buffer: what members must share to be stacked."""
    named = [*field.named_parameters(), *field.named_buffers()]
    return [(k, tuple(v.shape), v.dtype) for k, v in named]


class _Apply(nn.Module):
    """Holds the template so functional_call can swap its tensors; forward runs `fn(field, *args)`."""

    def __init__(self, field: nn.Module) -> None:
        super().__init__()
        self.field = field

    def forward(self, fn: MemberFn, *args: Any) -> torch.Tensor:
        return fn(self.field, *args)


class FieldStack(nn.Module):
    """fields[0..M) stacked: `per_member(fn, *args)` runs fn(field_m, *args_m) for every member m."""

    def __init__(self, fields: Sequence[nn.Module]) -> None:
        super().__init__()
        if not fields:
            raise ValueError("a FieldStack needs at least one field")
        first = structure(fields[0])
        for i, f in enumerate(fields[1:], 1):
            if structure(f) != first:
                (name, shape, _), (_, shape0, _) = next(
                    (a, b) for a, b in zip(structure(f), first, strict=False) if a != b
                )
                raise ValueError(f"member {i}'s {name} is {list(shape)}, member 0's {list(shape0)}")
        self.n = len(fields)
        self.out_dim = fields[0].out_dim
        params, buffers = stack_module_state(list(fields))  # name -> (M, ...)
        self.param_names, self.buffer_names = list(params), list(buffers)
        self.weights = nn.ParameterDict({mangle(k): nn.Parameter(v) for k, v in params.items()})
        self.state = nn.Module()  # buffers (Fourier B, per-member w0, ...) saved with the weights
        for k, v in buffers.items():
            self.state.register_buffer(mangle(k), v.contiguous())
        # The template's own tensors are never read (functional_call swaps them): kept on the meta device,
        # and outside the module tree so it is neither saved nor moved. A tensor its forward reads that is
        # not a parameter or buffer fails loudly on meta instead of being silently shared.
        self._apply_fn = [_Apply(copy.deepcopy(fields[0])).to("meta")]

    @property
    def template(self) -> nn.Module:
        """The members' common structure (a field on the meta device: its tensors are never read)."""
        return self._apply_fn[0].field

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every stacked parameter and buffer under the template's names ("field.<name>") -> (M, ...)."""
        out = {f"field.{k}": self.weights[mangle(k)] for k in self.param_names}
        out.update({f"field.{k}": getattr(self.state, mangle(k)) for k in self.buffer_names})
        return out

    def per_member(
        self, fn: MemberFn, *args: Any, in_dims: tuple[int | None, ...] | None = None, members: slice | None = None
    ) -> Any:
        """fn(field_m, *args_m) for every member (or the `members` slice of them), vectorised -> outputs stacked
        along a leading member axis. `in_dims` says which args carry a member axis (0; sliced by the caller) and
        which are shared (None); default: all shared. Gradients reach only the members computed."""
        dims = (None,) * len(args) if in_dims is None else tuple(in_dims)
        template = self._apply_fn[0]
        tensors = self.tensors()
        if members is not None:
            tensors = {k: v[members] for k, v in tensors.items()}

        def one(t: dict[str, torch.Tensor], *a: Any) -> torch.Tensor:
            return functional_call(template, t, (fn, *a))

        if next(iter(tensors.values())).shape[0] == 1:  # one member: plain ops on views of its slices (no vmap,
            t = {k: v[0] for k, v in tensors.items()}  # whose batched kernels are slower for one large member)
            a = [arg[0] if d == 0 else arg for arg, d in zip(args, dims, strict=True)]
            return tree_map(lambda o: o.unsqueeze(0), one(t, *a))
        return vmap(one, in_dims=(0, *dims), randomness="different")(tensors, *args)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (N, 2) shared by every member, or (M, N, 2) one set each -> colours (M, N, C)."""
        return self.per_member(_call, coords, in_dims=(0 if coords.dim() == 3 else None,))

    def member(self, m: int) -> nn.Module:
        """Member m as a field of its own (a plain module holding a copy of m's tensors): to save or render alone."""
        tensors = self.tensors()
        device = next(iter(tensors.values())).device
        field = copy.deepcopy(self._apply_fn[0].field).to_empty(device=device)
        with torch.no_grad():
            for k, v in [*field.named_parameters(), *field.named_buffers()]:
                v.copy_(tensors[f"field.{k}"][m])
        return field


def _call(field: nn.Module, coords: torch.Tensor) -> torch.Tensor:
    return field(coords)
