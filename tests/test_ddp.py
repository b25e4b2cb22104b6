"""DDP on CPU (2 gloo processes) under Hydra: one run dir and one W&B run per job, also in multiruns."""

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nfields.run.train import train
from tests.conftest import run_train

if TYPE_CHECKING:
    import torch

    from nfields.lit.base import BaseModule


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def trained_metrics(make_cfg, run: Path, *over: str) -> dict:
    """A one-process reference run, in this process (the DDP runs below are the ones that need train.py)."""
    train(make_cfg(*over, run_dir=run))
    return metrics(run)


@pytest.mark.slow
def test_ddp_cpu_in_a_multirun_matches_one_process_whatever_steps_per_call(make_cfg, tmp_path: Path) -> None:
    """trainer=ddp_cpu, full batch: each rank takes every other pixel, so only all-reduced gradients (the inner
    loop's strategy.pre_backward) reproduce one process on the whole image, with one step per call or five.
    Both run as the jobs of one multirun: one run dir, one W&B run and the checkpoint in each job's dir, no
    stray directories (the ranks run the job's overrides, not the sweep)."""
    common = ["debug=fast", "data.batch_size=null"]
    reference = trained_metrics(make_cfg, tmp_path / "one_process", *common, "logger=none")
    sweep = tmp_path / "sweep"
    proc = run_train(
        ["-m", *common, "trainer=ddp_cpu", "logger=wandb", "model.steps_per_call=1,5", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).count("MEMBER: 2/2") == 2  # really two processes, in each job
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    for job in ("0", "1"):
        assert len(list((sweep / job / "wandb").glob("offline-run-*"))) == 1, job
        assert (sweep / job / "checkpoints" / "last.ckpt").exists(), job
        m = metrics(sweep / job)
        assert m["step"] == 30, job
        assert m["test/psnr"] == pytest.approx(reference["test/psnr"], abs=1e-3), job
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()  # no stray dirs


COLLECTION = [
    "data=fashion_mnist",
    "cond=film",
    "debug=fast",
    "data.limit=2048",
    "data.n_test=32",
    "model.tto_steps=10",
    "model.latent_source=autodecoder",
    "trainer.max_steps=20",  # 1 -> 20 steps: test PSNR 8.5 -> 10.3 dB in one process
]


@pytest.mark.slow
def test_ddp_cpu_conditional_model_matches_one_process_and_keeps_every_ranks_codes(make_cfg, tmp_path: Path) -> None:
    """fashion_mnist autodecoder: 2 ranks x 8 images per step against 1 process x 16 images, the same test PSNR.
    20 steps x 16 images is less than one epoch of 2048: the ranks' samplers draw disjoint images, so exactly
    320 codes must differ from their initial values in rank zero's checkpoint (160 if the other rank's updates
    were lost). Codes never drawn keep their initial value exactly (no gradient, no Adam step)."""
    import torch

    single = trained_metrics(make_cfg, tmp_path / "single", *COLLECTION, "data.batch_size=16", "logger=none")
    ddp = tmp_path / "ddp"
    proc = run_train([*COLLECTION, "data.batch_size=8", "trainer=ddp_cpu", "logger=wandb", f"hydra.run.dir={ddp}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((ddp / "wandb").glob("offline-run-*"))) == 1
    assert abs(metrics(ddp)["test/psnr"] - single["test/psnr"]) < 0.5
    ckpt = torch.load(ddp / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    trained = ckpt["state_dict"]["source.codes.weight"]  # (2048, latent_dim)
    moved = (trained - initial_codes(ckpt["nfields_config"])).abs().amax(dim=1) > 1e-7
    assert int(moved.sum()) == 2 * 20 * 8


def initial_module(config: dict) -> "BaseModule":
    """The module as train() initialises it: same seed, same build order."""
    import pytorch_lightning as pl

    from nfields.run.build import as_config, build_datamodule, build_module

    cfg = as_config(config)
    pl.seed_everything(cfg.seed, verbose=False)
    return build_module(cfg, build_datamodule(cfg))


def initial_codes(config: dict) -> "torch.Tensor":
    """The code table as train() initialises it."""
    return initial_module(config).source.codes.weight.detach()


@pytest.mark.slow
def test_ddp_full_batch_gradient_is_exact_with_an_odd_pixel_count(tmp_path: Path) -> None:
    """A 3x3 image (N = 9) full batch on 2 ranks: shards of 5 and 4 pixels. One SGD step moves the weights by
    lr x DDP's gradient (the mean of the ranks'), which must be the gradient of the mean squared error over all
    9 pixels: each rank divides its sum by N / world = 4.5. Measured: 9e-7 relative (float32 sums in another
    order); a rank averaging its own shard instead gives (mean-of-5 + mean-of-4) / 2, 0.107 off; a count of
    N // world = 4 would be 9/8, 0.125 off."""
    import imageio.v3 as iio
    import numpy as np
    import torch

    from nfields.core.coords import pixel_grid

    path = tmp_path / "tiny.png"
    iio.imwrite(path, np.random.default_rng(0).integers(0, 256, (3, 3, 3), dtype=np.uint8))
    lr = 100.0  # one step: large, so that (w0 - w1) / lr recovers the gradient to float32 precision
    run = tmp_path / "ddp"
    args = [
        "debug=fast",
        "logger=none",
        f"data.image={path}",
        "data.size=null",
        "model.optimizer._target_=torch.optim.SGD",
        f"model.lr={lr}",
        "trainer.max_steps=1",
        "~callbacks.progress_gif",
        "trainer=ddp_cpu",
        f"hydra.run.dir={run}",
    ]
    proc = run_train(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MEMBER: 2/2" in proc.stdout + proc.stderr  # really two processes
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 1
    module = initial_module(ckpt["nfields_config"])  # the weights before the step
    assert module.pixels.n == 9
    field = module.field
    image = module.clean.reshape(-1, 3)  # (9, 3) in [0, 1]
    loss = ((field(pixel_grid(3, 3).reshape(-1, 2)).float() - image) ** 2).mean()  # one process, all 9 pixels
    params = {name: p for name, p in field.named_parameters() if p.requires_grad}
    want = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(params.values()))])
    after = ckpt["state_dict"]
    got = torch.cat([(p.detach() - after[f"field.{name}"]).flatten() / lr for name, p in params.items()])
    assert params and want.norm() > 0
    rel = float((got - want).norm() / want.norm())
    assert rel < 1e-5, f"DDP's full-batch gradient is {rel:.2e} off the gradient of the mean over all pixels"
