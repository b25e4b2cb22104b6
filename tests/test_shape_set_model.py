"""model=shape_set: task=sdf's losses over a batch of shapes, training lowers the loss, completion moves only the new
codes, each conditioning trains, bad combinations are refused in one line, and (slow) a short run through train.py
whose completion beats the mean shape."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import trimesh

from nfields.core.errors import ConfigError, UserError
from nfields.core.shape_metrics import extract
from nfields.core.views import GAP
from nfields.data.shape_analytic import Sphere
from nfields.lit.shape_set import ShapeSetModule
from nfields.run.build import build_datamodule, build_module
from nfields.tasks.sdf import SDF
from nfields.tasks.shape import ShapeBatch
from tests.conftest import ROOT, run_train

TINY = [
    "data=shape_set", "data.count=12", "data.val=1", "data.test=2", "data.pool=256", "data.near=256",
    "data.eval_points=300", "data.size=16", "data.observed=64", "data.shapes_per_batch=4", "data.batch_size=64",
    "network.n_neurons=32", "network.n_hidden_layers=2", "model.latent_dim=8", "logger=none",
]  # fmt: skip


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tiny_module(make_cfg, *extra: str) -> ShapeSetModule:
    cfg = make_cfg(*TINY, *extra)
    torch.manual_seed(0)  # the field's and codes' initial draws: unseeded, a short fit's loss drop varied by run
    module = build_module(cfg, build_datamodule(cfg))
    module.generator = torch.Generator().manual_seed(0)
    return module


@pytest.mark.parametrize("kind", ["siren", "igr", "deepsdf"])
def test_a_batch_of_shapes_scores_the_mean_of_its_shapes_losses(kind: str) -> None:
    rng = np.random.default_rng(0)
    t = lambda a: torch.from_numpy(a).float()  # noqa: E731
    surface, normals = Sphere().sample_surface(128, rng)
    near, free = surface + rng.normal(size=surface.shape) * 0.02, rng.uniform(0, 1, (128, 3))
    one = ShapeBatch(t(surface), t(normals), t(free), t(near), t(Sphere().signed_distance(near)))
    two = ShapeBatch(*(torch.stack([x, x]) for x in vars(one).values()))  # (2, N, 3): the same shape twice
    field = lambda x: 1.5 * ((x - 0.5).norm(dim=-1, keepdim=True) - 0.3) + 0.2 * x[..., :1]  # noqa: E731  wrong
    single, stacked = SDF(kind).loss(field, one)[1], SDF(kind).loss(field, two)[1]
    assert single.keys() == stacked.keys() and all(float(single[k]) > 0 for k in single)
    for k in single:
        assert float(stacked[k]) == pytest.approx(float(single[k]), rel=1e-5)


def test_the_config_chooses_the_module_the_task_and_a_conditioning(make_cfg) -> None:
    cfg = make_cfg("data=shape_set")
    assert cfg.model._target_.endswith("ShapeSetModule") and cfg.task._target_.endswith("SDF")
    assert cfg.cond._target_.endswith("FiLM") and cfg.data.val + cfg.data.test < cfg.data.count


@pytest.mark.parametrize("cond", ["concat", "film", "hypernet"])
def test_training_lowers_the_loss_for_each_conditioning(make_cfg, cond: str) -> None:
    module = tiny_module(make_cfg, f"cond={cond}", "task.loss=deepsdf", "model.lr=1e-3", "model.latent_lr=1e-2")
    opt = module.build_optimizer(module.param_groups())
    codes0 = module.source.codes.weight.detach().clone()
    assert module.source.codes.weight.shape == (module.data.n_train, 8) == (9, 8)  # a code per training shape
    assert 0.005 < float(codes0.std()) < 0.02  # DeepSDF's N(0, 0.01^2)
    losses = []
    for _ in range(60):
        loss = module.loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), losses[::10]
    assert "code_reg" in module.terms and not torch.equal(module.source.codes.weight, codes0)  # the codes train


def test_completion_moves_only_the_new_codes(make_cfg) -> None:
    module = tiny_module(make_cfg, "task.loss=deepsdf", "cond=concat")  # untrained FiLM maps are 0: no gradient
    before = {k: v.clone() for k, v in module.state_dict().items()}
    flags = [p.requires_grad for p in module.parameters()]
    held = module.data.held["test"]
    codes = module.complete(held.partial, steps=5)
    assert codes.shape == (2, 8) and codes.abs().sum() > 0  # from zero, moved
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the field and the trained codes: unchanged
    assert [p.requires_grad for p in module.parameters()] == flags
    assert torch.equal(module.complete(held.partial, steps=5), codes)  # the same draws at every evaluation


def test_bad_combinations_are_refused_in_one_line(make_cfg) -> None:
    cfg = make_cfg(*TINY, "cond=none")
    with pytest.raises(ConfigError, match=r"^cond=none: model=shape_set gives each shape a code"):
        build_module(cfg, build_datamodule(cfg))
    cfg = make_cfg(*TINY, "model=shape")
    with pytest.raises(ConfigError, match=r"^model=shape: trains on one shape \(data=shape\)"):
        build_module(cfg, build_datamodule(cfg))


@pytest.mark.slow
def test_a_short_run_completes_unseen_shapes_better_than_the_mean_shape(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [
        "data=shape_set", "data.count=32", "data.val=1", "data.test=6", "data.size=24", "data.eval_points=1000",
        "task.loss=deepsdf", "network.n_neurons=64", "network.n_hidden_layers=2", "model.latent_dim=16",
        "trainer.max_steps=300", "log.val_every_n_steps=300", "model.tto_steps=100", "model.val_tto_steps=5",
        "logger=none", f"hydra.run.dir={run}",
    ]  # fmt: skip
    proc = run_train(args, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/chamfer_l1"] < metrics["test/chamfer_l1_mean_shape"], metrics
    assert metrics["test/iou"] > metrics["test/iou_mean_shape"], metrics
    assert (run / "reconstruction.png").is_file() and (run / "prediction.ply").is_file()


def test_render_reads_a_shape_set_checkpoint_at_a_trained_code_or_the_mean(make_cfg, tmp_path: Path) -> None:
    """scripts/render.py on a model=shape_set checkpoint: --shape i extracts the field at training shape i's code (the
    same surface as the module's own at that code), --shape mean at the mean code, --views traces it; a code the
    checkpoint lacks is refused in one line."""
    module = tiny_module(make_cfg, "task.loss=deepsdf", "model.lr=1e-3", "model.latent_lr=1e-2")
    opt = module.build_optimizer(module.param_groups())
    for _ in range(25):  # a few steps: a field with a zero level
        loss = module.loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ckpt = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(ckpt)  # what Lightning's checkpoint gets: the config and checkpoint_extra()
    torch.save(ckpt, tmp_path / "last.ckpt")
    render = load_script("render")
    one = render.main([str(tmp_path / "last.ckpt"), "--size", "20", "--shape", "1", "--device", "cpu"])
    name = Path(module.data.shapes[module.data.splits["train"][1]].name).stem
    assert one.name == f"render_shape1_{name}_20.ply"  # the shape is named in the output
    codes = module.source.codes.weight.detach()
    with torch.no_grad():
        (own, _), _ = extract(module.sdf_fn(codes[1]), 20, False)
    mesh = trimesh.load(one, process=False)
    assert len(mesh.vertices) == len(own) and np.allclose(np.asarray(mesh.vertices), own, atol=1e-5)
    mean = trimesh.load(render.main([str(tmp_path / "last.ckpt"), "--size", "20", "--device", "cpu"]), process=False)
    assert len(mean.faces) and not (len(mean.vertices) == len(own) and np.allclose(mean.vertices, own))
    views = render.main([str(tmp_path / "last.ckpt"), "--views", "--image-size", "8", "--device", "cpu"])
    img = iio.imread(views)
    assert views.name == "views_mean_8.png" and img.shape == (8, 3 * 8 + 2 * GAP, 3) and img.min() < 200
    out = tmp_path / "z.png"  # --up z: the orbit about z, where the run's data.up (y) turned it about y
    render.main([str(tmp_path / "last.ckpt"), "--views", "--image-size", "8", "--up", "z", "--out", str(out)])
    assert iio.imread(out).shape == img.shape and not np.array_equal(iio.imread(out), img)
    with pytest.raises(UserError, match=r"^--shape 9: the checkpoint has 9 trained shapes \(0 to 8\)"):
        render.main([str(tmp_path / "last.ckpt"), "--shape", "9", "--device", "cpu"])
