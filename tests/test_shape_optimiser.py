"""model=shape and model=shape_set's optimiser options: model.grad_clip bounds the global norm of the field's
gradients (the codes' are left alone, as DeepSDF's) and so, under SGD, the update of a Lightning run; model.amsgrad
reaches Adam; bad values are refused in one line."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from nfields.core.errors import ConfigError
from nfields.lit.shape import ShapeModule
from nfields.run.build import build_datamodule, build_module

SMALL = [
    "data=shape", "data.analytic=sphere", "data.size=8", "data.pool=2000", "data.near=500", "data.eval_points=500",
    "data.batch_size=64", "network.n_neurons=16", "network.n_hidden_layers=1", "logger=none",
]  # fmt: skip
SGD = ["model.optimizer._target_=torch.optim.SGD"]  # its fused: null is SGD's default too


def module(make_cfg, *extra: str) -> ShapeModule:
    cfg = make_cfg(*SMALL, *extra)
    m = build_module(cfg, build_datamodule(cfg))
    m.generator = torch.Generator().manual_seed(0)
    return m


def grads(m: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in m.parameters()])  # (P,)


@pytest.mark.parametrize("bound", [None, 0.01])
def test_grad_clip_scales_the_fields_gradient_to_the_bound(make_cfg, bound: float | None) -> None:
    m = module(make_cfg, f"model.grad_clip={'null' if bound is None else bound}")
    opt = m.build_optimizer(m.param_groups())
    m.loss().backward()
    before = grads(m.field).clone()
    assert before.norm() > 0.1  # SIREN's loss at the start: far above the bound
    m.on_before_optimizer_step(opt)  # what Lightning calls between the backward and the step
    after = grads(m.field)
    if bound is None:
        assert torch.equal(after, before)
    else:
        assert after.norm() <= bound * (1 + 1e-5) and after.norm() > 0.99 * bound
        assert torch.allclose(after, before * (after.norm() / before.norm()), rtol=1e-4, atol=1e-9)  # same direction


def test_grad_clip_bounds_each_update_of_a_training_run(make_cfg) -> None:
    """Through Lightning's loop, plain SGD: each step moves the weights by lr x the clipped gradient, so by at most
    lr x model.grad_clip, up to float32 rounding of the weights (unclipped, SIREN's loss moves them 10^5 times
    further: norms of 1.9 to 7.4)."""
    lr, bound = 1e-3, 0.01
    m = module(make_cfg, *SGD, f"model.lr={lr}", f"model.grad_clip={bound}")
    moves: list[float] = []

    class Watch(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            self.w = torch.cat([p.detach().flatten() for p in pl_module.field.parameters()]).clone()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            w = torch.cat([p.detach().flatten() for p in pl_module.field.parameters()])
            moves.append(float((w - self.w).norm()))

    trainer = pl.Trainer(
        max_steps=3, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", callbacks=[Watch()],
    )  # fmt: skip
    m.steps_per_call = 1
    trainer.fit(m, datamodule=m.data)
    assert len(moves) == 3 and all(0 < d <= lr * bound * 1.01 for d in moves), moves


def test_grad_clip_leaves_the_shape_codes_alone(make_cfg) -> None:
    cfg = make_cfg(
        "data=shape_set", "data.count=6", "data.val=1", "data.test=1", "data.pool=128", "data.near=128",
        "data.eval_points=100", "data.size=8", "data.observed=32", "data.shapes_per_batch=2", "data.batch_size=32",
        "network.n_neurons=16", "network.n_hidden_layers=1", "model.latent_dim=4", "logger=none",
        "model.grad_clip=1e-3",
    )  # fmt: skip
    m = build_module(cfg, build_datamodule(cfg))
    m.generator = torch.Generator().manual_seed(0)
    opt = m.build_optimizer(m.param_groups())
    m.loss().backward()
    codes = m.source.codes.weight.grad.clone()
    m.on_before_optimizer_step(opt)
    assert grads(m.field).norm() <= 1e-3 * (1 + 1e-5) and torch.equal(m.source.codes.weight.grad, codes)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_amsgrad_reaches_adam(make_cfg, amsgrad: bool) -> None:
    m = module(make_cfg, f"model.amsgrad={amsgrad}")
    opt = m.build_optimizer(m.param_groups())
    assert isinstance(opt, torch.optim.Adam) and all(g["amsgrad"] is amsgrad for g in opt.param_groups)
    m.loss().backward()
    opt.step()
    state = opt.state[next(m.field.parameters())]
    assert ("max_exp_avg_sq" in state) is amsgrad  # the running max of the squared gradients: amsgrad's


def test_bad_optimiser_options_are_refused_in_one_line(make_cfg) -> None:
    for extra, match in [
        (["model.grad_clip=0"], r"^model.grad_clip=0"),
        (["model.amsgrad=1"], r"^model.amsgrad=1"),
        (
            [*SGD, "model.amsgrad=true"],
            r"^model.amsgrad=true: is Adam's \(and AdamW's\) option; model.optimizer is SGD",
        ),
    ]:
        with pytest.raises(ConfigError, match=match):
            module(make_cfg, *extra)
