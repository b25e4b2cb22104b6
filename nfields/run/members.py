"""model=many: the members of a many-fields run, built from the config (`members.*`, docs/many_fields.md).

Members are every combination of members.images, members.seeds and the members.sweep lists. Each member's
field is built exactly as a single run with its seed and values would build it (same global seed, same
encoding draw), then members are stacked in chunks (fields/stack.py). A swept key that changes the fields'
tensor shapes, or that the field keeps outside its tensors (so stacked members could not differ in it), is
refused in one line before training.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from nfields.core.checks import is_int, is_number
from nfields.core.errors import ConfigError
from nfields.core.media import as_float
from nfields.data.grid import GridDataModule
from nfields.fields.base import Field
from nfields.fields.stack import FieldStack
from nfields.lit.member import Member
from nfields.run.resume import flatten
from nfields.tasks.base import Task

BUILT_PER_MEMBER = ("encoding.", "network.", "cond.", "latent.", "field.")  # what a member's field is built from
LR = "model.lr"
ALLOWED = "sweep encoding.*, network.* or model.lr (or use a Hydra multirun)"


def sweep_axes(cfg: DictConfig) -> list[tuple[str, list[float]]]:
    """The swept keys (dotted) and their values, in the config's order; each checked in one line."""
    sweep = cfg.members.get("sweep")
    values = flatten(OmegaConf.to_container(sweep, resolve=True), "") if sweep else {}  # {".network.w0": [..]}
    return [(key[1:], check_axis(cfg, key[1:], v)) for key, v in values.items() if v is not None]


def check_axis(cfg: DictConfig, key: str, values: Any) -> list[float]:
    name = f"members.sweep.{key}"
    if not isinstance(values, ListConfig | list) or len(values) == 0 or not all(is_number(v) for v in values):
        raise ConfigError(name, values, "must be a non-empty list of numbers, e.g. [5, 10, 20]")
    if key != LR and not key.startswith(BUILT_PER_MEMBER):
        raise ConfigError(
            name, list(values), f"cannot vary across members (they share data, task and trainer); {ALLOWED}"
        )
    current = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
    if current is None or isinstance(current, DictConfig | ListConfig) or not is_number(current):
        raise ConfigError(name, list(values), f"the run has no number {key} to vary; {ALLOWED}")
    return [float(v) if not is_int(v) else int(v) for v in values]


def member_seeds(cfg: DictConfig) -> list[int]:
    seeds = cfg.members.get("seeds", 1)
    if is_int(seeds) and seeds >= 1:
        return [int(cfg.seed) + i for i in range(int(seeds))]
    if isinstance(seeds, ListConfig | list) and seeds and all(is_int(s) and s >= 0 for s in seeds):
        return [int(s) for s in seeds]
    raise ConfigError("members.seeds", seeds, "must be a count >= 1 (seed, seed+1, ...) or a non-empty list of seeds")


def member_indices(cfg: DictConfig) -> list[int] | None:
    images = cfg.members.get("images")
    if images is None:
        return None
    if isinstance(images, ListConfig | list) and images and all(is_int(i) for i in images):
        return [int(i) for i in images]
    raise ConfigError("members.images", images, "must be null (every image of the set) or a non-empty list of indices")


@contextmanager
def member_values(cfg: DictConfig, values: dict[str, Any]) -> Iterator[DictConfig]:
    """cfg with `values` set in place (seed, swept keys) for building one member's field, restored after (a copy
    of the whole config per member is slow): a single run with those values would have this config."""
    saved = {}
    for key in values:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        saved[key] = OmegaConf.to_container(node, resolve=False)[leaf]  # "${...}" for an interpolation
    try:
        for key, v in values.items():
            OmegaConf.update(cfg, key, v)
        yield cfg
    finally:
        for key, v in saved.items():
            OmegaConf.update(cfg, key, v)


def build_members(
    cfg: DictConfig, dm: GridDataModule, build_field: Callable[..., Field], own_code: bool
) -> tuple[torch.nn.ModuleList, list[Member], list[torch.Tensor]]:
    """The members, their stacked fields (chunks) and each member's signal (*grid, C) (an image's (H, W, C)),
    aligned. `build_field` is run/build.py's (config -> field), passed in because build.py is the module that calls
    this one; each field takes the signal's d coordinates."""
    axes, seeds, images = sweep_axes(cfg), member_seeds(cfg), dm.member_images(member_indices(cfg))
    members, member_images, fields = [], [], []
    for (index, name, image), seed, *values in itertools.product(images, seeds, *[v for _, v in axes]):
        sweep = {k: v for (k, _), v in zip(axes, values, strict=True)}
        lr = float(sweep.get(LR, cfg.model.lr))
        members.append(Member(len(members), index, name, seed, lr, sweep))
        member_images.append(image)
        with member_values(cfg, {"seed": seed, **{k: v for k, v in sweep.items() if k != LR}}) as c:
            pl.seed_everything(seed, verbose=False)  # what a single run does before building its field
            fields.append(build_field(c, out_dim=int(image.shape[-1]), own_code=own_code, in_dim=image.dim() - 1))
    pl.seed_everything(cfg.seed, verbose=False)
    key, values = next(((f"members.sweep.{k}", v) for k, v in axes if k != LR), ("members", "the run's members"))
    chunk = chunk_size(cfg, fields[0], dm.task, member_images[0], len(fields))
    stacks, n = [], math.ceil(len(fields) / chunk)  # n chunks of at most `chunk`, as even as they divide
    bounds = [round(i * len(fields) / n) for i in range(n + 1)]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        part = fields[lo:hi]
        try:
            stack = FieldStack(part)
        except ValueError as e:
            raise ConfigError(key, values, f"changes the fields' tensor shapes ({e}); use a Hydra multirun") from e
        check_stacked(stack, part, key, values, dims=member_images[0].dim() - 1)
        stacks.append(stack)
    return torch.nn.ModuleList(stacks), members, member_images


@torch.no_grad()
def check_stacked(stack: FieldStack, fields: list[Field], key: str, values: Any, dims: int = 2) -> None:
    """The stacked members compute what each field computes alone, on a probe of coordinates of the data's `dims`
    axes (an image's 2): a value the field keeps outside its tensors (a Python float in forward) would be member
    0's for every member."""
    probe = torch.rand(64, dims, generator=torch.Generator().manual_seed(0))  # (64, d)
    got = stack(probe)  # (M, 64, C)
    for i, f in enumerate(fields):
        if not torch.allclose(got[i], f(probe), atol=1e-4, rtol=1e-3):
            raise ConfigError(
                key,
                values,
                f"member {i} differs when stacked: the field keeps this value outside its "
                "tensors, so stacked members cannot differ in it; use a Hydra multirun",
            )


def member_bytes(field: Field, task: Task, image: torch.Tensor, batch_size: int | None) -> int:
    """Memory one member needs for a training step (bytes), estimated from one forward of the field alone: the
    tensors autograd saves for backward (counted once per storage) x 1.5 for the step's transients, plus its
    parameters x 4 (weights, gradients, Adam's two moments)."""
    obs = task.observe(as_float(image))
    n = obs.values.shape[0]
    batch = obs.take(slice(0, n if batch_size is None else min(batch_size, n)))  # (B, ...) observations
    own = {p.untyped_storage().data_ptr() for p in [*field.parameters(), *field.buffers()]}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in own:
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        task.loss(field, batch)
    params = sum(p.numel() * p.element_size() for p in field.parameters())
    return int(1.5 * sum(seen.values()) + 4 * params)


def memory_budget(cfg: DictConfig) -> tuple[float, str]:
    """members.memory_gb, or by default 80% of the free GPU memory (CUDA) / half the available RAM (CPU)."""
    gb = cfg.members.get("memory_gb")
    if gb is not None:
        if not (is_number(gb) and gb > 0):
            raise ConfigError("members.memory_gb", gb, "must be a number > 0 (GB) or null (from the device)")
        return float(gb) * 1e9, "members.memory_gb"
    if on_cuda(cfg):
        return 0.8 * torch.cuda.mem_get_info()[0], "80% of the free GPU memory"
    return 0.5 * available_ram(), "half the available RAM"


def on_cuda(cfg: DictConfig) -> bool:
    """Whether the run trains on a GPU (trainer.accelerator auto|gpu|cuda with one present)."""
    return torch.cuda.is_available() and str(cfg.trainer.get("accelerator", "auto")) in ("auto", "gpu", "cuda")


def available_ram() -> float:
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
        return kb * 1024.0
    except (OSError, StopIteration, ValueError):
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def chunk_size(cfg: DictConfig, field: Field, task: Task, image: torch.Tensor, n: int) -> int:
    """Members per stack: members.chunk, or as many as the memory budget holds; on a CPU also at most
    members.cpu_chunk_mb of saved activations per stack: stacking is what makes small fields fast, but the
    batched kernels of large members run slower than one member's plain ones there (BENCHMARKS.md), and a
    stack of one runs its member without vmap."""
    chunk = cfg.members.get("chunk")
    if chunk is not None and not (is_int(chunk) and chunk >= 1):
        raise ConfigError("members.chunk", chunk, "must be an integer >= 1 or null (from members.memory_gb)")
    if not field.vectorizable:
        if chunk not in (None, 1):
            raise ConfigError(
                "members.chunk",
                chunk,
                f"must be 1 or null: {type(field).__name__}'s members cannot "
                "be stacked under vmap (its forward depends on its values); they train one by one",
            )
        chunk = 1
    need = member_bytes(field, task, image, cfg.data.get("batch_size"))
    budget, source = memory_budget(cfg)
    if need > budget:
        raise ConfigError(
            "members.memory_gb",
            f"{budget / 1e9:.3g}",
            f"one member needs about {need / 1e9:.3g} GB per step, "
            f"more than {source}: lower data.batch_size or data.size, or raise members.memory_gb",
        )
    if chunk is not None:
        return min(n, int(chunk))
    fits = max(1, math.floor(budget / need))
    mb = cfg.members.get("cpu_chunk_mb", 20)
    if not (is_number(mb) and mb > 0):
        raise ConfigError("members.cpu_chunk_mb", mb, "must be a number > 0 (MB of activations per CPU chunk)")
    return min(n, fits if on_cuda(cfg) else min(fits, max(1, math.floor(mb * 1e6 / need))))
