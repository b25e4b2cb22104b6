"""NeuralField: encoding -> network (-> optional conditioning on a latent code z)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

import torch
from torch import nn
from tqdm import tqdm

from nfields.core.coords import flat_cell_coords
from nfields.core.errors import ConfigError
from nfields.fields.base import Field
from nfields.fields.conditioning.base import Conditioning
from nfields.fields.encodings.base import Encoding
from nfields.fields.latents.base import Latent
from nfields.fields.networks.base import FieldNetwork


class NeuralField(Field):
    """field=neural: f(coords [, codes]) -> colours. The network's in_dim is read from the encoding, never typed.

    `network` is a partial (Hydra `_partial_: true`) completed here with
    in_dim = encoding.out_dim (+ the conditioning's extra input width), of which the first
    coord_dim = encoding.out_dim are coordinate features, and out_dim = the data's channel count.

    With a conditioning (cond != none), `cond` is a partial completed with the latent
    layout; the field is then evaluated on batches: coords (B, N, 2), codes (B, code_dim).
    `own_code=True` gives the field one learnable code of its own, used when no codes are
    passed: a single image fitted by a conditional field is a collection of one.
    """

    parts: ClassVar[tuple[str, ...]] = ("encoding", "network", "cond", "latent")

    def __init__(
        self,
        encoding: Encoding,
        network: Callable[..., FieldNetwork],
        out_dim: int,
        cond: Callable[..., Conditioning] | None = None,
        latent: Latent | None = None,
        own_code: bool = False,
    ) -> None:
        super().__init__(out_dim)
        self.encoding = encoding
        self.reuse = False  # inside reusing(): forwards on the same coordinates share their cond.inputs
        # what reusing() keeps: (coords as given, their cond.inputs, the coords' version); None outside it
        self.kept_inputs: tuple[torch.Tensor, torch.Tensor, int] | None = None
        self.latent: Latent | None = None
        self.code: nn.Parameter | None = None
        if cond is None:  # cond=none: latent settings are ignored
            self.network = network(in_dim=encoding.out_dim, out_dim=out_dim, coord_dim=encoding.out_dim)
            self.centered = encoding.raw and self.network.centered
            return
        if latent is None:
            raise ConfigError(
                "latent",
                None,
                "a conditional field (cond != none) needs a latent layout: choose one in configs/latent/",
            )
        if latent.local_dim and encoding.in_dim != 2:  # before grid_sample fails on the first batch
            raise ConfigError(
                "latent.grid_size",
                latent.grid_size,
                f"local codes are a 2-D grid (latent=local|hybrid) and the data has {encoding.in_dim}-D coordinates: "
                "use latent=global",
            )
        self.latent = latent
        self.cond = cond(latent=latent)
        in_dim = encoding.out_dim + self.cond.extra_in_dim  # [encoded coords, code] for concat
        self.network = network(in_dim=in_dim, out_dim=out_dim, coord_dim=encoding.out_dim)
        self.cond.build(self.network)
        self.centered = encoding.raw and self.network.centered  # c = 2u - 1 for the papers' networks (features)
        if own_code:
            self.code = nn.Parameter(torch.randn(1, latent.code_dim) / latent.code_dim**0.5)  # (1, code_dim)

    @property
    def code_dim(self) -> int:
        return self.latent.code_dim if self.latent is not None else 0

    def regularization(self) -> torch.Tensor:
        """The sum of its parts' penalties on their parameters, added to the training loss () (the encoding's:
        encoding=grid's total variation); 0 when none has one. It does not depend on the batch."""
        return self.encoding.regularization()

    def keep_input(self, coords: torch.Tensor | None) -> None:
        """The encoding keeps the features of these coordinates if they depend on nothing else (encoding=fourier,
        positional, basic: computed once, not every step). A conditional field reshapes its coordinates, so no."""
        if self.cond is None:
            self.encoding.keep(coords)

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        """The network's coordinate input: the encoding's features, centred to [-1, 1] for a network that takes
        the paper's raw coordinates (FieldNetwork.centered on encoding=none)."""
        x = self.encoding(coords)
        return 2.0 * x - 1.0 if self.centered else x

    @contextmanager
    def reusing(self) -> Iterator[None]:
        """Inside the block, the conditioning's code-independent input on a coordinates tensor (cond.inputs: the
        encoded coordinates; cond=film: the first layer's product on them; cond=concat: that of the first layer's
        and the skip's feature columns) is computed by its first forward and reused by later forwards of the same
        tensor (`is`, unchanged, codes of the same batch size): the passes of a meta step (k inner steps and the
        outer loss) on the same points compute it once. It stays in the
        step's graph, not detached, so a trainable encoding and the first layer get every pass's gradient; it is
        dropped at the end of the block, inside which the weights must not change (no optimiser step). A block
        inside another is the outer one's."""
        if self.reuse:
            yield
            return
        self.reuse = True
        try:
            yield
        finally:
            self.reuse, self.kept_inputs = False, None

    def cond_inputs(self, given: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """coords (B, N, d), reshaped from the forward's `given` -> cond.inputs of their features (B, N, .): the
        kept ones inside reusing(), else computed (and kept there, if computed with their graph)."""
        reuse = self.reuse and not torch.compiler.is_compiling()  # a traced forward computes them
        if reuse and self.kept_inputs is not None:
            was, inputs, version = self.kept_inputs
            if was is given and version == given._version and inputs.shape[:-1] == coords.shape[:-1]:
                return inputs
        inputs = self.cond.inputs(self.network, self.features(coords))
        if reuse and torch.is_grad_enabled():  # under no_grad they could not give a later pass gradients
            self.kept_inputs = (given, inputs, given._version)
        return inputs

    def forward(self, coords: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """coords (..., N, 2) in [0, 1]^2 -> colours (..., N, out_dim); conditional: (B, N, 2), (B, code_dim)."""
        if self.cond is None:
            return self.network(self.features(coords))
        given, single = coords, codes is None
        if single:
            if self.code is None:
                raise ValueError("this conditional field has no code of its own: pass codes (B, code_dim)")
            codes, coords = self.code, coords.reshape(1, -1, coords.shape[-1])  # a collection of one
        if coords.dim() == 2:
            coords = coords.unsqueeze(0).expand(codes.shape[0], -1, -1)  # one grid shared by every image
        out = self.cond(self.network, self.cond_inputs(given, coords), codes, coords)  # (B, N, out_dim)
        return out[0] if single else out


def render(
    fn: Callable[[torch.Tensor], torch.Tensor],
    h: int,
    w: int,
    chunk: int = 65536,
    device: torch.device | None = None,
    progress: bool = False,
    rows: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Evaluate a field on an h x w pixel grid in chunks -> (h, w, C) (rows = (lo, hi): (hi - lo, w, C))."""
    return render_grid(fn, (h, w), chunk, device, progress, rows)


@torch.no_grad()
def render_grid(
    fn: Callable[[torch.Tensor], torch.Tensor],
    shape: Sequence[int],
    chunk: int = 65536,
    device: torch.device | None = None,
    progress: bool = False,
    rows: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Evaluate a field on the cell centres of a grid of `shape` (n_1, ..., n_d) in chunks -> (*shape, C) on the
    field's device. `rows` = (lo, hi) renders only the slab [lo, hi) of array axis 0 (an image's rows, a
    video's frames, an audio clip's samples) -> (hi - lo, *shape[1:], C).

    Coordinates are generated chunk by chunk and written into one preallocated output, so memory beyond the
    result is bounded by `chunk` coordinates: a 2048^2 render needs no more activation memory than a 256^2
    one. `progress` shows a bar."""
    if chunk < 1:
        raise ValueError(f"render chunk must be >= 1, got {chunk} (model.render_chunk / --chunk)")
    shape = tuple(shape)
    lo, hi = rows if rows is not None else (0, shape[0])
    per = math.prod(shape[1:])  # cells in one index of axis 0
    first, n = lo * per, (hi - lo) * per  # C-order: the slab is one contiguous run of cell indices
    starts = range(0, n, chunk)
    if progress:
        starts = tqdm(starts, desc=f"render {'x'.join(map(str, shape))}", unit="chunk")
    out = None
    for s in starts:
        idx = torch.arange(first + s, first + min(s + chunk, n), device=device)  # (B,) C-order cell indices
        coords = flat_cell_coords(idx, shape)  # (B, d) cell centres
        y = fn(coords)  # (B, C)
        if out is None:
            out = torch.empty(n, y.shape[-1], dtype=y.dtype, device=y.device)
        out[s : s + y.shape[0]] = y
    return out.reshape(hi - lo, *shape[1:], -1)


def conditioned(field: Field, codes: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The field as a function of coordinates alone (what a task's forward model takes): coords (..., N, 2) ->
    colours (..., N, C), conditioned on `codes` (B, code_dim) when given (coords then (B, N, 2))."""
    return field if codes is None else (lambda coords: field(coords, codes))
