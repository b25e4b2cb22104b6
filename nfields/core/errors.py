"""User-facing errors: one line on stderr, a non-zero exit code, no traceback.

A mistake in the config or the data is not a bug, so `python train.py` reports it
as `Error: <key>=<value>: <what is allowed>` and exits; HYDRA_FULL_ERROR=1 shows
the full traceback instead. Exit codes (docs/reliability.md):

    2   bad config, data or checkpoint, found before training
    3   training stopped: the loss diverged (NaN/inf) or the device ran out of memory
        (in a multirun the job returns NaN instead, so the sweep goes on)
    130 stopped by Ctrl+C (SIGINT; a checkpoint was saved first): 128 + 2, as a shell reports it
    143 stopped by SIGTERM (a checkpoint was saved first)
"""

from __future__ import annotations

from typing import Any

EXIT_USER_ERROR = 2
EXIT_TRAINING_STOPPED = 3
EXIT_SIGINT = 130
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


class ImageError(UserError, ValueError):
    """A problem with an image file or its size: the message names the file and the fix."""


class DataError(UserError, ValueError):
    """A data file or folder (audio, video, volume) that cannot be read as asked: the message names the file
    and the fix."""


class DatasetMissing(UserError, FileNotFoundError):
    """Dataset files are absent: the message names the expected layout (or package) and the fix."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's to fix."""
    return (UserError,)
