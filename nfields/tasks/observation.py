"""Observation: what a task lets the model train on, for a grid signal of any dimension d.

A signal is a grid (*shape, C), shape = (n_1, ..., n_d) in array order: audio (T, C), image (H, W, C), video
(T, H, W, C), volume (D, H, W, C). Its cells sit at their centres in (0, 1)^d, coordinate k along array axis
d - 1 - k (nfields/core/coords.py: cell_grid, flat_cell_coords); for an image that is (u, v) = (column, row).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from nfields.core.coords import flat_cell_coords

Index = torch.Tensor | slice  # which observations: (B,) indices, or a slice


@dataclass
class Observation:
    """N observations of a grid signal (or, stacked, of B signals: a leading (B,) dim on values, coords, display).

    Observation i has the value values[i] and was taken at a point, in this order:
      coords[i]                          when coords is given (any point: superres's block centres), else
      the i-th True cell of train_mask   in C order (the order of `signal[train_mask]`): the observations are
                                         cells of the grid and their coordinates are implied (`points()`), so
                                         storage may keep cell indices or nothing.
    The field is measured at each point plus each offset of `footprint` (K, d), combined by the task's forward
    model (superres: the mean over the f^k full-resolution cell centres of a block); no footprint: at the point
    itself. A subset (`take`: a training batch) is measured exactly as the whole.
    """

    values: torch.Tensor  # (..., N, C) observed values: float, or uint8 levels for a task that accepts_uint8
    coords: torch.Tensor | None = None  # (..., N, d) where each was taken; None: implied by train_mask
    train_mask: torch.Tensor | None = None  # (*shape) bool: the observed cells, when they lie on the grid
    footprint: torch.Tensor | None = None  # (K, d) offsets from a point that its observation sees; None: the point
    display: torch.Tensor | None = None  # (..., *shape, C) the observation as a signal: panels, the encoder's input
    eval_mask: torch.Tensor | None = None  # (*shape) bool: cells scored by `test/*`; None = all
    val_mask: torch.Tensor | None = None  # (*shape) bool: cells scored by `val/*`; None = same as eval_mask
    baselines: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (*shape, C): `<stage>/psnr_<name>`

    def points(self) -> torch.Tensor:
        """(..., N, d) coordinates of the observations, rebuilt from train_mask (C order) when not stored:
        task=fit does not build the float grid of every cell (0.5 GB at 8192^2) unless it is used."""
        if self.coords is not None:
            return self.coords
        if self.train_mask is None:
            raise ValueError("this Observation has no points: give coords (N, d) or train_mask (*shape)")
        return flat_cell_coords(self.train_mask.flatten().nonzero().squeeze(1), self.train_mask.shape)

    def take(self, idx: Index) -> Observation:
        """A subset, measured with the same footprint (a training batch; coords stored, values float):
        observations idx (P,) (or a slice) of one signal, or idx (B, P) of each of B stacked signals."""
        values, coords = self.values, self.points()
        if values.dim() == 3 and isinstance(idx, torch.Tensor):  # stacked: P of each signal's own N
            pick = idx.unsqueeze(-1)  # (B, P, 1)
            d = coords.shape[-1]
            coords = torch.gather(coords.expand(values.shape[0], -1, -1), 1, pick.expand(-1, -1, d))  # (B, P, d)
            values = torch.gather(values, 1, pick.expand(-1, -1, values.shape[-1]))  # (B, P, C)
        else:
            values, coords = values[..., idx, :], coords[..., idx, :]
        values = values.float() / 255 if values.dtype == torch.uint8 else values
        return Observation(values, coords=coords, footprint=self.footprint)

    def for_scoring(self) -> Observation:
        """A copy without the observations themselves (values, coords): what evaluate() reads (masks,
        baselines) and the display, for a module whose storage holds the observed values on its device."""
        return replace(self, values=self.values[..., :0, :], coords=None)

    def clone(self) -> Observation:
        """A copy whose tensors are clones (under inference mode: normal tensors that autograd may save)."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        fields = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in fields.items()}
        fields["baselines"] = {k: v.clone() for k, v in self.baselines.items()}
        return Observation(**fields)

    def mask(self, stage: str) -> torch.Tensor | None:
        """The (*shape) bool mask scored at `stage` ('val' or 'test'); None = every cell."""
        return self.val_mask if stage == "val" and self.val_mask is not None else self.eval_mask

    @staticmethod
    def stack(each: list[Observation]) -> Observation:
        """The observations of B signals of one shape -> one of (B, N, ...): values, coords, display.
        Masks and baselines stay with each signal's own Observation (evaluate reads them per signal)."""
        first = each[0].footprint
        for o in each[1:]:
            same = (o.footprint is None) == (first is None) and (first is None or torch.equal(o.footprint, first))
            if not same:
                raise ValueError("observations of different footprints do not stack: the signals must share one size")
        display = torch.stack([o.display for o in each]) if each[0].display is not None else None
        return Observation(
            torch.stack([o.values for o in each]),
            coords=torch.stack([o.points() for o in each]),
            footprint=first,
            display=display,
        )


def split_mask(mask: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the True cells of a (*shape) bool mask into two disjoint random halves -> (val, test).

    With fewer than two cells both halves are the whole mask (nothing to split).
    """
    idx = mask.flatten().nonzero().squeeze(1)  # (M,)
    if idx.numel() < 2:
        return mask.clone(), mask.clone()
    idx = idx[torch.randperm(idx.numel(), generator=gen)]
    val, test = torch.zeros_like(mask).flatten(), torch.zeros_like(mask).flatten()
    val[idx[: idx.numel() // 2]] = True
    test[idx[idx.numel() // 2 :]] = True
    return val.view_as(mask), test.view_as(mask)
