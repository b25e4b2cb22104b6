"""User-facing errors: one line on stderr, a non-zero exit code, no traceback.

A mistake in the config or the data is not a bug, so `python train.py` reports it
as `Error: <key>=<value>: <what is allowed>` and exits; HYDRA_FULL_ERROR=1 shows
the full traceback instead. Exit codes (docs/reliability.md):

    2   bad config, data or checkpoint, found before training
    3   training stopped: the loss diverged (NaN/inf) or the device ran out of memory
        (in a multirun the job returns NaN instead, so the sweep goes on)
    143 stopped by SIGTERM (a checkpoint was saved first)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

EXIT_USER_ERROR = 2
EXIT_TRAINING_STOPPED = 3
EXIT_SIGTERM = 143


class UserError(Exception):
    """A mistake the user can fix; the message says what and how. Reported without a traceback."""

    exit_code = EXIT_USER_ERROR


class ConfigError(UserError, ValueError):
    """A config value or combination that is not allowed."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={format_value(value)}: {allowed}")


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, unreadable or from an incompatible config."""


class TrainingStopped(UserError, RuntimeError):
    """Training cannot go on (diverged, out of memory); the message names the step and a fix."""

    exit_code = EXIT_TRAINING_STOPPED


def format_value(value: Any) -> str:
    """How a value is typed on the command line: strings bare, None as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's to fix (ImageError comes from the data readers)."""
    from nfields.data.collection import DatasetMissing
    from nfields.data.io import ImageError

    return (UserError, ImageError, DatasetMissing)


@contextmanager
def building(what: str = "") -> Iterator[None]:
    """Turn bad-parameter errors raised while constructing run objects into UserErrors.

    Constructors (encodings, networks, data modules) raise ValueError naming the key,
    Lightning raises MisconfigurationException; Hydra wraps them in InstantiationException.
    Inside this block they become a UserError with the constructor's own message, so the
    user sees one line (HYDRA_FULL_ERROR=1 still shows where a ValueError came from).
    """
    from hydra.errors import InstantiationException
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        yield
    except user_error_types():
        raise
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, user_error_types()):
            raise cause from None
        if isinstance(cause, ValueError | TypeError | MisconfigurationException):
            raise UserError(f"{what}{cause}") from e
        raise
    except (ValueError, MisconfigurationException) as e:
        raise UserError(f"{what}{e}") from e


def out_of_memory_message(e: BaseException, batch_size: Any) -> str:
    step = getattr(e, "nfields_step", None)
    where = f" at step {step}" if step is not None else ""
    return (
        f"CUDA out of memory{where} with data.batch_size={format_value(batch_size)}: "
        "try a smaller data.batch_size (e.g. data.batch_size=4096), a smaller data.size or network.n_neurons, "
        "or trainer.precision=bf16-mixed"
    )


def report_errors(fn: Callable[..., T], *args: Any, batch_size: Any = None, **kwargs: Any) -> T | float:
    """Run fn; on a user error print one line and exit (HYDRA_FULL_ERROR=1: re-raise for the traceback)."""
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    try:
        return fn(*args, **kwargs)
    except BaseException as e:
        code, message = classify(e, batch_size)
        if code is None or full:
            raise
        newline = "\n" if code != EXIT_USER_ERROR else ""  # training errors: end the progress bar's line first
        print(f"{newline}Error: {message}", file=sys.stderr, flush=True)
        if code == EXIT_TRAINING_STOPPED and in_multirun():
            return float("nan")  # one diverged trial must not end a sweep (Optuna marks a NaN trial failed)
        sys.exit(code)


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def classify(e: BaseException, batch_size: Any) -> tuple[int | None, str]:
    """(exit code, one-line message) for errors reported without a traceback; (None, '') otherwise."""
    if isinstance(e, user_error_types()):
        return getattr(e, "exit_code", EXIT_USER_ERROR), str(e).replace("\n", " ")
    try:
        import torch

        if isinstance(e, torch.cuda.OutOfMemoryError):
            return EXIT_TRAINING_STOPPED, out_of_memory_message(e, batch_size)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    from nfields.callbacks.guards import interrupt_message

    message = interrupt_message(e)
    if message is not None:
        return EXIT_SIGTERM, message
    return None, ""
