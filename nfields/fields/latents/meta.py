"""model.latent_source=meta: codes fitted by a few meta-learned SGD steps from zero (CAVIA, meta-SGD; functa).

Every signal's code starts at zero and takes `model.inner_steps` steps of SGD on the task's own loss for that
signal, z <- z - alpha * dL/dz, with learned step sizes alpha (meta-SGD: one per code entry, or one shared),
clamped to `step_range`. Training backpropagates the loss of the adapted codes through those steps into the
shared network and the step sizes (second order), or treats each inner gradient as a constant
(`model.first_order=true`: cheaper; the step sizes still learn). Unseen signals get the same steps.

The source knows no field and no task: the lit module hands it the batch's loss as a function of the codes, the
sum over the signals of each one's own loss through the field's weights. Signals share the weights and never
each other's code, so the gradient of that sum with respect to the codes (B, code_dim) is, row by row, each
signal's own dL_b/dz_b: one forward and one backward of every signal's points at once through the shared
weights (a large matrix product per layer), with no Python loop over signals and no vmap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import nn

from nfields.core.checks import POSITIVE, Check, boolean, check_arg, integer, is_number, one_of
from nfields.fields.latents.source import LatentSource

# loss(codes (B, code_dim), *data (B, ...)) -> (): the sum over the B signals of each one's task loss, signal b's
# depending on codes[b] alone, through the field's own weights (lit/tto.py: batch_loss)
BatchLoss = Callable[..., torch.Tensor]

RANGE = Check(
    lambda v: isinstance(v, Sequence) and len(v) == 2 and all(map(is_number, v)) and 0 <= v[0] < v[1],
    "two numbers [lo, hi] with 0 <= lo < hi",
)


class MetaSource(LatentSource):
    inner_loop: ClassVar[bool] = True

    def __init__(
        self,
        code_dim: int,
        n_train: int,
        channels: int,
        inner_steps: int = 3,
        first_order: bool = False,
        step_sizes: str = "entry",
        step_init: float = 1e-2,
        step_range: Sequence[float] = (0.0, 1.0),
    ) -> None:
        super().__init__(code_dim, n_train, channels)
        check_arg("model.inner_steps", inner_steps, integer(lo=1))
        check_arg("model.first_order", first_order, boolean())
        check_arg("model.sources.meta.step_sizes", step_sizes, one_of("entry", "shared"))
        check_arg("model.sources.meta.step_init", step_init, POSITIVE)
        check_arg("model.sources.meta.step_range", list(step_range), RANGE)
        lo, hi = float(step_range[0]), float(step_range[1])
        inside = Check(lambda v: lo <= v <= hi, f"a number in step_range {[lo, hi]}")
        check_arg("model.sources.meta.step_init", step_init, inside)
        self.inner_steps, self.first_order, self.step_range = inner_steps, first_order, (lo, hi)
        n = code_dim if step_sizes == "entry" else 1
        self.step_sizes = nn.Parameter(torch.full((n,), float(step_init)))  # (code_dim,) | (1,): meta-SGD's alpha

    def alpha(self) -> torch.Tensor:
        """The step sizes as used, clamped to step_range -> (code_dim,) | (1,) (no gradient where clamped)."""
        return self.step_sizes.clamp(*self.step_range)

    def init_codes(self, seen: torch.Tensor) -> torch.Tensor:
        return seen.new_zeros(seen.shape[0], self.code_dim, dtype=self.step_sizes.dtype)  # (B, code_dim)

    def forward(self, idx: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The codes before any inner step: zero for every signal (B, code_dim)."""
        return self.init_codes(images)

    def adapt(
        self,
        loss: BatchLoss,
        data: Sequence[torch.Tensor],
        steps: int | None = None,
        first_order: bool | None = None,
        keep: Sequence[int] = (),
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """`steps` (default inner_steps) meta-SGD steps from zero codes on `loss`, each signal on its own data.

        data: tensors (B, ...) whose rows are the signals' (values (B, N, C), coords (B, N, d)) -> codes
        (B, code_dim) after `steps`, with their graph to the field's weights and the step sizes, and
        {s: codes after s steps} for s in `keep` (evaluation curves; detached).

        Each step's gradient is that of the summed loss with respect to the codes: row b is dL_b/dz_b, since no
        other signal's loss depends on z_b. Second order keeps its graph (create_graph: the outer loss
        backpropagates through it into the weights); first order takes it without one, at detached codes, so it
        is a constant of the outer loss (the codes keep their graph to the step sizes only)."""
        steps = self.inner_steps if steps is None else steps
        first = self.first_order if first_order is None else first_order
        b = data[0].shape[0]
        codes = data[0].new_zeros(b, self.code_dim, dtype=self.step_sizes.dtype)  # (B, code_dim): start at zero
        alpha = self.alpha()
        kept = {0: codes.detach()} if 0 in keep else {}
        graph = not first and torch.is_grad_enabled()  # under no_grad (a render) nothing backpropagates
        for s in range(1, steps + 1):
            # where the step differentiates: the codes with their graph (second order), else a fresh leaf
            z = codes if graph and codes.requires_grad else codes.detach().requires_grad_(True)
            with torch.enable_grad():  # the inner gradient is needed even where the caller renders under no_grad
                (g,) = torch.autograd.grad(loss(z, *data), z, create_graph=graph)  # (B, code_dim)
            codes = (z if graph else codes) - alpha * g  # (B, code_dim)
            if s in keep:
                kept[s] = codes.detach()
        return codes, kept
