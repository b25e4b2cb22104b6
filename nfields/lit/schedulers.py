"""Learning-rate schedules the configs name by `_target_` (model.scheduler), stepped once per optimiser step."""

from __future__ import annotations

import math

import torch

from nfields.core.checks import NON_NEGATIVE, POSITIVE, POSITIVE_INT, check_arg


class Decay(torch.optim.lr_scheduler.LambdaLR):
    """lr x factor(t), t the step, held at lr x final after total_steps; a subclass gives the curve."""

    final_check = POSITIVE

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, final: float) -> None:
        check_arg("model.scheduler.total_steps", total_steps, POSITIVE_INT)
        check_arg("model.scheduler.final", final, self.final_check)
        self.total_steps, self.final = total_steps, final
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        raise NotImplementedError


class ExponentialDecay(Decay):
    """lr x final^(t / total_steps), held at lr x final after total_steps: the FINER paper's 0.1^(t/T) decay
    (Liu et al., CVPR 2024), which experiment=zoo applies to every representation alike."""

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, final: float = 0.1) -> None:
        super().__init__(optimizer, total_steps, final)

    def factor(self, step: int) -> float:
        return self.final ** (min(step, self.total_steps) / self.total_steps)


class CosineDecay(Decay):
    """lr x (final + (1 - final) (1 + cos(pi t / total_steps)) / 2), held at lr x final after total_steps: a
    cosine decay (CosineAnnealingLR's curve, final = eta_min / lr) with ExponentialDecay's keys, so an option that
    sets the other one (network=siren's model.scheduler) replaces every key of this one when the configs merge."""

    final_check = NON_NEGATIVE

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, final: float = 0.0) -> None:
        super().__init__(optimizer, total_steps, final)

    def factor(self, step: int) -> float:
        t = min(step, self.total_steps) / self.total_steps
        return self.final + (1 - self.final) * (1 + math.cos(math.pi * t)) / 2
