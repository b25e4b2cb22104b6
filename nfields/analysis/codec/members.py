"""The members of a model=many run as fields of their own, for the codec (one .nfc file per member).

A many-fields checkpoint stacks its members' tensors along a leading member axis, chunk by chunk
(nfields/fields/stack.py: `field.<k>.weights.<name with __>` and `field.<k>.state.<name with __>`, chunk k
holding the next (Mk, ...) members in members.csv order). Member m is rebuilt as the single run it stands for
would build its field (the stored config with m's swept values set), then filled with its slice of every
stacked tensor, so the codec sees exactly the weights that were trained. A buffer the config does not rebuild
bit for bit (a Fourier draw of another seed than the stored config's) is then stored exactly by the codec.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from nfields.analysis.codec.runs import Run
from nfields.core.errors import CheckpointError
from nfields.core.media import as_float
from nfields.fields.stack import mangle
from nfields.run.build import as_config, build_datamodule, build_field
from nfields.run.exits import building
from nfields.run.resume import checkpoint_of, read_checkpoint
from nfields.run.trusted import FIELD_KEYS, MODULE_KEYS, check_stored_config

SPEC = ("id", "image", "name", "seed", "lr")  # a member row's keys before its swept ones (nfields/lit/member.py)


def member_config(config: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The run's resolved config with the member's swept field keys set (model.lr changes no field)."""
    cfg = OmegaConf.create(copy.deepcopy(config))
    for key, value in row.items():
        if key not in SPEC and key.split(".")[0] in FIELD_KEYS:
            OmegaConf.update(cfg, key, value)
    return OmegaConf.to_container(cfg)  # type: ignore[return-value]


def stacked(state: dict[str, torch.Tensor], name: str, kind: str) -> list[torch.Tensor]:
    """Chunk 0, 1, ...'s stacked tensor (Mk, ...) for a field tensor `name`; kind 'weights' or 'state'."""
    out, k = [], 0
    while f"field.{k}.{kind}.{mangle(name)}" in state:
        out.append(state[f"field.{k}.{kind}.{mangle(name)}"])
        k += 1
    return out


def load_members(path: Path, searchpath: Sequence[str | Path] = ()) -> tuple[list[Run], list[dict[str, Any]]]:
    """A model=many run dir or checkpoint -> (each member as a Run, its members.csv row), in member order."""
    ckpt = checkpoint_of(path)
    meta = read_checkpoint(ckpt)  # weights_only
    rows, shape = meta.get("nfields_members"), meta.get("nfields_image_shape")
    if not rows or not shape:
        raise CheckpointError(f"{ckpt}: not a model=many checkpoint (no members); compress it with compress.py")
    config = check_stored_config(meta["nfields_config"], f"checkpoint {ckpt}", FIELD_KEYS, searchpath)
    config = OmegaConf.to_container(as_config(config), resolve=True)
    state, shape = meta["state_dict"], tuple(int(n) for n in shape)
    runs = []
    for m, row in enumerate(rows):
        cfg = member_config(config, row)
        with building(f"checkpoint {ckpt}, member {m}: "):
            field = build_field(as_config(cfg), out_dim=shape[-1], in_dim=len(shape) - 1)
        own, params = {}, dict(field.named_parameters())
        for name, t in field.state_dict().items():  # what the field saves (a non-persistent buffer is rebuilt)
            kind = "weights" if name in params else "state"
            chunks = stacked(state, name, kind)
            if not chunks:
                raise CheckpointError(f"{ckpt}: member {m}'s field has {name}, the checkpoint holds no stack of it")
            whole = torch.cat(chunks)  # (M, ...) in member order
            if whole.shape[0] != len(rows) or whole.shape[1:] != t.shape:
                raise CheckpointError(f"{ckpt}: {name} is stacked as {list(whole.shape)}, members need {list(t.shape)}")
            own[name] = whole[m]
        field.load_state_dict(own)
        domain = meta.get("nfields_domain") or "image"
        runs.append(Run(ckpt, field.eval(), shape, cfg, domain, meta.get("nfields_rate")))
    return runs, rows


def member_targets(path: Path, rows: list[dict[str, Any]], searchpath: Sequence[str | Path] = ()) -> list[torch.Tensor]:
    """Each member's signal (*grid, C) float in [0, 1], read again from the run's data as training read it."""
    ckpt = checkpoint_of(path)
    meta = read_checkpoint(ckpt)
    cfg = as_config(check_stored_config(meta["nfields_config"], f"checkpoint {ckpt}", MODULE_KEYS, searchpath))
    with building(f"checkpoint {ckpt}: reading its data: "):
        signals = {i: s for i, _, s in build_datamodule(cfg).member_images(sorted({int(r["image"]) for r in rows}))}
    return [as_float(signals[int(r["image"])]) for r in rows]
