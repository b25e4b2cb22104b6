"""model.latent_source=meta: the inner loop against a hand-written meta-SGD step, its step sizes, zero codes,
unseen images kept out of training, and a short run that learns to fit unseen images in a few steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.fields.latents.meta import MetaSource
from nfields.lit.collection import CollectionModule
from nfields.lit.tto import decode, every_pixel, meta_codes, meta_tto
from nfields.run.build import build_datamodule, build_module, load_checkpoint
from nfields.tasks.base import Observation
from nfields.tasks.fit import Fit
from tests.test_collections import TINY, batch, trained_metrics

# FiLM with its maps drawn like any linear layer: at identity (zero maps) the codes have no gradient at zero.
META = [*TINY, "cond=film", "cond.identity_init=false", "model.latent_source=meta"]


def tiny_module(make_cfg, *over: str) -> CollectionModule:
    torch.manual_seed(0)
    cfg = make_cfg(*META, *over)
    module = build_module(cfg, build_datamodule(cfg))
    assert isinstance(module.source, MetaSource)
    return module.double()  # float64: the two computations below agree to rounding, not to float32 noise


def tiny_images(b: int = 3, size: int = 5, channels: int = 3) -> Observation:
    """B random images the test makes (B, size, size, C), every pixel observed, float64."""
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(b, size, size, channels, generator=gen, dtype=torch.float64)
    obs = every_pixel(images)
    return Observation(obs.values, coords=obs.coords.double(), display=images)


def hand_meta_sgd(module: CollectionModule, obs: Observation, steps: int, first_order: bool) -> torch.Tensor:
    """The outer loss of plain meta-SGD written out with torch.autograd, one signal at a time: z_b = 0, then
    z_b <- z_b - alpha * dL_b/dz_b (the gradient kept in the graph, or detached for first order)."""
    field, task, alpha = module.field, module.task, module.source.alpha()
    adapted = []
    for values, coords in zip(obs.values, obs.coords, strict=True):  # (N, C), (N, 2): one signal
        z = torch.zeros(module.source.code_dim, dtype=values.dtype, requires_grad=True)
        one = Observation(values[None], coords=coords[None])
        for _ in range(steps):
            loss = task.loss(lambda c, z=z: field(c, z[None]), one)
            (g,) = torch.autograd.grad(loss, z, create_graph=not first_order)
            z = z - alpha * (g.detach() if first_order else g)
        adapted.append(z)
    codes = torch.stack(adapted)  # (B, code_dim)
    return task.loss(lambda c: field(c, codes), obs)


def outer_grads(module: CollectionModule, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    params = {k: p for k, p in module.named_parameters() if p.requires_grad}
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(params.items(), grads, strict=True)}


@pytest.mark.parametrize("first_order", [False, True])
def test_outer_gradients_match_a_hand_written_meta_sgd_step(make_cfg, first_order: bool) -> None:
    module = tiny_module(make_cfg)
    module.source.first_order = first_order
    obs = tiny_images()
    with torch.no_grad():  # distinct step sizes per entry, so a mix-up of entries shows
        module.source.step_sizes.copy_(torch.linspace(0.05, 0.5, module.source.code_dim))
    codes, _ = meta_codes(module.field, module.source, module.task, obs, steps=3)
    ours = outer_grads(module, module.task.loss(lambda c: module.field(c, codes), obs))
    theirs = outer_grads(module, hand_meta_sgd(module, obs, 3, first_order))
    for k in ours:
        assert torch.allclose(ours[k], theirs[k], rtol=1e-9, atol=1e-12), k
    assert ours["source.step_sizes"].ne(0).all()  # meta-SGD: every entry's step size learns, in both orders
    if not first_order:  # second order differs from first order: the test can tell them apart
        first = outer_grads(module, hand_meta_sgd(module, obs, 3, True))
        assert any(not torch.allclose(ours[k], first[k], rtol=1e-6) for k in ours if k.startswith("field."))


def test_a_training_step_gives_every_step_size_a_gradient(make_cfg) -> None:
    module = tiny_module(make_cfg).float()
    b = batch(build_datamodule(make_cfg(*META)))
    module.training_step(b, 0).backward()
    assert module.source.step_sizes.grad.ne(0).all()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.field.network.parameters())


def test_codes_start_at_zero(make_cfg) -> None:
    module = tiny_module(make_cfg)
    obs = tiny_images()
    codes, kept = meta_codes(module.field, module.source, module.task, obs, steps=2, keep=(0, 1, 2))
    assert torch.equal(kept[0], torch.zeros_like(kept[0]))
    assert torch.equal(module.source(torch.arange(3), obs.display), torch.zeros(3, module.source.code_dim))
    assert not torch.equal(kept[1], kept[0]) and torch.equal(kept[2], codes.detach())
    # before any step every image is the same field: the unseen images' step-0 render is the zero code's
    res = meta_tto(module.field, module.source, Fit(), obs.display)
    with torch.no_grad():
        zero = decode(module.field, torch.zeros(1, module.source.code_dim, dtype=torch.float64), 1, (5, 5))
    assert res.curve[0][0] == 0
    psnr0 = -10 * torch.log10((zero - obs.display).pow(2).mean((1, 2, 3)))  # (B,)
    assert res.curve[0][1] == pytest.approx(float(psnr0.mean()))


def test_unseen_images_never_enter_the_outer_loop(make_cfg) -> None:
    """Evaluating unseen images between training steps changes nothing that training learns."""
    cfg = make_cfg(*META)
    dm = build_datamodule(cfg)
    train_batches = [batch(dm)] * 3
    test_images = batch(dm, "test")["image"]

    def run(evaluate: bool) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        module = build_module(cfg, dm)
        opt = module.configure_optimizers()
        for b in train_batches:
            if evaluate:
                grads = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
                module.tto(test_images, 3)
                for p, g in zip(module.parameters(), grads, strict=True):  # no gradient reaches a parameter
                    assert (p.grad is None and g is None) or torch.equal(p.grad, g)
            opt.zero_grad()
            module.training_step(b, 0).backward()
            opt.step()
        return {k: v.clone() for k, v in module.state_dict().items()}

    alone, interleaved = run(False), run(True)
    assert all(torch.equal(alone[k], interleaved[k]) for k in alone)


def test_evaluation_leaves_the_network_and_step_sizes_unchanged(make_cfg) -> None:
    module = tiny_module(make_cfg).float()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    images = batch(build_datamodule(make_cfg(*META)), "test")["image"]
    res = module.tto(images, steps=0)
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())
    assert all(p.requires_grad for p in module.parameters())
    assert [s for s, _ in res.curve] == [0, 1, 3, 10]  # the reported steps (inner_steps = 3 among them)
    assert res.pred.shape == images.shape and res.codes.shape == (4, module.source.code_dim)


@pytest.mark.parametrize("over", [["model.inner_steps=0"], ["model.sources.meta.step_init=2"]])
def test_bad_meta_settings_are_one_line(make_cfg, over: list[str]) -> None:
    cfg = make_cfg(*META, *over)
    with pytest.raises(ConfigError, match=over[0].split("=")[0]):
        build_module(cfg, build_datamodule(cfg))


@pytest.mark.parametrize("task", ["superres", "inpaint"])
def test_the_task_loss_drives_the_inner_loop(make_cfg, task: str) -> None:
    """The inner steps use the task's objective: superres's block means (its footprint), inpaint's kept pixels."""
    over = ["task.factor=2"] if task == "superres" else []
    cfg = make_cfg(*META, f"task={task}", *over)
    torch.manual_seed(0)
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    b = batch(dm)
    loss = module.training_step(b, 0)
    loss.backward()
    assert torch.isfinite(loss) and module.source.step_sizes.grad.ne(0).any()
    test = batch(dm, "test")
    res = module.tto(test["image"], 3, test["observed"])
    assert res.curve[-1][1] != res.curve[0][1]


def test_a_short_run_learns_to_fit_unseen_images_in_three_steps(make_cfg) -> None:
    cfg = make_cfg(*META, "trainer.max_steps=150", "log.val_every_n_steps=150", "model.lr=3e-3")
    torch.manual_seed(cfg.seed)  # the same init as the run below (train() seeds everything the same way)
    dm = build_datamodule(cfg)
    before = build_module(cfg, dm).tto(batch(dm, "test")["image"], 3).psnr.mean().item()  # 3 steps, untrained
    m = trained_metrics(cfg)
    assert m["test/psnr"] == pytest.approx(m["test/psnr_step3"])  # test/psnr is after inner_steps = 3
    assert m["test/psnr"] > before + 2, (before, m)  # 12.9 -> 15.7 dB here
    assert m["test/psnr_step3"] > m["test/psnr_step0"] + 1, m  # the steps themselves fit: 13.9 -> 15.7 dB here
    assert {"test/psnr_step1", "test/psnr_step10", "val/psnr_step3"} <= m.keys()
    ckpt = Path(cfg.run_dir) / "checkpoints" / "last.ckpt"
    module = load_checkpoint(ckpt)  # the checkpoint alone rebuilds it, learned step sizes included
    stored = torch.load(ckpt, weights_only=False)["state_dict"]["source.step_sizes"]
    assert isinstance(module.source, MetaSource) and torch.equal(module.source.step_sizes, stored)
    assert not torch.equal(stored, torch.full_like(stored, 1e-2))  # they moved from step_init


@pytest.mark.parametrize(
    "over",
    [
        [*TINY, "model.latent_source=meta", "cond=concat"],
        [*TINY, "model.latent_source=meta", "cond=hypernet"],
        [*META, "latent=local"],
        [*META, "cond.scale=false", "model.first_order=true"],
    ],
)
def test_other_conditionings_and_layouts_train(make_cfg, over: list[str]) -> None:
    """Any `cond` that takes a code works: concat, the hypernetwork, FiLM on local codes, shift-only first order."""
    m = trained_metrics(make_cfg(*over, "trainer.max_steps=4", "log.val_every_n_steps=2"))
    assert m["step"] == 4 and all(m[f"test/psnr_step{k}"] is not None for k in (0, 1, 3, 10))


@pytest.mark.parametrize("over", [["cond=film"], ["cond=hypernet", "cond.hidden=0"]])
def test_a_conditioning_whose_code_map_starts_at_zero_is_refused(make_cfg, over: list[str]) -> None:
    cfg = make_cfg(*TINY, "model.latent_source=meta", *over)
    with pytest.raises(ConfigError, match="model.latent_source=meta: codes start at zero .* cond.identity_init=false"):
        build_module(cfg, build_datamodule(cfg))


def test_why_zero_film_maps_are_refused(make_cfg) -> None:
    """FiLM's linear maps set to zero (what cond.identity_init=true draws): from zero codes a meta step gives the
    maps' weights exactly no gradient, second order included, so they would stay zero for ever."""
    module = tiny_module(make_cfg).float()
    with torch.no_grad():
        for m in module.field.cond.maps:
            m[-1].weight.zero_()
            m[-1].bias.zero_()
    module.training_step(batch(build_datamodule(make_cfg(*META))), 0).backward()
    assert all(m[-1].weight.grad.abs().sum() == 0 for m in module.field.cond.maps)
    assert module.source.step_sizes.grad.abs().sum() == 0


def test_meta_fits_unseen_audio_clips(make_cfg) -> None:
    """The inner loop is written for any grid: a collection of generated chirps (1-D coordinates)."""
    over = ["debug=fast", "logger=none", "data=audio_collection", "data.generated=8", "data.size=null"]
    over += ["data.duration=0.02", "cond=film", "cond.identity_init=false", "model.latent_source=meta"]
    over += ["model.lr=1e-2", "encoding.sigma=20", "trainer.max_steps=40", "log.val_every_n_steps=40"]
    m = trained_metrics(make_cfg(*over))
    assert m["test/psnr_step3"] > m["test/psnr_step0"] + 1, m  # 11.3 -> 15.2 dB here
