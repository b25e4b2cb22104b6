"""Check `group=option` arguments before Hydra composes: one line with the choices and a suggestion.

Hydra's own message for an unknown option is correct but long (it lists the config
search path). This check runs on the raw command line, imports nothing heavy, and
only judges arguments it fully understands (a group folder under configs/ and plain
option names, comma lists for multiruns, [a,b] lists); everything else is left to Hydra.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

from nfields.core.errors import EXIT_USER_ERROR

NAME = re.compile(r"[A-Za-z0-9_\-]+")


def option_names(configs: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (configs / group).glob("*.yaml"))


def unknown_option(arg: str, configs: Path) -> str | None:
    """The one-line error for `arg` if it selects an option that does not exist, else None."""
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
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {group}={close[0]}?)" if close else ""
            return f"Error: {group}={name}: unknown option; choose one of {', '.join(known)}{hint}"
    return None


def check_options(argv: list[str], configs: Path) -> None:
    """Exit with one line for the first unknown option on the command line."""
    if any(a.startswith(("--config-dir", "-cd", "--config-path", "-cp", "hydra.searchpath")) for a in argv):
        return  # options may come from another config dir: Hydra judges
    for arg in argv:
        message = unknown_option(arg, configs)
        if message:
            print(message, file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)
