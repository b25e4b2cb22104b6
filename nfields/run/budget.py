"""budget.params: size a representation to a number of trainable parameters, so methods compare at equal size.

The sized key is the representation's own (`budget_key` of its classes: encoding=grid's resolution,
encoding=hashgrid's log2_hashmap_size, else the network's n_neurons; a field class may declare one,
e.g. the Gaussians' count), or `budget.key`. Its value is the largest integer whose field has at most
budget.params parameters, found by building the field on the meta device (no memory, no time) with
an exponential then a binary search; parameter counts grow with every such key. The value is written
into the run config, so metrics.json (`model/params`), the stored config and checkpoints show what
was trained. A budget below the smallest field is refused in one line.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from nfields.core.checks import POSITIVE_INT, check_arg, is_int, nullable, string
from nfields.core.errors import ConfigError
from nfields.fields.base import Field, n_params

BuildField = Callable[..., Field]
SIZED_BY = ("field", "encoding", "network")  # the first of these whose class declares a budget_key is sized


def budget_key(cfg: DictConfig) -> str:
    """`budget.key`, or the representation's own sizing key (dotted)."""
    key = cfg.budget.get("key")
    if key is not None:
        return str(key)
    for group in SIZED_BY:
        node = cfg.get(group)
        target = node.get("_target_") if isinstance(node, DictConfig) else None
        own = get_class(target).budget_key if target else None  # Field, Encoding and FieldNetwork declare it
        if own is not None:
            return f"{group}.{own}"
    raise ConfigError(
        "budget.key", None, "this field has nothing to size: name the key, e.g. budget.key=network.n_neurons"
    )


def count_params(cfg: DictConfig, out_dim: int, build_field: BuildField, own_code: bool) -> int:
    with torch.device("meta"):  # shapes only: a 2^24-entry hash table costs nothing here
        field = build_field(cfg, out_dim=out_dim, own_code=own_code)
    return n_params(field)


def sized(cfg: DictConfig, out_dim: int, build_field: BuildField, own_code: bool = True) -> DictConfig:
    """cfg with its sizing key set to meet budget.params (cfg itself when there is no budget)."""
    budget = cfg.get("budget")
    target = budget.get("params") if isinstance(budget, DictConfig) else None
    if target is None:
        return cfg
    check_arg("budget.params", target, POSITIVE_INT)
    check_arg("budget.key", budget.get("key"), nullable(string()))
    key = budget_key(cfg)
    current = OmegaConf.select(cfg, key, default=None)
    if not is_int(current):
        raise ConfigError("budget.key", key, f"must name an integer key of this run (it holds {current!r})")
    out = copy.deepcopy(cfg)

    def params(v: int) -> int | None:
        """Parameters with key = v; None where the key refuses v (its own bound, e.g. log2_hashmap_size <= 30)."""
        OmegaConf.update(out, key, v)
        try:
            return count_params(out, out_dim, build_field, own_code)
        except Exception as e:  # hydra wraps a constructor's ConfigError in its InstantiationException
            if isinstance(e, ConfigError) or isinstance(e.__cause__, ConfigError):
                return None
            raise

    lo = next((v for v in range(1, 65) if params(v) is not None), None)  # the key's smallest allowed value
    if lo is None:
        raise ConfigError("budget.key", key, "refuses every value from 1 to 64: name another key to size")
    smallest = params(lo)
    if smallest > target:
        raise ConfigError("budget.params", target, f"is below the smallest field ({key}={lo}: {smallest} parameters)")
    hi = lo * 2  # params(lo) <= target; find hi with params(hi) > target (or refused)
    while (n := params(hi)) is not None and n <= target and hi < 2**31:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        n = params(mid)
        lo, hi = (mid, hi) if n is not None and n <= target else (lo, mid)
    OmegaConf.update(out, key, lo)
    return out
