"""model=learnit: MAML's outer gradient (second and first order) and Reptile's update against hand-written
float64 versions with torch.autograd, unseen signals kept out of training, the test-time curves from both inits,
and a short run whose meta init fits unseen images in 2 steps better than the standard one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.func import functional_call

from nfields.core.errors import ConfigError
from nfields.fields.adapt import BatchedOptimizer, fit_steps
from nfields.lit.learnit import LearnitModule, field_loss
from nfields.lit.tto import every_pixel
from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train
from nfields.tasks.base import Observation
from tests.test_collections import batch

# A tiny field on tiny synthetic images: seconds on a CPU.
TINY = [
    "model=learnit",
    "debug=fast",
    "data=synthetic",
    "logger=none",
    "data.n_images=24",
    "data.size=8",
    "data.batch_size=4",
    "data.n_val=4",
    "data.n_test=4",
    "encoding.n_features=8",
    "encoding.sigma=3",
    "network.n_neurons=16",
    "model.test_steps=[0,1,2,5]",
]


def tiny_module(make_cfg, *over: str) -> LearnitModule:
    torch.manual_seed(0)
    cfg = make_cfg(*TINY, *over)
    module = build_module(cfg, build_datamodule(cfg))
    assert isinstance(module, LearnitModule)
    return module


def tiny_images(b: int = 3, size: int = 5, channels: int = 3) -> Observation:
    """B random images the test makes (B, size, size, C), every pixel observed, float64."""
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(b, size, size, channels, generator=gen, dtype=torch.float64)
    obs = every_pixel(images)
    return Observation(obs.values, coords=obs.coords.double(), display=images)


def hand_adapted(module: LearnitModule, obs: Observation, steps: int, lr: float, first_order: bool) -> list[dict]:
    """Plain per-signal SGD with torch.autograd, one signal at a time: theta_b <- theta_b - lr * dL_b/dtheta_b,
    the gradient kept in the graph (MAML) or detached (first order) -> each signal's adapted weights."""
    field, task = module.field, module.task
    theta = module.weights()
    adapted = []
    for values, coords in zip(obs.values, obs.coords, strict=True):  # (N, C), (N, 2): one signal
        p = dict(theta)
        one = Observation(values[None], coords=coords[None])
        for _ in range(steps):
            loss = task.loss(lambda c, p=p: functional_call(field, p, (c,)), one)
            grads = torch.autograd.grad(loss, list(p.values()), create_graph=not first_order)
            p = {k: v - lr * (g.detach() if first_order else g) for (k, v), g in zip(p.items(), grads, strict=True)}
        adapted.append(p)
    return adapted


def hand_maml_loss(module: LearnitModule, obs: Observation, steps: int, lr: float, first_order: bool) -> torch.Tensor:
    """MAML's outer loss: the mean over signals of each one's loss at its adapted weights."""
    field, task = module.field, module.task
    losses = [
        task.loss(lambda c, p=p: functional_call(field, p, (c,)), Observation(v[None], coords=c[None]))
        for p, v, c in zip(hand_adapted(module, obs, steps, lr, first_order), obs.values, obs.coords, strict=True)
    ]
    return torch.stack(losses).mean()


def grads_of(module: LearnitModule, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    weights = module.weights()
    return dict(zip(weights, torch.autograd.grad(loss, list(weights.values())), strict=True))


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_outer_gradient_matches_a_hand_written_maml_step(make_cfg, first_order: bool) -> None:
    module = tiny_module(make_cfg, f"model.first_order={str(first_order).lower()}", "model.inner_steps=3").double()
    module.inner_lr = 0.5  # large steps: the second-order terms are far from negligible
    obs = tiny_images()
    ours = grads_of(module, module.outer_loss(obs)[0])
    theirs = grads_of(module, hand_maml_loss(module, obs, 3, 0.5, first_order))
    assert set(ours) == set(theirs) and len(ours) >= 4
    for k in ours:
        assert torch.allclose(ours[k], theirs[k], rtol=1e-9, atol=1e-12), k
    other = grads_of(module, hand_maml_loss(module, obs, 3, 0.5, not first_order))  # the other order
    assert any(not torch.allclose(ours[k], other[k], rtol=1e-6) for k in ours)  # the test tells them apart


def test_reptile_gradient_is_theta_minus_the_mean_adapted_weights(make_cfg) -> None:
    module = tiny_module(make_cfg, "model.meta=reptile", "model.inner_steps=3").double()
    module.inner_lr = 0.5
    obs = tiny_images()
    theta = {k: p.detach().clone() for k, p in module.weights().items()}
    ours = grads_of(module, module.outer_loss(obs)[0])
    adapted = hand_adapted(module, obs, 3, 0.5, first_order=True)
    for k in ours:
        mean = torch.stack([p[k].detach() for p in adapted]).mean(0)
        assert torch.allclose(ours[k], theta[k] - mean, rtol=1e-9, atol=1e-12), k
        assert ours[k].abs().sum() > 0
    # one outer SGD step at rate 1 moves theta to the mean of the adapted weights (Reptile with epsilon = 1)
    opt = torch.optim.SGD(list(module.weights().values()), lr=1.0)
    opt.zero_grad()
    module.outer_loss(obs)[0].backward()
    opt.step()
    for k, p in module.weights().items():
        assert torch.allclose(p, torch.stack([a[k].detach() for a in adapted]).mean(0), rtol=1e-9, atol=1e-12)


def test_a_training_step_gives_every_weight_a_gradient(make_cfg) -> None:
    module = tiny_module(make_cfg)
    module.training_step(batch(build_datamodule(make_cfg(*TINY))), 0).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.weights().values())


def test_test_time_fitting_matches_plain_sgd_and_adam_on_one_signal(make_cfg) -> None:
    """The batched optimiser steps each signal as torch.optim steps that signal's own copy of the weights."""
    module = tiny_module(make_cfg).double()
    obs = tiny_images(b=2)
    loss = field_loss(module.field, module.task, None)
    for kind, cls in (("sgd", torch.optim.SGD), ("adam", torch.optim.Adam)):
        *_, (_, ours) = fit_steps(loss, module.weights(), (obs.values, obs.coords), 4, BatchedOptimizer(kind, 0.05))
        for b in range(2):
            p = {k: v.detach().clone().requires_grad_(True) for k, v in module.weights().items()}
            opt = cls(list(p.values()), lr=0.05)
            for _ in range(4):
                opt.zero_grad()
                loss(p, obs.values[b], obs.coords[b]).backward()
                opt.step()
            for k in p:
                assert torch.allclose(ours[k][b], p[k], rtol=1e-9, atol=1e-12), (kind, k)


def test_unseen_images_never_enter_the_outer_loop(make_cfg) -> None:
    """Evaluating unseen images between training steps changes nothing that training learns."""
    cfg = make_cfg(*TINY)
    dm = build_datamodule(cfg)
    train_batches = [batch(dm)] * 3
    test_batch = batch(dm, "test")

    def run(evaluate: bool) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        module = build_module(cfg, dm)
        opt = module.configure_optimizers()
        for b in train_batches:
            if evaluate:
                grads = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
                module.evaluate("test", test_batch, 0)
                for p, g in zip(module.parameters(), grads, strict=True):  # no gradient reaches a parameter
                    assert (p.grad is None and g is None) or torch.equal(p.grad, g)
            opt.zero_grad()
            module.training_step(b, 0).backward()
            opt.step()
        return {k: v.clone() for k, v in module.state_dict().items()}

    alone, interleaved = run(False), run(True)
    assert all(torch.equal(alone[k], interleaved[k]) for k in alone)


def test_the_standard_init_is_the_field_as_built_and_stays_out_of_the_checkpoint(make_cfg) -> None:
    module = tiny_module(make_cfg)
    built = {k: p.detach().clone() for k, p in module.weights().items()}
    opt = module.configure_optimizers()
    module.training_step(batch(build_datamodule(make_cfg(*TINY))), 0).backward()
    opt.step()
    assert all(torch.equal(module.standard[k], built[k]) for k in built)
    assert not all(torch.equal(p, built[k]) for k, p in module.weights().items())  # the meta init moved
    assert all(k.startswith("field.") for k in module.state_dict())


@pytest.mark.parametrize(
    ("over", "key"),
    [
        (["model.meta=fomaml"], "model.meta"),
        (["model.inner_steps=0"], "model.inner_steps"),
        (["model.inner_lr=-1"], "model.inner_lr"),
        (["model.test_steps=[]"], "model.test_steps"),
        (["model.test_optimizer=lbfgs"], "model.test_optimizer"),
        (["cond=film"], "cond"),
    ],
)
def test_bad_settings_are_one_line(make_cfg, over: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        tiny_module(make_cfg, *over)
    assert str(e.value).startswith(f"{key}=") and "\n" not in str(e.value)


def test_a_short_run_learns_an_init_that_fits_unseen_images_faster(make_cfg) -> None:
    """python train.py model=learnit on a collection: metrics.json has both curves, the checkpoint the field's
    weights, and after training 2 SGD steps from the meta init beat 2 (and 5) from the standard init."""
    cfg = make_cfg(*TINY, "model.lr=1e-2", "model.inner_lr=1", "trainer.max_steps=30", "log.val_every_n_steps=30")
    train(cfg)
    run = Path(cfg.run_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    for init in ("meta", "std"):
        assert {f"test/psnr_{init}_step{s}" for s in (0, 1, 2, 5)} <= metrics.keys()
    assert metrics["test/psnr"] == metrics["test/psnr_meta_step2"]
    assert metrics["test/psnr_meta_step2"] > metrics["test/psnr_meta_step0"]  # the 2 steps help
    assert metrics["test/psnr_meta_step2"] > metrics["test/psnr_std_step5"] + 1.0
    gain = {init: metrics[f"test/psnr_{init}_step2"] - metrics[f"test/psnr_{init}_step0"] for init in ("meta", "std")}
    assert gain["meta"] > 2 * gain["std"]  # not only a better start: its 2 steps also move further
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert state.keys() == {f"field.{k}" for k in tiny_module(make_cfg).field.state_dict()}
    assert (run / "prediction.png").exists() and (run / "reconstruction.png").exists()


@pytest.mark.parametrize("task", ["inpaint", "superres", "denoise"])
def test_the_inner_loop_runs_on_every_tasks_loss(make_cfg, task: str) -> None:
    """The inner steps fit what the task observes (kept pixels, block means through the box forward model)."""
    module = tiny_module(make_cfg, f"task={task}")
    dm = build_datamodule(make_cfg(*TINY, f"task={task}"))
    module.training_step(batch(dm), 0).backward()
    grads = [p.grad for p in module.weights().values()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    test = batch(dm, "test")
    curve, _ = module.fit_curve(module.weights(), test["observed"], test["image"], None, [0, 2])
    assert curve.keys() == {0, 2} and all(torch.isfinite(torch.tensor(v)) for v in curve.values())
