"""Reading checkpoints safely (weights_only) and refusing ones from an incompatible config.

A checkpoint stores the resolved run config under "nfields_config". Resuming
(`ckpt_path=...`) or loading it is only meaningful when the groups that define the
model's parameters agree; otherwise Lightning fails deep inside load_state_dict
with a page of size mismatches. These checks say which key differs instead.

Resuming never builds the stored config: the run is built from its own config, and the stored
one is only compared (plain values, checked by trusted.plain_config). Loading a checkpoint alone
(build.load_field, load_checkpoint) builds it, so there trusted.check_stored_config allows only
the targets nfields' configs define.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from nfields.core.errors import CheckpointError
from nfields.fields.field import NeuralField
from nfields.run.trusted import plain_config

log = logging.getLogger("nfields")

# Subtrees of the config that define the model's parameters (missing ones are skipped).
MODEL_KEYS = ("field", "encoding", "network", "cond", "latent", "model.latent_dim", "model.latent_source")
# What a config from before the field group (no `field` node) was: field=neural.
OLDER_FIELD = {"_target_": f"{NeuralField.__module__}.{NeuralField.__qualname__}"}
IGNORED_LEAVES = ("seed",)  # encoding.seed: the Fourier matrix B is restored from the checkpoint anyway


def checkpoint_of(path: str | Path) -> Path:
    """A run directory -> its checkpoints/last.ckpt; a file as it is (read_checkpoint refuses a missing one)."""
    path = Path(path).expanduser()
    return path / "checkpoints" / "last.ckpt" if path.is_dir() else path


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """torch.load with weights_only=True (no arbitrary code from the file); clear errors naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"ckpt_path={path}: file not found (a run's checkpoint is <run dir>/checkpoints/last.ckpt)"
        )
    if path.is_dir():
        raise CheckpointError(f"ckpt_path={path}: is a folder; point to a file such as {path}/checkpoints/last.ckpt")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"ckpt_path={path}: cannot be read safely (weights_only): {first}") from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"ckpt_path={path}: not a readable checkpoint (truncated or corrupt?): {e}") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"ckpt_path={path}: not a Lightning checkpoint (no state_dict)")
    return ckpt


def flatten(node: Any, prefix: str) -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}.{k}"))
        return out
    return {prefix: node}


def model_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Flat {dotted key: value} of the settings that shape the model's parameters."""
    config = config if "field" in config else {**config, "field": OLDER_FIELD}
    out: dict[str, Any] = {}
    for key in MODEL_KEYS:
        node: Any = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            out.update(flatten(node, key))
    return {k: v for k, v in out.items() if k.rsplit(".", 1)[-1] not in IGNORED_LEAVES}


def check_resume_config(cfg: DictConfig, path: str | Path) -> None:
    """Before any work: the checkpoint exists, reads with weights_only, and its model config matches."""
    # only compared, never built or resolved: plain values suffice
    saved = plain_config(read_checkpoint(path).get("nfields_config"), f"ckpt_path={path}")
    roots = {key.split(".")[0] for key in MODEL_KEYS}
    current = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in roots if isinstance(cfg.get(k), DictConfig)}
    a, b = model_settings(saved), model_settings(current)
    for key in sorted(a.keys() | b.keys()):  # the first model setting that differs, by name
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            raise CheckpointError(
                f"ckpt_path={path}: incompatible checkpoint: it was trained with {key}={a.get(key, '<absent>')}, "
                f"this run has {key}={b.get(key, '<absent>')}; use the checkpoint's settings or start a new run"
            )


def state_dict_mismatch(own: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> str | None:
    """What differs between this run's state dict and a checkpoint's: the names first, then the first shape."""
    missing, extra = sorted(own.keys() - theirs.keys()), sorted(theirs.keys() - own.keys())
    if missing or extra:
        return f"missing parameters {missing[:3]}, unexpected {extra[:3]}"
    for name, t in own.items():
        if tuple(t.shape) != tuple(theirs[name].shape):
            return f"{name} is {tuple(theirs[name].shape)} there, {tuple(t.shape)} in this run"
    return None


def check_state_dict(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: str | Path) -> None:
    """Parameter names and shapes agree (a fallback for settings the config comparison does not cover)."""
    if why := state_dict_mismatch(module.state_dict(), state_dict):
        raise CheckpointError(f"ckpt_path={path}: incompatible checkpoint: {why}")


def check_resume_weights(cfg: DictConfig, module: torch.nn.Module) -> None:
    """With ckpt_path set: the built module can take the checkpoint's weights (before any training)."""
    path = cfg.get("ckpt_path")
    if path:
        check_state_dict(module, read_checkpoint(path)["state_dict"], path)


def requeued() -> bool:
    """True in a SLURM job that was requeued (preempted or timed out, then restarted)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0


def resume_requeued_job(cfg: DictConfig) -> None:
    """A requeued SLURM job continues from its own <run dir>/checkpoints/last.ckpt (and W&B run).

    SLURM (or submitit's requeue on timeout) restarts the same job in the same run directory; without
    this it would start again from step 0. An explicit ckpt_path always wins.
    """
    last = Path(str(cfg.run_dir)) / "checkpoints" / "last.ckpt"
    if requeued() and cfg.get("ckpt_path") is None and last.exists():
        with open_dict(cfg):
            cfg.ckpt_path = str(last)
        log.info(f"requeued SLURM job: resuming from {last}")
