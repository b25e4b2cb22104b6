"""echo(): print one console line and write it, time-stamped, to the run directory's train.log.

Hydra's job logging opens <run dir>/train.log as a file handler on the root logger; nfields prints its lines
(the start line, the progress lines without a terminal, the closing line, one-line errors) rather than logging
them, so without this the file stayed empty.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn, TextIO

from nfields.core.errors import UserError


def run_log() -> logging.Logger:
    """A logger writing only to the file handlers Hydra's job logging gave the root logger (<run dir>/train.log):
    the console already shows the line, so it must not reach the root's console handler a second time."""
    logger = logging.getLogger("nfields.console")
    logger.propagate, logger.handlers = False, []  # the root's file handlers of this job (a multirun opens one a job)
    logger.setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            logger.addHandler(handler)
    return logger


def echo(line: str, file: TextIO | None = None) -> None:
    """Print one console line (stdout unless `file`) and write it to train.log when Hydra's job log exists."""
    print(line, file=file or sys.stdout, flush=True)
    logger = run_log()
    if logger.handlers:
        logger.info(line.strip())


def fail(error: UserError) -> NoReturn:
    """The one way a user's mistake reaches the console: `Error: <one line>` on stderr (and train.log), then exit
    with the error's code. Used before Hydra composes (unknown options), in Hydra's run-dir callback and by
    nfields.run.exits.report_errors around the run."""
    echo(f"Error: {str(error).replace(chr(10), ' ')}", file=sys.stderr)
    sys.exit(error.exit_code)
