"""Rate-distortion points: which field each (representation, size) of scripts/rd.py is, and the mean of its members.

A representation's size is one token, its capacity knob (docs/compression.md, "Rate-distortion curves"):

| rep | size token | field |
|---|---|---|
| siren | DxW (COIN's notation): D sine layers of width W | network=siren, n_hidden_layers=D, n_neurons=W |
| fourier | W: the MLP's width | encoding=fourier (64 features, sigma 10), network=mlp, 3 layers of width W |
| hashgrid | T: log2 of each level's table size | encoding=hashgrid (16 levels x 2 features), mlp 2 x 16, lr 1e-2 |
| wire | DxW: D Gabor layers, n_neurons W (complex width W / sqrt 2) | network=wire (omega_0 20, s_0 10) |
| finer | DxW: D FINER layers of width W | network=finer (w0 30) |
| grid | R: the dense grid's vertices per axis | encoding=grid (1 level x 4 features), network=linear, lr 1e-2 |
| gaussians | N: the number of 2-D Gaussians | field=gaussians (8 numbers each for RGB), lr 1e-2 |

Each representation trains at its own protocol's settings where they differ from model=many's (Adam, lr 1e-3,
cosine decay): `Rep.train` in the table below, the one place they are set (SIREN, WIRE and FINER bring theirs
with their network option; the learned grids and the Gaussians take the order of magnitude higher lr that
Instant-NGP, the grid's single-run default and GaussianImage's nfields field train at).

model=many stacks members of one field; every field above trains as members (field=gaussians one by one: its
tile culling has data-dependent shapes, so its members are not vmapped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nfields.core.errors import ConfigError


@dataclass(frozen=True)
class Rep:
    """A representation: its fixed overrides, its default ladder, what its token means and the knobs it sets, and
    the training overrides of its protocol (after the field's, before the command line's)."""

    fixed: tuple[str, ...]
    ladder: tuple[str, ...]
    knobs: tuple[str, ...]  # the keys a token's numbers set: two for DxW, one for a single number
    lo: int = 1  # the smallest value of the (last) number
    hi: int | None = None
    train: tuple[str, ...] = ()  # training settings its paper's protocol has and model=many's defaults do not


DEPTH_WIDTH = ("network.n_hidden_layers", "network.n_neurons")
FOURIER = ("encoding=fourier", "encoding.n_features=64", "network=mlp", "network.n_hidden_layers=3")
HASHGRID = ("encoding=hashgrid", "network=mlp", "network.n_neurons=16", "network.n_hidden_layers=2")
GRID = ("encoding=grid", "encoding.n_levels=1", "network=linear")
LR_1E2 = ("model.lr=1e-2",)
REPS: dict[str, Rep] = {
    "siren": Rep(("network=siren",), ("5x20", "5x30", "10x28"), DEPTH_WIDTH),  # COIN's three smallest
    "fourier": Rep(FOURIER, ("16", "32", "64"), ("network.n_neurons",)),
    # Instant-NGP's lr 1e-2 (configs/encoding/hashgrid.yaml), not model=many's 1e-3
    "hashgrid": Rep(HASHGRID, ("8", "10", "12"), ("encoding.log2_hashmap_size",), 4, 24, train=LR_1E2),
    "wire": Rep(("network=wire",), ("3x32", "3x48", "3x64"), DEPTH_WIDTH, 2),  # complex width int(W / sqrt 2) >= 1
    "finer": Rep(("network=finer",), ("5x20", "5x30", "10x28"), DEPTH_WIDTH),  # SIREN's parameter counts
    "grid": Rep(GRID, ("16", "32", "64"), ("encoding.resolution",), 2, train=LR_1E2),  # configs/encoding/grid.yaml's
    # field=gaussians sets lr 1e-2 itself (Adam; GaussianImage's Adan runs at 1e-3); written here to be seen
    "gaussians": Rep(("field=gaussians",), ("500", "1000", "2000"), ("field.n_gaussians",), train=LR_1E2),
}


def size_overrides(rep: str, size: str) -> list[str]:
    """The train.py overrides of `rep` at `size` (its one capacity token); a bad token is one line."""
    if rep not in REPS:
        raise ConfigError("--reps", rep, f"must be one of {', '.join(REPS)}")
    r = REPS[rep]
    parts = size.lower().split("x")
    if not all(p.isdigit() and int(p) > 0 for p in parts) or len(parts) != len(r.knobs):
        want = "DxW (layers x width, e.g. 5x20)" if len(r.knobs) == 2 else "one positive integer"
        raise ConfigError(f"--sizes {rep}", size, f"must be {want}")
    last = int(parts[-1])
    if last < r.lo or (r.hi is not None and last > r.hi):
        what = "log2 of the table size" if rep == "hashgrid" else f"{r.knobs[-1]}"
        raise ConfigError(f"--sizes {rep}", size, f"must be {what}, {r.lo}..{r.hi or 'any'}")
    return [*r.fixed, *(f"{k}={v}" for k, v in zip(r.knobs, parts, strict=True)), *r.train]


def parse_sizes(reps: Sequence[str], specs: Sequence[str]) -> dict[str, list[str]]:
    """--sizes items `rep=s1,s2` (a rep not named keeps its default ladder) -> rep -> sizes, each checked."""
    out = {rep: list(REPS[rep].ladder) if rep in REPS else [] for rep in reps}
    for spec in specs:
        rep, eq, sizes = spec.partition("=")
        if not eq or rep not in out or not sizes:
            raise ConfigError("--sizes", spec, f"must be REP=S1,S2 with REP one of --reps ({', '.join(reps)})")
        out[rep] = sizes.split(",")
    for rep, sizes in out.items():
        if rep not in REPS:  # named in --reps with no ladder: the same one line as a bad token
            size_overrides(rep, "")
        for s in sizes:
            size_overrides(rep, s)  # every token checked before any training
    return out


def summarise(rep: str, size: str, bits: int, members: list[dict[str, Any]]) -> dict[str, Any]:
    """One point of the curve: the members' means (bpp, PSNR, SSIM, times) and how many images they are."""
    keys = ("bpp", "bpp_coin", "psnr", "psnr_float", "ssim", "bytes", "encode_s", "decode_s")
    mean = {k: float(np.mean([m[k] for m in members])) for k in keys}
    return {"rep": rep, "size": size, "bits": bits, "images": len(members), **mean, "members": members}
