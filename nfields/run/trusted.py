"""What a checkpoint's stored config may build: the `_target_`s nfields' own configs define, key by key.

A checkpoint is read with weights_only (no code runs from the file), but its stored run config is then
given to hydra.utils.instantiate, which imports and calls whatever `_target_` names: a stored
`encoding: {_target_: builtins.open, file: ~/.bashrc, mode: w}` would truncate that file when the
checkpoint is rendered. So before anything is imported or built, `check_stored_config`:

* accepts only plain values (dicts with string keys, lists, str, int, float, bool, null);
* refuses any `${...}`: a stored config is resolved (BaseModule stores to_container(resolve=True)),
  so an interpolation was not written by train.py, and resolving it would run resolvers (oc.env reads
  the environment) on the checkpoint's behalf;
* accepts a `_target_` in the subtrees that will be built (at any depth: nested kwargs, `_args_`
  lists, model.optimizer, ...) only if a YAML file under configs/, or under a config dir the caller
  names (the user's own options: the `hydra.searchpath` they trained with), defines it for the same
  top-level key: encodings come from what <dir>/encoding/*.yaml name, model.* from model/*.yaml plus
  the files in the global package that set model.* (network/siren.yaml's scheduler), and so on.

Why this rule: configs/ is nfields' registry of options (DESIGN.md: one option = one .py + one .yaml),
so a user's own encoding is trusted as soon as its YAML exists, with no second list to keep in sync
(out of the repository: once its config dir is named, as it was named to train it);
it needs no import to decide (a rule such as "a subclass of the slot's base under nfields." must
import the named module first, and would still let nfields.run.loggers.wandb_logger be an encoding);
and per top-level key, an allowed target cannot be moved to another slot (a Trainer as the encoding).
A target typed only on the command line (`encoding._target_=my.Enc`) is refused: the message says to
add a YAML for it. The search path is never read from the checkpoint or its run directory: they are the
data being judged (a planted folder beside it could define any target).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from nfields.core.errors import CheckpointError, ConfigError
from nfields.run.compose import CONFIGS
from nfields.run.options import config_files

PLAIN = (str, int, float, bool, type(None))
FIELD_KEYS = ("field", "encoding", "network", "cond", "latent")  # what build_field instantiates (load_field)
MODULE_KEYS = (*FIELD_KEYS, "model", "data", "task")  # and build_module / build_datamodule (load_checkpoint)


def target_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted path, mapping) of every mapping with a `_target_` key in a plain config tree, depth first."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield path, node
        for k, v in node.items():
            yield from target_nodes(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            yield from target_nodes(v, f"{path}[{i}]")


def search_dirs(searchpath: Sequence[str | Path]) -> tuple[Path, ...]:
    """Config dirs from Hydra search-path entries: `file://DIR`, `pkg://package.configs` or a plain DIR; a
    `[a,b]` list or `a,b` is split. One line for an entry that is not a folder."""
    entries = [e.strip() for item in searchpath for e in str(item).strip("[]").split(",") if e.strip()]
    dirs = []
    for entry in entries:
        if entry.startswith("pkg://"):  # a package's folder (its parent packages are imported to find it)
            try:
                spec = find_spec(entry[len("pkg://") :].replace("/", "."))
            except ImportError:  # a parent package is missing
                spec = None
            folders = list(spec.submodule_search_locations or []) if spec else []
            path = Path(folders[0]) if folders else Path(entry)
        else:
            path = Path(entry.removeprefix("file://")).expanduser()
        if not path.is_dir():
            raise ConfigError("searchpath", entry, "is not a folder of configs (<dir>/<group>/<option>.yaml)")
        dirs.append(path.resolve())
    return tuple(dirs)


def allowed_targets(dirs: Sequence[Path] = ()) -> dict[str, set[str]]:
    """{top-level key: the `_target_` strings the YAML files of configs/ and of the config dirs `dirs` define
    under it}."""
    allowed: dict[str, set[str]] = {}
    for configs in (CONFIGS, *dirs):
        for package, content in config_files(configs):  # read once per dir (cached)
            for path, node in target_nodes(content, package):
                if isinstance(node["_target_"], str):
                    allowed.setdefault(top_key(path), set()).add(node["_target_"])
    return allowed


def top_key(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def check_plain(node: Any, where: str, path: str = "") -> None:
    """Plain values only, and no `${...}` (stored configs are resolved; nothing is resolved again)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str | int) or isinstance(k, bool):
                raise CheckpointError(f"{where}: stored config key {path or '<root>'}.{k!r} is not a string")
            check_plain(v, where, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            check_plain(v, where, f"{path}[{i}]")
    elif isinstance(node, str):
        if "${" in node:
            raise CheckpointError(
                f"{where}: stored config {path}={node!r} is an interpolation; train.py stores resolved configs, "
                "so this checkpoint was edited: refusing to resolve or build it"
            )
    elif not isinstance(node, PLAIN):
        kind = type(node).__name__
        raise CheckpointError(f"{where}: stored config {path or '<root>'} holds a {kind}, not a plain value")


def plain_config(config: Any, where: str) -> dict[str, Any]:
    """`config` (a checkpoint's "nfields_config") if it is a mapping of plain values; else one line."""
    if config is None:
        raise CheckpointError(f"{where}: holds no nfields config; was it written by nfields' train.py?")
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: the stored config is a {type(config).__name__}, not a mapping")
    check_plain(config, where)
    return config


def check_stored_config(
    config: Any, where: str, keys: Sequence[str], searchpath: Sequence[str | Path] = ()
) -> dict[str, Any]:
    """Raise CheckpointError (one line: `where`, key path, target) unless `config` is safe to build.

    `keys`: the top-level keys the caller instantiates (FIELD_KEYS, MODULE_KEYS); their targets are
    checked. Other subtrees (callbacks, logger, trainer, hydra) are never built from a checkpoint, so a
    run's own `+callbacks.x._target_=...` does not stop it rendering; interpolations are refused
    everywhere, since building a module resolves the whole config. `searchpath`: the user's own config dirs
    (search_dirs), whose targets are allowed as configs/' are. Nothing the checkpoint names is imported or
    resolved here.
    """
    plain_config(config, where)
    allowed = allowed_targets(search_dirs(searchpath))
    for path, node in target_nodes({k: v for k, v in config.items() if k in keys}):
        slot, target = top_key(path), node["_target_"]
        ok = allowed.get(slot, set())
        if not isinstance(target, str) or target not in ok:
            known = ", ".join(sorted(ok)) or "none"
            raise CheckpointError(
                f"{where}: {path}._target_={target} is not a target nfields' configs define for {slot} "
                f"(allowed: {known}); refusing to build it (to allow your own class, add a YAML for it under "
                "configs/, or name the config dir that defines it: scripts/render.py --searchpath file://DIR)"
            )
    return config
