"""Benchmark case `collection` of scripts/bench.py: images/s of conditional fields on Fashion-MNIST.

    python scripts/bench.py --case collection --device cpu --steps 200

For each of concat, film and hypernet (autodecoder codes, the cond_compare field: fourier 64
features sigma 4, MLP 3x128, 64-number global codes, 32 images x 256 pixels a step), the same
training runs through nfields's `train()` and through a plain loop that builds the very same
field (`build_field`) and an `nn.Embedding` of codes, with the images as one in-memory tensor.
The difference is the framework: Lightning, the DataLoader, the task's per-image observations.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from baselines.ffn_loop import time_steps
from torch import nn

from nfields.core.coords import pixel_grid
from nfields.run.build import build_datamodule, build_field
from nfields.run.compose import compose_run_config

from .common import train_run, trainer

CONDS = ("concat", "film", "hypernet")
FIELD = [
    "data=fashion_mnist",
    "encoding=fourier",
    "encoding.n_features=64",
    "encoding.sigma=4.0",
    "network=mlp",
    "network.n_neurons=128",
    "network.n_hidden_layers=3",
    "latent=global",
    "model.latent_dim=64",
    "model.latent_source=autodecoder",
    "logger=none",
]


def overrides(cond: str, steps: int, device: str, extra: list[str]) -> list[str]:
    quiet = ["data.n_test=32", "data.n_val=32", "model.tto_steps=1", "model.val_tto_steps=1"]
    quiet += [f"log.val_every_n_steps={steps}", f"log.gif_every_n_steps={steps}"]  # one of each, at the end
    return [*FIELD, f"cond={cond}", f"trainer.max_steps={steps}", f"trainer={trainer(device)}", *quiet, *extra]


def nfields_images_per_s(cond: str, steps: int, device: str, extra: list[str]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        cfg, m = train_run(overrides(cond, steps, device, extra), Path(d) / "run")
    return m["perf/steps_per_s"] * cfg.data.batch_size, cfg.data.batch_size


def handwritten_images_per_s(cond: str, steps: int, device: str, extra: list[str]) -> float:
    """The plain loop: random batches of images, random pixels, one Adam over field + codes."""
    with tempfile.TemporaryDirectory() as d:
        cfg = compose_run_config(overrides(cond, steps, device, extra), Path(d) / "run")
    dm = build_datamodule(cfg)
    train = dm.splits["train"]
    images = train.pool.images[: len(train)].to(device)  # uint8 (M, H, W, C), as a researcher would keep it
    m, h, w, c = images.shape
    b, p = cfg.data.batch_size, cfg.data.pixels_per_image
    torch.manual_seed(0)
    field = build_field(cfg, out_dim=c, own_code=False).to(device)
    codes = nn.Embedding(m, field.code_dim).to(device)
    nn.init.normal_(codes.weight, 0.0, field.code_dim**-0.5)
    opt = torch.optim.Adam(
        [{"params": field.parameters()}, {"params": codes.parameters(), "lr": cfg.model.latent_lr}], lr=cfg.model.lr
    )
    grid = pixel_grid(h, w, device).reshape(-1, 2)  # (HW, 2)
    flat = images.reshape(m, h * w, c)

    def step() -> None:
        idx = torch.randint(0, m, (b,), device=device)
        pix = torch.randint(0, h * w, (b, p), device=device)  # (B, P)
        y = torch.gather(flat[idx], 1, pix.unsqueeze(-1).expand(-1, -1, c)).float() / 255  # (B, P, C)
        z = codes(idx)
        loss = ((field(grid[pix], z).float() - y) ** 2).mean() + cfg.model.code_reg * z.pow(2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return (steps - 5) * b / time_steps(step, steps, device)


def run(a: argparse.Namespace) -> None:
    """Case collection: images/s of each conditioning, the hand-written loop's and nfields'."""
    steps, device, extra = a.steps or 200, a.device, a.overrides
    print(f"# collection: Fashion-MNIST, autodecoder, {steps} steps, device {device}, torch {torch.__version__}")
    print("| cond | hand-written images/s | nfields images/s | ratio nfields / hand-written |\n|---|---|---|---|")
    film = None
    for cond in CONDS:
        hand = handwritten_images_per_s(cond, steps, device, extra)
        ours, _ = nfields_images_per_s(cond, steps, device, extra)
        film = ours if cond == "film" else film
        print(f"| {cond} | {hand:.0f} | {ours:.0f} | {ours / hand:.3f} |")
        if cond == "hypernet" and film:
            print(f"\nhypernet costs {film / ours:.2f}x film per image (nfields path; target <= 2x)")
