"""Writing a file atomically: a reader, or a run killed mid-write, sees the old file or the new one, never half."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a hidden temporary path beside `path` with its suffix (encoders that read the format from the name
    see it); when the block ends it is renamed over `path` (os.replace: atomic in one folder), and on an error
    it is removed and `path` is left as it was. The folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
