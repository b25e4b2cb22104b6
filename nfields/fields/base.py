"""Field: what every field is to the rest of nfields (field=neural|gaussians): coords -> colours.

The modules, tasks, render and checkpoints need only this interface: `forward(coords (..., N, 2))
-> (..., N, out_dim)`, `out_dim`, `regularization()` (added to the training loss), `cond` (None unless
the field is conditioned on latent codes) and `code_dim`. How a field is made is its own: the builder
(nfields/run/build.py) instantiates the config's `field` node by its `_target_` and passes, by name,
the other config groups the class lists in `parts` (NeuralField: encoding, network, cond, latent).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import ClassVar

import torch
from torch import nn

from nfields.fields.conditioning.base import Conditioning


def n_params(module: nn.Module) -> int:
    """Trainable real numbers of a module: a complex entry (network=wire) is two, as in memory and as torch's Adam
    updates it, so a size reported or budgeted compares real and complex networks by what they store."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters() if p.requires_grad)


class Field(nn.Module):
    """f(coords) -> values at the cell-centre coordinates (0, 1)^d of nfields/core/coords.py (images: d = 2)."""

    parts: ClassVar[tuple[str, ...]] = ()  # config groups the builder builds and passes to __init__ by name
    in_dims: ClassVar[tuple[int, ...] | None] = None  # the coordinate widths d it is defined for; None: any
    # The constructor argument budget.params sizes (run/budget.py); None: its parts are sized instead
    # (NeuralField: the encoding's, else the network's).
    budget_key: ClassVar[str | None] = None
    # Whether model=many may stack members of this field under torch.func.vmap; a field whose forward depends on
    # its values (the Gaussians' culling) trains its members one by one there (FieldStack without vmap).
    vectorizable: ClassVar[bool] = True

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim  # the data's channel count (derived by the builder, never typed)
        self.cond: Conditioning | None = None  # conditional fields set their conditioning here

    @property
    def code_dim(self) -> int:
        """Numbers per latent code the field is conditioned on; 0: not conditional."""
        return 0

    def regularization(self) -> torch.Tensor:
        """A penalty on the field's own parameters added to the training loss (); the constant 0 here."""
        return torch.zeros(())

    def keep_input(self, coords: torch.Tensor | None) -> None:
        """coords (N, 2): the input of every training step from now on (a full batch); None: no longer. A field
        may keep what depends on them alone (NeuralField: fixed features); here nothing is kept."""

    def reusing(self) -> AbstractContextManager[None]:
        """A block whose forwards on the same coordinates may share what does not depend on the codes (one
        training step's passes: NeuralField computes the conditioning's input once); here nothing is shared."""
        return nullcontext()

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (..., N, 2) in [0, 1]^2 -> colours (..., N, out_dim)."""
        raise NotImplementedError
