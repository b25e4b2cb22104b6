"""Reconstruction panels caption the prediction with the PSNR of the evaluation they show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import pytest

import nfields.lit.callbacks.images as images
from nfields.run.train import train
from tests.test_collections import TINY


@pytest.fixture
def panels(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The captions of every panel drawn (the callback's call to media.panel), in order."""
    drawn: list[list[str]] = []
    real = images.panel

    def spy(imgs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        drawn.append(list(imgs))
        return real(imgs, *args, **kwargs)

    monkeypatch.setattr(images, "panel", spy)
    return drawn


def test_single_image_panels_show_the_psnr(make_cfg, panels: list[list[str]], tmp_path: Path) -> None:
    train(make_cfg("debug=fast", "logger=none"))
    run = tmp_path / "run"
    history = json.loads((run / "history.json").read_text())["val"]
    test = json.loads((run / "metrics.json").read_text())["test/psnr"]
    # one panel per validation (steps 10, 20, 30), then the test panel; task=fit shows no observation
    expected = [f"prediction {h['val/psnr']:.2f} dB" for h in history] + [f"prediction {test:.2f} dB"]
    assert [p[0] for p in panels] == expected, panels
    assert all(p[1:] == ["ground truth"] for p in panels), panels
    assert len({p[0] for p in panels}) > 1  # each validation's own value, not a stale one
    assert iio.imread(run / "reconstruction.png").shape[2] == 3


def test_superres_shows_its_bicubic_baseline(
    make_cfg, panels: list[list[str]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """task=superres: the bicubic PSNR (metrics.json's test/psnr_bicubic) in the closing line and the test panel."""
    train(make_cfg("debug=fast", "logger=none", "task=superres"))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    closing = capsys.readouterr().out.splitlines()[-1]
    assert closing.startswith(f"PSNR: test {m['test/psnr']:.2f} dB (bicubic {m['test/psnr_bicubic']:.2f} dB), val"), (
        closing
    )
    assert panels[-1][1] == f"prediction {m['test/psnr']:.2f} dB (bicubic {m['test/psnr_bicubic']:.2f} dB)", panels


def test_collection_panels_show_the_mean_psnr(make_cfg, panels: list[list[str]], tmp_path: Path) -> None:
    train(make_cfg(*TINY, "trainer.max_steps=4", "log.val_every_n_steps=2"))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    caption = f"prediction (mean {m['test/psnr']:.2f} dB, mean image {m['test/psnr_mean_image']:.2f} dB)"
    assert panels[-1] == [caption, "ground truth"], panels
    assert len(panels) == 3 and all(p[0].startswith("prediction (mean ") for p in panels), panels


def test_captioned_keys() -> None:
    imgs = {"observed": 1, "prediction": 2, "ground truth": 3}
    keys = list(images.captioned(imgs, {"prediction": "23.41 dB", "observed": ""}))
    assert keys == ["observed", "prediction 23.41 dB", "ground truth"]
