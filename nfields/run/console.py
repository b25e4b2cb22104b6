"""What `python train.py` prints: one line saying what is trained on what and where, the progress bar
(nfields/lit/callbacks/progress.py), one closing line with the metrics. Lightning's chatter (device
summary, tips, "`Trainer.fit` stopped") is silenced; its warnings, which go through `warnings`, are kept.
Every line is printed with nfields.core.echo.echo, which also writes it to the run directory's train.log.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from nfields.core.metrics import baseline_psnrs
from nfields.data.collection import CollectionDataModule
from nfields.data.grid import GridDataModule
from nfields.data.image import ImageDataModule
from nfields.data.shape import ShapeDataModule
from nfields.data.shape_set import ShapeSetDataModule
from nfields.fields.field import NeuralField
from nfields.lit.base import BaseModule
from nfields.lit.many import ManyFieldsModule
from nfields.run.build import hydra_choice
from nfields.tasks.base import signal_noun
from nfields.tasks.base import size as grid_size

# Loggers whose INFO lines say nothing about the run: "GPU available: ...", "TPU available: ...", "💡 Tip: ...",
# "`Trainer.fit` stopped: ...", "You are using a CUDA device ... Tensor Cores" (rank_zero_info), and
# "LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]". rank_zero_warn goes through `warnings`, not these loggers.
CHATTY_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda")


def quiet_lightning() -> None:
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def count(n: float) -> str:
    """133000 -> '133k', 1.2e6 -> '1.2M'."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(int(n))


def choice(cfg: DictConfig, group: str) -> str:
    """The option chosen for a config group ('fourier'), or its class name outside Hydra."""
    chosen = hydra_choice(cfg, group)
    if chosen is not None:
        return str(chosen)
    node = cfg.get(group)
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    return str(target).rsplit(".", 1)[-1].lower() if target else "?"


def model_description(cfg: DictConfig, module: BaseModule) -> str:
    """'fourier + mlp (3x256, film, 199k params)', or the field's option for other fields: 'gaussians (80k params)'."""
    many = isinstance(module, ManyFieldsModule)
    n = module.n_members if many else 1
    params = count(module.field_params()) + " params" + (" each" if n > 1 else "")  # metrics.json's model/params
    field = module.field[0].template if many else module.field
    if not isinstance(field, NeuralField):  # field=gaussians, ...
        return f"{choice(cfg, 'field')} ({params})"
    net = field.network  # the built width, not the config's: WIRE's complex layers are n_neurons / sqrt(2) wide
    kind = " complex" if any(p.is_complex() for p in net.parameters()) else ""
    shape = [f"{len(net.hidden)}x{net.n_neurons}{kind}"] if len(net.hidden) else []
    cond = choice(cfg, "cond") if cfg.get("cond") else "none"
    extra = [*shape, *([cond] if cond != "none" else []), params]
    return f"{choice(cfg, 'encoding')} + {choice(cfg, 'network')} ({', '.join(extra)})"


def data_description(cfg: DictConfig, dm: pl.LightningDataModule, module: BaseModule) -> str:
    """'astronaut 128x128', '60k fashion_mnist images 28x28' (the training images), 'audio 2000 samples at 4000 Hz',
    'video 16x32x32 at 25 fps', 'volume 32x32x32'."""
    if isinstance(dm, ShapeDataModule | ShapeSetDataModule):
        return dm.describe()
    if isinstance(module, ManyFieldsModule):
        noun, signals = signal_noun(module.grid)[0], len({m.image for m in module.members})
        return f"{module.n_members} members ({signals} {noun}s of {choice(cfg, 'data')} {grid_size(module.grid)})"
    if isinstance(dm, GridDataModule) and not isinstance(dm, ImageDataModule):
        name = Path(str(cfg.data.get("path"))).name if cfg.data.get("path") else choice(cfg, "data")
        return f"{name} {dm.describe()}"
    if isinstance(dm, CollectionDataModule):
        noun = signal_noun(dm.image_shape)[0]
        return f"{count(dm.n_train)} {choice(cfg, 'data')} {noun}s {grid_size(dm.image_shape)}"
    h, w = module.image_shape[:2]
    image = (cfg.get("data") or {}).get("image")
    return f"{Path(str(image)).name if image else choice(cfg, 'data')} {h}x{w}"


def device_description(trainer: pl.Trainer) -> str:
    """'cpu', 'cuda (NVIDIA H200)', '2x cuda (...)', with the precision when it is not fp32."""
    device = trainer.strategy.root_device
    text = device.type if trainer.num_devices == 1 else f"{trainer.num_devices}x {device.type}"
    if device.type == "cuda":
        text += f" ({torch.cuda.get_device_name(device)})"
    precision = str(trainer.precision)
    return text if precision in ("32-true", "32") else f"{text}, {precision}"


def start_line(cfg: DictConfig, dm: pl.LightningDataModule, module: BaseModule, trainer: pl.Trainer) -> str:
    """'nfields: fourier + mlp (3x256, 199k params) on astronaut 128x128 (task=fit, model=single), 500 steps
    on cpu -> outputs/...' (and what it resumes from)."""
    what = f"{model_description(cfg, module)} on {data_description(cfg, dm, module)}"
    how = f"(task={choice(cfg, 'task')}, model={choice(cfg, 'model')})"
    steps = f"{trainer.max_steps} steps" if trainer.max_steps > 0 else f"{trainer.max_epochs} epochs"
    resume = f", resuming {cfg.ckpt_path}" if cfg.get("ckpt_path") else ""
    return f"nfields: {what} {how}, {steps} on {device_description(trainer)}{resume} -> {cfg.run_dir}"


# the closing line's scores, those a run has: (name, metric key, format); shapes have Chamfer-L1 and IoU
CLOSING = (
    ("PSNR", "psnr", "{:.2f} dB"),
    ("SSIM", "ssim", "{:.3f}"),
    ("Chamfer-L1", "chamfer_l1", "{:.4f}"),
    ("IoU", "iou", "{:.3f}"),
)


def closing_line(metrics: dict[str, float], steps_per_s: float | None, run_dir: str) -> str:
    """'PSNR: test 25.31 dB, val 25.30 dB | SSIM: test 0.912, val 0.911 | 312 steps/s -> outputs/...', with the
    task's test baselines after the test PSNR: 'PSNR: test 28.31 dB (bicubic 27.10 dB), val ...'."""
    parts = []
    for name, key, fmt in CLOSING:
        shown = [f"{s} {fmt.format(metrics[f'{s}/{key}'])}" for s in ("test", "val") if f"{s}/{key}" in metrics]
        baselines = baseline_psnrs(metrics, "test") if key == "psnr" else []
        if shown and baselines and shown[0].startswith("test "):
            shown[0] += f" ({', '.join(baselines)})"
        if shown:
            parts.append(f"{name}: {', '.join(shown)}")
    if steps_per_s is not None:
        parts.append(f"{steps_per_s:.3g} steps/s")
    return f"{' | '.join(parts) or 'no metrics'} -> {run_dir}"


def wandb_sync_hint(run_dir: str) -> str | None:
    """For a resumed offline W&B run (its parts are several `wandb/offline-run-*-<id>` folders: W&B cannot append
    offline), the one command that uploads them, in order, as the one run; None otherwise."""
    parts = sorted(Path(run_dir).glob("wandb/offline-run-*"))
    if len(parts) < 2 or len({p.name.rsplit("-", 1)[-1] for p in parts}) != 1:
        return None
    command = f"wandb sync {run_dir}/wandb/offline-run-*"
    return f"W&B: this run is in {len(parts)} offline parts; upload them as one run with: {command}"
