"""Check `group=option` arguments before Hydra composes: one line with the choices and a suggestion.

Hydra's own message for an unknown option is correct but long (it lists the config
search path). This check runs on the raw command line, imports nothing heavy, and
only judges arguments it fully understands (a group folder under configs/ and plain
option names, comma lists for multiruns, [a,b] lists); everything else is left to Hydra.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nfields.core.checks import closest
from nfields.core.echo import fail
from nfields.core.errors import ConfigError
from nfields.run.compose import OPEN_NODE

NAME = re.compile(r"[A-Za-z0-9_\-]+")
PACKAGE_HEADER = re.compile(r"#\s*@package\s+(\S+)")


def option_names(configs: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (configs / group).glob("*.yaml"))


def unknown_option(arg: str, configs: Path) -> ConfigError | None:
    """The error for `arg` if it selects an option that does not exist, else None."""
    if "=" not in arg or arg.startswith("-"):
        return None
    key, value = arg.split("=", 1)
    group = key.lstrip("+~")
    if not group or "." in group or "/" in group or not (configs / group).is_dir():
        return None
    names = value[1:-1].split(",") if value.startswith("[") and value.endswith("]") else value.split(",")
    if not all(NAME.fullmatch(n.strip()) for n in names):  # sweeps such as choice(...), interpolations: Hydra's
        return None
    known = option_names(configs, group)
    for name in (n.strip() for n in names):
        if name not in known and name != "null":
            close = closest(name, known)
            hint = f" (did you mean {group}={close}?)" if close else ""
            return ConfigError(group, name, f"unknown option; choose one of {', '.join(known)}{hint}")
    return None


def package_of(path: Path, configs: Path) -> str:
    """The package (dotted config path) a YAML file's content lands at: `# @package` or its group."""
    group = ".".join(path.relative_to(configs).parent.parts)
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        m = PACKAGE_HEADER.match(line)
        if m:
            parts = m.group(1).split(".")
            head = {"_global_": [], "_group_": group.split(".") if group else []}.get(parts[0], parts[:1])
            return ".".join(head + parts[1:])
    return group


@lru_cache(maxsize=8)
def config_files(configs: Path) -> tuple[tuple[str, Any], ...]:
    """(package, content) of every YAML file under `configs`, sorted: where its keys land and what it holds."""
    return tuple((package_of(p, configs), yaml.safe_load(p.read_text())) for p in sorted(configs.rglob("*.yaml")))


@lru_cache(maxsize=4)
def config_keys(configs: Path) -> dict[str, set[str]]:
    """{dotted node: its child keys} over every YAML file under `configs` ('' is the top level): the union over
    all options, so a key is unknown here only when no option of any group defines it. A group's file adds
    its keys under the group (hydra/launcher/slurm.yaml under hydra.launcher), a `_global_` one at the top."""
    tree: dict[str, set[str]] = {"": {p.name for p in configs.iterdir() if p.is_dir()} | {"hydra"}}

    def add(node: object, path: str) -> None:
        if not isinstance(node, dict):
            return
        children = tree.setdefault(path, set())
        for k, v in node.items():
            if isinstance(k, str) and k != "defaults":
                children.add(k)
                add(v, f"{path}.{k}" if path else k)

    for package, content in config_files(configs):
        if package:
            for i, part in enumerate(package.split(".")):  # the group's own node exists under its parent
                tree.setdefault(".".join(package.split(".")[:i]), set()).add(part)
        add(content or {}, package)
    return tree


def open_nodes(configs: Path) -> frozenset[str]:
    """The dotted keys a config opens with `/nfields/open@<key>` in its defaults: any key below them is valid."""
    found = set()
    for _, content in config_files(configs):
        for entry in (content or {}).get("defaults") or []:
            if isinstance(entry, str) and entry.startswith(f"{OPEN_NODE}@"):
                found.add(entry.split("@", 1)[1])
    return frozenset(found)


def unknown_key(arg: str, configs: Path) -> ConfigError | None:
    """The error for `arg` if it names a top-level key or group no config defines (with or without
    `+`; Hydra would suggest `+key=...`, which then trains with a stray key), or a nested key typed without
    `+` that no config defines but a close one does (`model.lrr` -> model.lr). Else None (Hydra judges;
    nested `+key` additions are judged by the unknown-key check in nfields/run/validate.py)."""
    if "=" not in arg or arg.startswith("-"):
        return None
    key, value = arg.split("=", 1)
    name, added = key.lstrip("+~"), key.startswith("+")
    tree = config_keys(configs)
    top = re.split(r"[./]", name, maxsplit=1)[0]
    if not NAME.fullmatch(top):
        return None
    if top not in tree[""]:
        close = closest(top, tree[""])
        hint = f" (did you mean {name.replace(top, close, 1)}={value}?)" if close else ""
        return ConfigError(name, value, f"unknown key or config group{hint}; known: {', '.join(sorted(tree['']))}")
    if added or "/" in name or top == "hydra" or "." not in name:
        return None
    if any(name.startswith(f"{node}.") for node in open_nodes(configs)):
        return None  # members.sweep.<any key>: judged by the code that reads it
    parent, leaf = name.rsplit(".", 1)
    if parent not in tree or leaf in tree[parent]:
        return None
    close = closest(leaf, tree[parent])
    return ConfigError(name, value, f"unknown key (did you mean {parent}.{close}?)") if close else None


def check_options(argv: list[str], configs: Path) -> None:
    """Exit with one line for the first unknown option or key on the command line."""
    if any(a.startswith(("--config-dir", "-cd", "--config-path", "-cp", "hydra.searchpath")) for a in argv):
        return  # options may come from another config dir: Hydra judges
    for arg in argv:
        error = unknown_option(arg, configs) or unknown_key(arg, configs)
        if error:
            fail(error)
