"""model.init_from: a single-image run starts from model=learnit's meta-learned field (its PSNR before any step is
the init's own on that image) and trains from there; another architecture, domain or a missing file is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from nfields.core.errors import ConfigError
from nfields.fields.field import render_grid
from nfields.run.build import build_datamodule, build_module, load_field
from nfields.run.compose import compose_run_config
from nfields.run.train import train
from tests.test_learnit import TINY

# The single run's field: the same encoding and network as TINY's learnit run (debug=fast: 2 x 16 ReLU)
FIELD = ["debug=fast", "logger=none", "encoding.n_features=8", "encoding.sigma=3", "network.n_neurons=16"]


@pytest.fixture(scope="module")
def learnit_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the run dir of a short model=learnit run on synthetic 8x8 images, a PNG of one of its unseen images)."""
    folder = tmp_path_factory.mktemp("learnit")
    over = [*TINY, "model.lr=1e-2", "model.inner_lr=1", "trainer.max_steps=20", "log.val_every_n_steps=20"]
    cfg = compose_run_config([*over, "~callbacks.progress_gif"], folder / "run")
    image = build_datamodule(cfg).splits["test"].image(0)  # (8, 8, 3): never trained on
    train(cfg)
    GlobalHydra.instance().clear()
    png = folder / "unseen.png"
    Image.fromarray((image.numpy() * 255).round().astype(np.uint8)).save(png)
    return folder / "run", png


def single(make_cfg, png: Path, init: Path | str, *over: str):
    cfg = make_cfg(*FIELD, "data=image", f"data.image={png}", "data.size=8", f"model.init_from={init}", *over)
    return cfg, build_module(cfg, build_datamodule(cfg))


def test_a_single_run_starts_at_the_meta_inits_psnr_and_trains(make_cfg, learnit_run) -> None:
    run, png = learnit_run
    field, _ = load_field(run / "checkpoints" / "last.ckpt")
    target = torch.from_numpy(np.array(Image.open(png))).float() / 255  # (8, 8, 3)
    with torch.no_grad():
        init_psnr = float(-10 * torch.log10((render_grid(field, (8, 8)).clamp(0, 1) - target).pow(2).mean()))
    cfg, module = single(make_cfg, png, run)  # a run dir: its checkpoints/last.ckpt
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(v, ckpt[f"field.{k}"]) for k, v in module.field.state_dict().items())
    assert module.evaluate("val")["psnr"] == pytest.approx(init_psnr, abs=1e-4)  # step 0 is the init's
    _, fresh = single(make_cfg, png, run, "model.init_from=null")  # the standard init differs
    assert fresh.evaluate("val")["psnr"] != pytest.approx(init_psnr, abs=1e-2)
    cfg, _ = single(make_cfg, png, run / "checkpoints" / "last.ckpt", "trainer.max_steps=30", "model.lr=1e-2")
    assert train(cfg) > init_psnr + 1.0  # val/psnr after 30 steps from the init: it trains


@pytest.mark.parametrize(
    ("over", "words"),
    [
        (
            ["network.n_neurons=32"],
            ["another architecture", "(16, 16) there", "(32, 16) in this run"],
        ),  # the first hidden layer
        (
            ["encoding.n_features=4"],
            ["another architecture", "(8, 2) there", "(4, 2) in this run"],
        ),  # the Fourier matrix
        (["network=siren", "encoding=fourier"], ["another architecture"]),  # other layers
    ],
)
def test_another_architecture_is_refused_naming_both_shapes(make_cfg, learnit_run, over, words) -> None:
    run, png = learnit_run
    with pytest.raises(ConfigError) as e:
        single(make_cfg, png, run, *over)
    msg = str(e.value)
    assert msg.startswith("model.init_from=") and "\n" not in msg and all(w in msg for w in words), msg


def test_another_domain_and_a_missing_file_are_refused(make_cfg, learnit_run, tmp_path: Path) -> None:
    run, png = learnit_run
    with pytest.raises(ConfigError, match=r"model.init_from=.*trained on 2-D signals \(8, 8, 3\), this run's .* 1-D"):
        cfg = make_cfg(*FIELD, "data=audio", f"model.init_from={run}")
        build_module(cfg, build_datamodule(cfg))
    for missing in (tmp_path / "nothing.ckpt", tmp_path):  # a file, a folder without checkpoints/last.ckpt
        with pytest.raises(ConfigError, match=r"^model.init_from=.*not found"):
            single(make_cfg, png, missing)
