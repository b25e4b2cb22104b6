"""Shared by the scripts/bench*.py cases: timing a hand-written training step."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def time_steps(step: Callable[[], None], steps: int, device: str | torch.device, warmup: int = 5) -> float:
    """Seconds for `steps - warmup` calls of `step` after `warmup` untimed ones (GPU work synchronised)."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(steps - warmup):
        step()
    sync()
    return time.perf_counter() - t
