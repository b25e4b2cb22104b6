"""Rate-distortion points: which field each (representation, size) of scripts/rd.py is, and the mean of its members.

A representation's size is one token, its capacity knob (docs/compression.md, "Rate-distortion curves"):

| rep | size token | field |
|---|---|---|
| siren | DxW (COIN's notation): D sine layers of width W | network=siren, n_hidden_layers=D, n_neurons=W |
| fourier | W: the MLP's width | encoding=fourier (64 features, sigma 10), network=mlp, 3 layers of width W |
| hashgrid | T: log2 of the hash table size per level | encoding=hashgrid (16 levels x 2 features), mlp 2 x 16 |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nfields.core.errors import ConfigError

# rep -> (fixed overrides, default size ladder)
FOURIER = ["encoding=fourier", "encoding.n_features=64", "network=mlp", "network.n_hidden_layers=3"]
HASHGRID = ["encoding=hashgrid", "network=mlp", "network.n_neurons=16", "network.n_hidden_layers=2"]
REPS: dict[str, tuple[list[str], list[str]]] = {
    "siren": (["network=siren"], ["5x20", "5x30", "10x28"]),  # COIN's three smallest architectures
    "fourier": (FOURIER, ["16", "32", "64"]),
    "hashgrid": (HASHGRID, ["8", "10", "12"]),
}


def size_overrides(rep: str, size: str) -> list[str]:
    """The train.py overrides of `rep` at `size` (its one capacity token); a bad token is one line."""
    if rep not in REPS:
        raise ConfigError("--reps", rep, f"must be one of {', '.join(REPS)}")
    parts = size.lower().split("x")
    if not all(p.isdigit() and int(p) > 0 for p in parts) or len(parts) != (2 if rep == "siren" else 1):
        want = "DxW (sine layers x width, e.g. 5x20)" if rep == "siren" else "one positive integer"
        raise ConfigError(f"--sizes {rep}", size, f"must be {want}")
    if rep == "siren":
        depth, width = parts
        knobs = [f"network.n_hidden_layers={depth}", f"network.n_neurons={width}"]
    elif rep == "fourier":
        knobs = [f"network.n_neurons={parts[0]}"]
    else:
        if not 4 <= int(parts[0]) <= 24:
            raise ConfigError(f"--sizes {rep}", size, "must be log2 of the table size, 4..24")
        knobs = [f"encoding.log2_hashmap_size={parts[0]}"]
    return [*REPS[rep][0], *knobs]


def parse_sizes(reps: Sequence[str], specs: Sequence[str]) -> dict[str, list[str]]:
    """--sizes items `rep=s1,s2` (a rep not named keeps its default ladder) -> rep -> sizes, each checked."""
    out = {rep: list(REPS[rep][1]) if rep in REPS else [] for rep in reps}
    for spec in specs:
        rep, eq, sizes = spec.partition("=")
        if not eq or rep not in out or not sizes:
            raise ConfigError("--sizes", spec, f"must be REP=S1,S2 with REP one of --reps ({', '.join(reps)})")
        out[rep] = sizes.split(",")
    for rep, sizes in out.items():
        for s in sizes:
            size_overrides(rep, s)  # every token checked before any training
    return out


def summarise(rep: str, size: str, bits: int, members: list[dict[str, Any]]) -> dict[str, Any]:
    """One point of the curve: the members' means (bpp, PSNR, times) and how many images they are."""
    keys = ("bpp", "bpp_coin", "psnr", "psnr_float", "bytes", "encode_s", "decode_s")
    mean = {k: float(np.mean([m[k] for m in members])) for k in keys}
    return {"rep": rep, "size": size, "bits": bits, "images": len(members), **mean, "members": members}
