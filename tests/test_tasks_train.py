"""Each task end to end on a tiny image: PSNR rises, and the panel shows observation | prediction | truth."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train

# A 24^2 image trained on 12^2 samples: the default sigma=10 aliases on so few samples, so use a low bandwidth.
LOW_FREQ = ("encoding.sigma=2", "model.lr=5e-3")


@pytest.mark.parametrize("task", ["interpolate", "superres", "denoise", "inpaint"])
def test_task_trains_and_logs_its_panel(make_cfg, task: str) -> None:
    fast = ("debug=fast", "logger=none", "trainer.max_steps=40", "~callbacks.progress_gif")
    cfg = make_cfg(*fast, f"task={task}", *LOW_FREQ)
    torch.manual_seed(0)
    module = build_module(cfg, build_datamodule(cfg))
    before = module.task.evaluate(module.render(), module.clean, module.obs, "test")["psnr"]
    module.last_render = module.render()
    assert list(module.panel_images()) == ["observed", "prediction", "ground truth"]
    train(cfg)
    run = Path(cfg.run_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/psnr"] > before + 2, (before, metrics)
    assert {"val/psnr", "test/psnr", "test/psnr_all", "test/ssim"} <= set(metrics)
    if task == "superres":
        assert metrics["test/psnr_bicubic"] > 0
    panel = iio.imread(run / "reconstruction.png")
    assert panel.shape[1] >= 3 * cfg.log.panel_height  # three tiles side by side (captions above them)
