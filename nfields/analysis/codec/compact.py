"""A field's config in an .nfc header, short: per group, the option it starts from and what differs from it.

A run's field config is its groups' resolved nodes (field, encoding, network, cond, latent), a few hundred
bytes of class paths and constructor arguments that are mostly the options' own defaults. The header stores
each group as the name of an option under configs/<group>/ and the keys that differ from that option's YAML
(`"network": ["siren", {"n_neurons": 20, "n_hidden_layers": 5}]`; the bare name when nothing differs; a null
option and the whole node when no option is close). A key the option has and the config lacks is listed under
"~". The decoder rebuilds the full config from the same YAML files and checks it against the CRC-32 the encoder
took of the full config (`config_crc`), so a file written against other option defaults is refused, never
decoded into another field; the rebuilt config then meets the allowlist as any stored config does.
"""

from __future__ import annotations

import copy
import json
import zlib
from functools import lru_cache
from typing import Any

from omegaconf import OmegaConf

from nfields.analysis.codec.container import CodecFileError
from nfields.run.compose import CONFIGS
from nfields.run.options import NAME, option_names, package_of

GONE = "~"  # the key listing an option's keys the config does not have


@lru_cache(maxsize=64)
def option_node(group: str, name: str) -> dict[str, Any]:
    """configs/<group>/<name>.yaml's node for `group` as written (interpolations unresolved; no `defaults`)."""
    path = CONFIGS / group / f"{name}.yaml"
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    node = loaded if package_of(path, CONFIGS) == group else loaded.get(group, {})  # a _global_ option's group key
    return {k: v for k, v in (node or {}).items() if k != "defaults"}


def same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (30 and 30.0, 1 and True differ: the decoded config must be the same)."""
    return type(a) is type(b) and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def diff(base: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """What `apply(base, .)` needs to give `actual`: changed or new keys (nested dicts as their own diff)."""
    out: dict[str, Any] = {}
    for k, v in actual.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            sub = diff(base[k], v)
            if sub:
                out[k] = sub
        elif k not in base or not same(base[k], v):
            out[k] = v
    gone = [k for k in base if k not in actual]
    if gone:
        out[GONE] = gone
    return out


def apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k in changes.get(GONE, []):
        out.pop(k, None)
    for k, v in changes.items():
        if k != GONE:
            out[k] = apply(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def canonical(config: dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode("utf-8")


def config_crc(config: dict[str, Any]) -> int:
    return zlib.crc32(canonical(config))


def compact_group(group: str, node: dict[str, Any]) -> Any:
    """The shortest (option, diff) of `node` over the group's options; the whole node when none is closer."""
    best: Any = [None, node]
    for name in option_names(CONFIGS, group):
        changes = diff(option_node(group, name), node)
        if canonical(apply(option_node(group, name), changes)) != canonical(node):
            continue  # a node this diff cannot say (a key named "~"): another option or the whole node
        form = name if not changes else [name, changes]
        if len(json.dumps(form)) < len(json.dumps(best)):
            best = form
    return best


def compact_config(config: dict[str, Any]) -> dict[str, Any]:
    """{group: option | [option, diff] | [null, node]} for a field config {group: node}."""
    return {group: compact_group(group, node) for group, node in config.items()}


def expand_config(compact: Any, groups: tuple[str, ...], where: str) -> dict[str, Any]:
    """The full field config of a header's compact form (not yet judged: the allowlist is the caller's); refused
    in one line when a group or an option is not one of this nfields'."""
    if not isinstance(compact, dict) or not set(compact) <= set(groups):
        raise CodecFileError(f"{where}: the header's config is not {{group: option}} over {', '.join(groups)}")
    out: dict[str, Any] = {}
    for group, form in compact.items():
        pair = isinstance(form, list) and len(form) == 2 and isinstance(form[1], dict)
        if not (pair or isinstance(form, str)):
            raise CodecFileError(f"{where}: the header's {group} is neither an option nor [option, {{changes}}]")
        name, changes = form if pair else (form, {})
        known = option_names(CONFIGS, group)
        if not (name is None or isinstance(name, str) and NAME.fullmatch(name) and name in known):
            raise CodecFileError(f"{where}: {group}={name} is not an option of this nfields ({', '.join(known)})")
        out[group] = apply(option_node(group, name) if name else {}, changes)
    return out


def check_crc(config: dict[str, Any], crc: Any, where: str) -> None:
    """The rebuilt config is the one the file was written from (the same options' defaults), else one line."""
    if config_crc(config) != crc:
        raise CodecFileError(
            f"{where}: its config rebuilt from this nfields' options differs from the one it was written with "
            "(other option defaults); decode it with the nfields that wrote it"
        )
