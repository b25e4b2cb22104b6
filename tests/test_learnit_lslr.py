"""model=learnit model.step_sizes=per_layer_step (MAML++'s LSLR): a learned rate per weight tensor and inner step.
The outer gradient against a hand-written 2-step MAML with those rates (second order), every step's rates learn,
a short run trains, its checkpoint loads and renders, unseen signals take step s's rates (past the inner steps, the
last step's), and bad settings are one line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.func import functional_call

from nfields.core.errors import ConfigError
from nfields.fields.field import render_grid
from nfields.lit.learnit import LearnitModule
from nfields.run.build import build_datamodule, load_checkpoint, load_field
from nfields.run.train import train
from nfields.tasks.base import Observation
from tests.test_collections import batch
from tests.test_learnit import TINY, tiny_images, tiny_module

LSLR = "model.step_sizes=per_layer_step"


def hand_maml_per_step(module: LearnitModule, obs: Observation, rates: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """len(rates) MAML steps written out with torch.autograd, one signal at a time: theta <- theta - r_s * dL_b/dtheta
    at step s with r_s that step's rate of each weight tensor, the gradients kept in the graph (second order); the
    outer loss is the mean over signals of L_b at the adapted weights."""
    field, task = module.field, module.task
    losses = []
    for values, coords in zip(obs.values, obs.coords, strict=True):  # (N, C), (N, 2): one signal
        one = Observation(values[None], coords=coords[None])
        p = module.weights()
        for r in rates:
            loss = task.loss(lambda c, p=p: functional_call(field, p, (c,)), one)
            grads = torch.autograd.grad(loss, list(p.values()), create_graph=True)
            p = {k: v - r[k] * g for (k, v), g in zip(p.items(), grads, strict=True)}
        losses.append(task.loss(lambda c, p=p: functional_call(field, p, (c,)), one))
    return torch.stack(losses).mean()


def test_per_step_rates_match_a_hand_written_two_step_maml(make_cfg) -> None:
    module = tiny_module(make_cfg, LSLR, "model.inner_steps=2").double()
    assert all(p.shape == (2,) and p.eq(module.inner_lr).all() for p in module.step_sizes.values())  # start
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():  # distinct rates per tensor and step: a mix-up of names or steps would show
        for p in module.step_sizes.values():
            p.copy_(0.1 + 0.8 * torch.rand(p.shape, generator=gen, dtype=p.dtype))
    names = list(module.weights())
    rates = [{k: module.step_sizes[k.replace(".", "-")][s] for k in names} for s in range(2)]  # all > 0: no clamp
    params = [*module.weights().values(), *module.step_sizes.values()]
    ours = torch.autograd.grad(module.outer_loss(tiny_images())[0], params)
    theirs = torch.autograd.grad(hand_maml_per_step(module, tiny_images(), rates), params)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert all(g.ne(0).all() for g in ours[len(names) :])  # every tensor's rate at every step gets a gradient
    shared = [{k: rates[0][k] for k in names}] * 2  # one rate per tensor for both steps: another loss
    assert not torch.allclose(module.outer_loss(tiny_images())[0], hand_maml_per_step(module, tiny_images(), shared))


def test_a_negative_rate_is_used_as_zero(make_cfg) -> None:
    module = tiny_module(make_cfg, LSLR).double()
    with torch.no_grad():
        for p in module.step_sizes.values():
            p.copy_(torch.tensor([-0.5, 0.25]))
    rates = module.rates()
    assert isinstance(rates, list) and len(rates) == 2
    assert all(r.item() == 0.0 for r in rates[0].values()) and all(r.item() == 0.25 for r in rates[1].values())


def test_a_short_run_trains_both_steps_rates_and_its_checkpoint_loads_and_renders(make_cfg, tmp_path: Path) -> None:
    over = [LSLR, "model.lr=1e-2", "model.inner_lr=1", "trainer.max_steps=30", "log.val_every_n_steps=30"]
    cfg = make_cfg(*TINY, *over)
    train(cfg)
    run = Path(cfg.run_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    # before training the meta init is the standard one and both take steps at model.inner_lr: the same PSNR
    assert metrics["test/psnr_meta_step2"] > metrics["test/psnr_std_step2"] + 1.0  # training raised it
    assert metrics["test/psnr_meta_step2"] > metrics["test/psnr_meta_step0"]
    ckpt = run / "checkpoints" / "last.ckpt"
    stored = {k: v for k, v in torch.load(ckpt, weights_only=True)["state_dict"].items() if k.startswith("step_")}
    assert stored and all(v.shape == (2,) and v.ne(1.0).all() and v[0] != v[1] for v in stored.values())
    loaded = load_checkpoint(ckpt)
    assert all(torch.equal(loaded.step_sizes[k.removeprefix("step_sizes.")], v) for k, v in stored.items())
    field, shape = load_field(ckpt)  # what model.init_from and scripts/render.py read: the field alone
    with torch.no_grad():
        assert torch.equal(render_grid(field, shape[:-1]), loaded.render(
            {k: p[None] for k, p in loaded.weights().items()})[0])  # fmt: skip
    spec = importlib.util.spec_from_file_location("render_script", Path(__file__).parents[1] / "scripts/render.py")
    render_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_script)
    png = render_script.main([str(ckpt), "--size", "16", "--out", str(tmp_path / "r.png")])
    assert np.array(Image.open(png)).shape == (16, 16, 3)
    # unseen signals: step s takes inner step s's rates, every later step the last one's; a last step at rate 0
    # leaves them where the first step put them
    with torch.no_grad():
        for p in loaded.step_sizes.values():
            p[1] = 0.0
    logged: dict[str, float] = {}
    loaded.log = lambda name, value, **kw: logged.__setitem__(name, float(value))  # what evaluate logs
    loaded.evaluate("test", batch(build_datamodule(cfg), "test"), 0)
    assert logged["test/psnr_meta_step1"] != logged["test/psnr_meta_step0"]
    assert logged["test/psnr_meta_step5"] == logged["test/psnr_meta_step2"] == logged["test/psnr_meta_step1"]
    assert logged["test/psnr_std_step5"] != logged["test/psnr_std_step2"]  # the standard init keeps test_lr


@pytest.mark.parametrize(
    ("over", "match"),
    [
        (["model.step_sizes=per_step"], "model.step_sizes=per_step: must be one of .*per_layer_step"),
        ([LSLR, "model.meta=reptile"], "model.step_sizes=per_layer_step: reptile's outer update"),
    ],
)
def test_bad_per_step_settings_are_one_line(make_cfg, over: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as e:
        tiny_module(make_cfg, *over)
    assert "\n" not in str(e.value)
