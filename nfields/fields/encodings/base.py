"""Encoding base classes.

Every encoding is an nn.Module with `in_dim` and `out_dim`, so the network can be
built from `encoding.out_dim` (dimensions are derived, never typed twice).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from nfields.core.checks import POSITIVE_INT, Check, check_arg


def check_in_dim(in_dim: int, check: Check = POSITIVE_INT) -> int:
    """encoding.in_dim, checked before an encoding sizes anything by it (B, a grid): coordinates per point."""
    check_arg("encoding.in_dim", in_dim, check)
    return in_dim


def precise(t: torch.Tensor) -> torch.dtype:
    """The dtype to compute phases and cell positions in for a module whose parameters are like `t`: theirs,
    never below fp32 (fp32 under mixed precision or bf16 weights; float64 after .double(), for gradient checks)."""
    return torch.promote_types(t.dtype, torch.float32)


NO_PENALTY = torch.zeros(())  # (): what an encoding without a penalty adds to the loss


class Encoding(nn.Module):
    """Maps coordinates (..., in_dim) to features (..., out_dim)."""

    # The constructor argument that sizes its trainable parameters, for budget.params (run/budget.py); None:
    # it has none (fixed features), so a parameter budget sizes the network instead.
    budget_key: ClassVar[str | None] = None
    # Its features are the raw coordinates u in [0, 1] (encoding=none): a network that takes the paper's
    # c = 2u - 1 (FieldNetwork.centered) gets them centred by the field.
    raw: ClassVar[bool] = False

    def __init__(self, in_dim: int = 2) -> None:
        super().__init__()
        self.in_dim = check_in_dim(in_dim)

    @property
    def out_dim(self) -> int:
        raise NotImplementedError

    def regularization(self) -> torch.Tensor:
        """A penalty on the encoding's own parameters added to the training loss () (the grid's total
        variation); the constant 0 here (one shared tensor: no allocation per step). The modules add
        NeuralField.regularization() to the data term when it requires grad."""
        return NO_PENALTY

    def keep(self, coords: torch.Tensor | None) -> None:
        """`coords` (N, in_dim) are the input of every training step (a full batch); None: no longer. An encoding
        whose features depend on the coordinates alone may compute them once (ProjectionEncoding); here nothing
        is kept (features with trainable parameters change every step)."""

    def check_input(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.in_dim:
            raise ValueError(
                f"{type(self).__name__} expects coordinates of shape (..., {self.in_dim}), got {tuple(x.shape)}"
            )


KEEP_MAX_BYTES = 2**28  # kept features at most 256 MiB (a 512^2 protocol's 65,536 x 512 floats are 128 MiB)


@dataclass
class KeptFeatures:
    """The features of one coordinate tensor, recomputed when it or B has changed as far as cheap checks can see.

    Valid while coords and B are the same tensors (`is`) with the same storage address (`data_ptr()`), shape,
    strides, dtype, device and `._version` as when the features were computed: a few attribute reads per step,
    no comparison of values and no host-device sync. That sees `t.data = other` (a new storage), any in-place
    op on the tensor itself (`with torch.no_grad(): B.mul_(2)`, `.copy_`, `load_state_dict`: the version
    changes) and `.to()` (another tensor). It cannot see an in-place write through the `.data` alias
    (`B.data.mul_(2)`, `x.data[0] = 1`): that bumps the version of a fresh alias only, so the old features
    are returned. Edit such tensors under torch.no_grad() instead, or drop the kept features afterwards
    (`field.keep_input(None)`, or the encoding's `keep(None)`, then keep them again)."""

    coords: torch.Tensor  # (N, in_dim): the very tensor every step passes
    features: torch.Tensor | None = None  # (N, out_dim) fp32, computed at the first forward of `coords`
    made_from: torch.Tensor | None = None  # the B they were computed with (another B object: recompute)
    stamps: tuple[tuple, tuple] | None = None  # (coords, B) stamps then
    # Aliases of the storages the features came from: kept alive, their addresses cannot be reused by a new
    # storage (after two `.data =` swaps, a data_ptr equal to the first one's would otherwise be possible)
    storages: tuple[torch.Tensor, torch.Tensor] | None = None

    def features_for(self, B: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """The features of `coords` with this B: the kept ones while still valid, else compute(coords)."""
        stamps = (stamp(self.coords), stamp(B))
        if self.features is None or self.made_from is not B or self.stamps != stamps:
            self.features, self.made_from, self.stamps = compute(self.coords), B, stamps
            self.storages = (self.coords.detach(), B.detach())
        return self.features


def stamp(t: torch.Tensor) -> tuple:
    """What can be read of a tensor without reading its numbers: storage address, layout, device, version."""
    return t.data_ptr(), t.shape, t.stride(), t.dtype, t.device, t._version


class ProjectionEncoding(Encoding):
    """gamma(v) = [cos(2 pi B v), sin(2 pi B v)] for a fixed matrix B (n_features, in_dim).

    basic, positional and Gaussian Fourier features differ only in how B is chosen
    (Tancik et al. 2020, Sec. 5). B is a buffer: saved in checkpoints, moved with
    the module, never trained. The phases are computed in fp32 even under autocast:
    with |B| ~ 100 and bf16's 8-bit mantissa the phase error would exceed 2 pi.

    The features of fixed coordinates are fixed: for the tensor given to `keep` (a full batch, the same every
    step) they are computed once and reused, the same numbers without the phases, cos, sin and concatenation
    of every step (autograd saves them for the first layer's backward anyway, so a step holds no more memory).
    """

    def __init__(self, B: torch.Tensor) -> None:
        super().__init__(in_dim=B.shape[1])
        self.register_buffer("B", B.float())  # (n_features, in_dim)
        self.kept: KeptFeatures | None = None  # a plain attribute: not in checkpoints

    @property
    def n_features(self) -> int:
        return self.B.shape[0]

    @property
    def out_dim(self) -> int:
        return 2 * self.n_features

    def keep(self, coords: torch.Tensor | None) -> None:
        big = coords is not None and coords.shape[0] * self.out_dim * 4 > KEEP_MAX_BYTES
        self.kept = None if coords is None or big or coords.requires_grad else KeptFeatures(coords)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The kept tensor's features, unless compiling (the graph computes them: it is traced, not run here)
        # or under inference mode (its tensors cannot be saved for a later backward)
        if not torch.compiler.is_compiling() and not torch.is_inference_mode_enabled():
            kept = self.kept
            if kept is not None and x is kept.coords:
                return kept.features_for(self.B, self.phase_features)
        return self.phase_features(x)

    def phase_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_dim) -> (..., 2 n_features) in fp32 whatever the autocast (float64 after .double())."""
        self.check_input(x)
        if torch.is_autocast_enabled(x.device.type):  # phases in fp32 under mixed precision
            with torch.autocast(device_type=x.device.type, enabled=False):
                return self.features(x.to(precise(self.B)))
        return self.features(x.to(precise(self.B)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_dim) fp32 (or float64) -> (..., 2 n_features). 2 pi scales B (n_features x in_dim numbers),
        not the phases (N x n_features): the same values to rounding, without a pass over every phase."""
        phase = x @ (self.B.to(x.dtype) * (2 * math.pi)).t()  # (..., n_features)
        if not ((phase.requires_grad and torch.is_grad_enabled()) or torch.compiler.is_compiling()):
            # No gradient reaches the phases (the usual case: fixed B, plain coordinates): both halves are written
            # into one tensor, without cat's second pass over every feature (a fifth of the encoding's time at 2^20
            # coordinates; a compiled graph fuses the cat itself). Values identical to the cat's. Under vmap
            # (model=many, meta-learning) out= has no batching rule: the cat below.
            n = phase.shape[-1]
            out = phase.new_empty(*phase.shape[:-1], 2 * n)  # (..., 2 n_features)
            try:
                torch.cos(phase, out=out[..., :n])
                torch.sin(phase, out=out[..., n:])
                return out
            except RuntimeError:
                pass
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)
