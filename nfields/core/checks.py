"""Value checks for config validation: each is (predicate, what is allowed), composable and declarative.

integer(lo=1)            an integer >= 1
number(gt=0)             a number > 0
number(ge=0, le=1)       a number in [0, 1]
one_of("a", "b")         one of a, b
nullable(integer(lo=1))  ... or null
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from nfields.core.errors import ConfigError


@dataclass(frozen=True)
class Check:
    ok: Callable[[Any], bool]
    allowed: str

    def __or__(self, other: Check) -> Check:
        return Check(lambda v: self.ok(v) or other.ok(v), f"{self.allowed} or {other.allowed}")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    bounds = [f">= {lo}" if lo is not None else "", f"<= {hi}" if hi is not None else ""]
    allowed = "an integer " + " and ".join(b for b in bounds if b) if lo is not None or hi is not None else "an integer"
    return Check(lambda v: is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi), allowed.strip())


def number(gt: float | None = None, ge: float | None = None, le: float | None = None) -> Check:
    if ge is not None and le is not None:
        allowed = f"a number in [{ge:g}, {le:g}]"
    elif gt is not None and le is not None:
        allowed = f"a number in ({gt:g}, {le:g}]"
    else:
        parts = [f"> {gt:g}" if gt is not None else "", f">= {ge:g}" if ge is not None else ""]
        allowed = ("a number " + " ".join(p for p in parts if p)).strip()

    def ok(v: Any) -> bool:
        return is_number(v) and (gt is None or v > gt) and (ge is None or v >= ge) and (le is None or v <= le)

    return Check(ok, allowed)


def one_of(*values: Any) -> Check:
    shown = ", ".join(dict.fromkeys(map(str, values)))  # 32 and "32" read the same on the command line
    return Check(lambda v: v in values and not isinstance(v, bool), f"one of {shown}")


def boolean() -> Check:
    return Check(lambda v: isinstance(v, bool), "true or false")


def string() -> Check:
    return Check(lambda v: isinstance(v, str) and v != "", "a non-empty string")


def nullable(check: Check) -> Check:
    return Check(lambda v: v is None or check.ok(v), f"{check.allowed}, or null")


POSITIVE_INT = integer(lo=1)
POSITIVE = number(gt=0)
NON_NEGATIVE = number(ge=0)


def check_arg(key: str, value: Any, check: Check) -> None:
    """A component checks its own argument when it is built: `network.n_neurons=-5: must be an integer >= 1`."""
    if not check.ok(value):
        raise ConfigError(key, value, f"must be {check.allowed}")


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt one (`fourire` -> fourier), or None: every did-you-mean uses this."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return close[0] if close else None
