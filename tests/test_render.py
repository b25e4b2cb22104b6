"""Rendering at any resolution: chunked == unchunked, bounded chunks, and scripts/render.py from a checkpoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from nfields.core.coords import pixel_grid
from nfields.fields.field import render
from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train
from tests.conftest import ROOT


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("h, w, chunk", [(20, 30, 7), (13, 5, 64), (9, 9, 1)])
def test_chunked_render_matches_unchunked_and_bounds_the_batch(make_cfg, h: int, w: int, chunk: int) -> None:
    cfg = make_cfg("debug=fast", "logger=none")
    field = build_module(cfg, build_datamodule(cfg)).field
    with torch.no_grad():
        whole = field(pixel_grid(h, w).reshape(-1, 2)).reshape(h, w, -1)  # one forward pass, no chunks
    sizes: list[int] = []

    def spy(c: torch.Tensor) -> torch.Tensor:
        sizes.append(c.shape[0])
        return field(c)

    out = render(spy, h, w, chunk=chunk, progress=True)
    assert out.shape == (h, w, 3)
    assert torch.allclose(out, whole, atol=1e-6)
    assert max(sizes) <= chunk and sum(sizes) == h * w


def test_render_rejects_a_bad_chunk() -> None:
    with pytest.raises(ValueError, match="chunk"):
        render(lambda c: c, 4, 4, chunk=0)


def test_render_script_writes_the_requested_size(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("debug=fast", "logger=none", "trainer.max_steps=10", "~callbacks.progress_gif")
    train(cfg)
    ckpt = Path(cfg.run_dir) / "checkpoints" / "last.ckpt"
    script = load_script("render")
    out = script.main([str(ckpt), "--size", "57", "--chunk", "100", "--device", "cpu", "--out", f"{tmp_path}/r.png"])
    img = iio.imread(out)
    assert img.shape == (57, 57, 3)
    whole = script.main(
        [str(ckpt), "--size", "57", "--chunk", "1000000", "--device", "cpu", "--out", f"{tmp_path}/w.png"]
    )
    assert (iio.imread(whole) == img).all()  # bands of one row (chunk 100 < 57 x 2) == one band
    default = script.main([str(ckpt), "--size", "24", "--device", "cpu"])  # the training resolution
    assert default == Path(cfg.run_dir) / "render_24x24.png"
    pred = iio.imread(Path(cfg.run_dir) / "prediction.png")
    assert (abs(iio.imread(default).astype(int) - pred.astype(int)) <= 1).all()  # same field as the run's render
    with pytest.raises(SystemExit):
        script.main([str(tmp_path / "missing.ckpt")])


def test_render_needs_no_training_data(make_cfg, tmp_path: Path) -> None:
    """A checkpoint of a run on an image file renders after that file is gone."""
    from PIL import Image

    src = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((20, 30, 3)) * 255).astype("uint8")).save(src)
    cfg = make_cfg("debug=fast", "logger=none", f"data.image={src}", "data.size=null", "trainer.max_steps=5")
    train(cfg)
    src.unlink()
    out = load_script("render").main(
        [
            str(Path(cfg.run_dir) / "checkpoints" / "last.ckpt"),
            "--size",
            "60",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "r.png"),
        ]
    )
    assert iio.imread(out).shape == (60, 60, 3)  # square crop of the 20x30 image: 20x20 upscaled to 60
