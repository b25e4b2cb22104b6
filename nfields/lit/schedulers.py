"""Learning-rate schedules the configs name by `_target_` (model.scheduler), stepped once per optimiser step."""

from __future__ import annotations

import torch

from nfields.core.checks import POSITIVE, POSITIVE_INT, check_arg


class ExponentialDecay(torch.optim.lr_scheduler.LambdaLR):
    """lr x final^(t / total_steps), held at lr x final after total_steps: the FINER paper's 0.1^(t/T) decay
    (Liu et al., CVPR 2024), which experiment=zoo applies to every representation alike."""

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, final: float = 0.1) -> None:
        check_arg("model.scheduler.total_steps", total_steps, POSITIVE_INT)
        check_arg("model.scheduler.final", final, POSITIVE)
        self.total_steps, self.final = total_steps, final
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        return self.final ** (min(step, self.total_steps) / self.total_steps)
