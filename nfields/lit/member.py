"""A member of a many-fields run (model=many), its loss, its random batches, and the summary of the members' metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from nfields.tasks.base import Observation, Task


@dataclass(frozen=True)
class Member:
    """One field of a many-fields run: which image it fits, its seed and its swept values."""

    id: int
    image: int  # index of its image in the set (0 for data=image)
    name: str  # the image's name
    seed: int
    lr: float
    sweep: dict[str, float] = field(default_factory=dict)  # swept key -> this member's value

    def row(self) -> dict[str, Any]:
        """The member as a flat table row (members.csv): id, image, name, seed, lr, then each swept key."""
        out = asdict(self)
        return {**{k: v for k, v in out.items() if k != "sweep"}, **self.sweep}


def member_loss(task: Task) -> Callable[..., torch.Tensor]:
    """One member's (data term, penalty) -> (2,): what FieldModule.loss computes for one field, on its
    observations: coords (N, 2), values (N, C) and the footprint (K, 2) or None that every member shares."""

    def fn(
        field: nn.Module, coords: torch.Tensor, values: torch.Tensor, footprint: torch.Tensor | None
    ) -> torch.Tensor:
        data = task.loss(field, Observation(values, coords=coords, footprint=footprint))
        return torch.stack([data, field.regularization().to(data.dtype)])

    return fn


class MemberDraws:
    """Random batches of a many-fields run: each member draws the pixels its single run would (FieldModule.sample
    on one device, seed = the member's seed): one generator per distinct seed, one draw of `batch` of the `n`
    observed pixels a step, shared by the members of that seed. Every DDP rank makes the same draws."""

    def __init__(self, members: list[Member], n: int, batch: int | None, device: torch.device) -> None:
        seeds = sorted({m.seed for m in members})
        self.n, self.batch, self.device = n, batch, device
        self.samplers = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        self.seed_of = torch.tensor([seeds.index(m.seed) for m in members], device=device)  # (M,)

    def step(self) -> torch.Tensor | None:
        """This step's pixel indices per distinct seed (S, B), or None for a full batch."""
        if self.batch is None or self.batch >= self.n:
            return None
        shape = (self.batch,)
        return torch.stack([torch.randint(0, self.n, shape, device=self.device, generator=g) for g in self.samplers])

    def indices(self, drawn: torch.Tensor, members: range) -> torch.Tensor:
        """The step's draws (S, B) -> the pixel indices of `members` (Mk, B): each its seed's draw."""
        return drawn[self.seed_of[members.start : members.stop]]


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per-member metrics -> the mean of each key and its standard deviation over members (`<key>_std`;
    the sample std, 0 for one member). NaN members (diverged) make the mean NaN: nothing is hidden."""
    out: dict[str, float] = {}
    for key in rows[0]:
        v = torch.tensor([float(r[key]) for r in rows], dtype=torch.float64)
        out[key] = float(v.mean())
        out[f"{key}_std"] = float(v.std()) if len(rows) > 1 else 0.0
    return out
