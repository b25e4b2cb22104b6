"""How a run ends on an error: one line on stderr and an exit code (nfields/core/errors.py), no traceback.

A user's mistake (exit 2) goes to nfields.core.echo.fail, as before Hydra composes (run/options.py, run/rundir.py);
this module adds what only a running job has: training stopped (exit 3, NaN in a multirun) and signals.

HYDRA_FULL_ERROR=1 re-raises for the full traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from lightning_fabric.utilities.exceptions import MisconfigurationException

from nfields.core.echo import echo, fail
from nfields.core.errors import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_TRAINING_STOPPED,
    EXIT_USER_ERROR,
    UserError,
    format_value,
    user_error_types,
)
from nfields.lit.callbacks.guards import interrupt_message

T = TypeVar("T")


PACKAGE = Path(__file__).resolve().parents[1]  # nfields/


def raised_in_nfields(e: BaseException) -> bool:
    """True when the innermost frame of `e` is nfields' own code: a bug there is no user's mistake."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


@contextmanager
def building(what: str = "") -> Iterator[None]:
    """Errors of constructors called inside the block as one line: nfields' own (ConfigError) unchanged, also
    out of Hydra's InstantiationException; a third party's ValueError, TypeError (through Hydra: a keyword its
    signature lacks) or Lightning's MisconfigurationException as a UserError with its message. Any other error
    raised in nfields' own code is a bug and keeps its traceback (HYDRA_FULL_ERROR=1 shows every one's)."""
    try:
        yield
    except user_error_types():
        raise
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, user_error_types()):
            raise cause from None
        if isinstance(cause, ValueError | TypeError | MisconfigurationException) and not raised_in_nfields(cause):
            raise UserError(f"{what}{cause}") from e
        raise
    except (ValueError, MisconfigurationException) as e:
        if raised_in_nfields(e):
            raise
        raise UserError(f"{what}{e}") from e


def report_errors(fn: Callable[..., T], *args: Any, batch_size: Any = None, **kwargs: Any) -> T | float:
    """Run fn; on a user error print one line and exit (HYDRA_FULL_ERROR=1: re-raise for the traceback)."""
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    try:
        return fn(*args, **kwargs)
    except BaseException as e:
        code, message = classify(e, batch_size)
        if code is None or full:
            raise
        if code == EXIT_USER_ERROR and isinstance(e, UserError):
            fail(e)  # a mistake in the config, data or checkpoint: the same line as before Hydra composes
        prefix = "" if code == EXIT_SIGINT else "Error: "  # Ctrl+C is the user's choice, not an error
        echo(f"\n{prefix}{message}", file=sys.stderr)  # training stopped: end the progress bar's line first
        if code == EXIT_TRAINING_STOPPED and in_multirun():
            return float("nan")  # one diverged trial must not end a sweep (Optuna marks a NaN trial failed)
        sys.exit(code)


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def classify(e: BaseException, batch_size: Any) -> tuple[int | None, str]:
    """(exit code, one-line message) for errors reported without a traceback; (None, '') otherwise."""
    if isinstance(e, user_error_types()):
        return getattr(e, "exit_code", EXIT_USER_ERROR), str(e).replace("\n", " ")
    if isinstance(e, torch.cuda.OutOfMemoryError):
        step = getattr(e, "nfields_step", None)  # set by the fault guard when it happened in a training step
        return EXIT_TRAINING_STOPPED, (
            f"CUDA out of memory{f' at step {step}' if step is not None else ''} with data.batch_size="
            f"{format_value(batch_size)}: try a smaller data.batch_size (e.g. data.batch_size=4096), a smaller "
            "data.size or network.n_neurons, or trainer.precision=bf16-mixed"
        )
    # Lightning answers Ctrl+C with sys.exit(1) inside its `except KeyboardInterrupt`: the interrupt is the context
    if isinstance(e, SystemExit) and isinstance(e.__context__, KeyboardInterrupt):
        e = e.__context__
    message = interrupt_message(e)
    if message is not None:
        return (EXIT_SIGINT if isinstance(e, KeyboardInterrupt) else EXIT_SIGTERM), message
    return None, ""
