"""model=learnit model.step_sizes: the inner SGD's rates learned (meta-SGD) per weight tensor or per weight. The
outer gradient against a hand-written one-step MAML with those rates, the rates learn, are saved and fit unseen
signals, and model.step_sizes=fixed is model.inner_lr with nothing added."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.func import functional_call

from nfields.core.errors import ConfigError
from nfields.lit.learnit import LearnitModule
from nfields.run.build import build_datamodule, load_checkpoint
from nfields.run.train import train
from nfields.tasks.base import Observation
from tests.test_collections import batch
from tests.test_learnit import TINY, grads_of, tiny_images, tiny_module


def hand_one_step_maml(module: LearnitModule, obs: Observation, rates: dict[str, torch.Tensor]) -> torch.Tensor:
    """One MAML step written out with torch.autograd, one signal at a time: theta_b = theta - r * dL_b/dtheta
    with r the rate of each weight (a number or one per weight), the gradient kept in the graph; the outer loss is
    the mean over signals of L_b(theta_b)."""
    field, task, theta = module.field, module.task, module.weights()
    losses = []
    for values, coords in zip(obs.values, obs.coords, strict=True):  # (N, C), (N, 2): one signal
        one = Observation(values[None], coords=coords[None])
        loss = task.loss(lambda c: functional_call(field, theta, (c,)), one)
        grads = torch.autograd.grad(loss, list(theta.values()), create_graph=True)
        adapted = {k: theta[k] - rates[k] * g for k, g in zip(theta, grads, strict=True)}
        losses.append(task.loss(lambda c, p=adapted: functional_call(field, p, (c,)), one))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("kind", ["per_layer", "per_param"])
def test_learned_rates_match_a_hand_written_one_step_maml(make_cfg, kind: str) -> None:
    module = tiny_module(make_cfg, f"model.step_sizes={kind}", "model.inner_steps=1").double()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():  # distinct rates per tensor (and per weight): a mix-up of names or entries would show
        for p in module.step_sizes.values():
            p.copy_(0.1 + 0.5 * torch.rand(p.shape, generator=gen, dtype=p.dtype))
    shapes = {k: module.step_sizes[k.replace(".", "-")].shape for k in module.weights()}
    assert all(s == (() if kind == "per_layer" else module.weights()[k].shape) for k, s in shapes.items())
    rates = {k: module.step_sizes[k.replace(".", "-")] for k in module.weights()}  # all > 0: no clamp here
    params = [*module.weights().values(), *module.step_sizes.values()]
    ours = torch.autograd.grad(module.outer_loss(tiny_images())[0], params)
    theirs = torch.autograd.grad(hand_one_step_maml(module, tiny_images(), rates), params)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert all(g.ne(0).any() for g in ours[len(rates) :])  # every rate tensor gets a gradient (second order)


def test_fixed_adds_nothing_and_equals_learned_rates_at_inner_lr(make_cfg) -> None:
    fixed = tiny_module(make_cfg).double()
    assert len(fixed.step_sizes) == 0 and fixed.rates() == fixed.inner_lr
    assert all(k.startswith("field.") for k in fixed.state_dict())  # the checkpoint holds the field alone
    opt = fixed.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(fixed.field.parameters()))
    learned = tiny_module(make_cfg, "model.step_sizes=per_layer").double()  # the same seed: the same weights
    assert all(p.item() == fixed.inner_lr for p in learned.step_sizes.values())  # they start at model.inner_lr
    obs = tiny_images()
    a, b = fixed.outer_loss(obs)[0], learned.outer_loss(obs)[0]
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    ga, gb = grads_of(fixed, a), grads_of(learned, b)
    assert all(torch.allclose(ga[k], gb[k], rtol=1e-9, atol=1e-12) for k in ga)


def test_the_rates_learn_are_saved_and_fit_unseen_signals(make_cfg) -> None:
    over = ["model.step_sizes=per_layer", "model.lr=1e-2", "trainer.max_steps=3", "log.val_every_n_steps=3"]
    cfg = make_cfg(*TINY, *over)
    module = tiny_module(make_cfg, *over)
    opt = module.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    module.training_step(batch(build_datamodule(cfg)), 0).backward()
    assert all(p.grad is not None and p.grad.ne(0).all() for p in module.step_sizes.values())
    opt.step()
    assert all(p.item() != 1.0 for p in module.step_sizes.values())  # moved from model.inner_lr
    train(cfg)
    ckpt = Path(cfg.run_dir) / "checkpoints" / "last.ckpt"
    stored = {k: v for k, v in torch.load(ckpt, weights_only=True)["state_dict"].items() if k.startswith("step_")}
    assert len(stored) == len(module.step_sizes) and any(float(v) != 1.0 for v in stored.values())
    loaded = load_checkpoint(ckpt)
    assert all(torch.equal(loaded.step_sizes[k.removeprefix("step_sizes.")], v) for k, v in stored.items())
    # unseen signals are fitted from the meta init with the learned rates: at 0 they never move from it
    with torch.no_grad():
        for p in loaded.step_sizes.values():
            p.zero_()
    logged: dict[str, float] = {}
    loaded.log = lambda name, value, **kw: logged.__setitem__(name, float(value))  # what evaluate logs
    loaded.evaluate("test", batch(build_datamodule(cfg), "test"), 0)
    assert logged["test/psnr_meta_step5"] == logged["test/psnr_meta_step0"]
    assert logged["test/psnr_std_step5"] != logged["test/psnr_std_step0"]  # the standard init keeps test_lr


@pytest.mark.parametrize(
    ("over", "match"),
    [
        (["model.step_sizes=per_tensor"], "model.step_sizes=per_tensor: must be one of"),
        (["model.step_sizes=per_layer", "model.meta=reptile"], "model.step_sizes=per_layer: reptile's outer update"),
    ],
)
def test_bad_step_sizes_are_one_line(make_cfg, over: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as e:
        tiny_module(make_cfg, *over)
    assert "\n" not in str(e.value)
