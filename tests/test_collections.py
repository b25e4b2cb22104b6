"""Collections: data splits and errors, latent sources, test-time optimisation, training end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from nfields.core.errors import ConfigError, DatasetMissing, ImageError
from nfields.data.fashion_mnist import DEFAULT_ROOT, FashionMNISTDataModule, read_idx_images
from nfields.data.synthetic import SyntheticDataModule
from nfields.lit.collection import CollectionModule
from nfields.run.build import build_datamodule, build_module, load_checkpoint
from nfields.run.train import train
from tests.conftest import run_train

# Tiny sizes: a synthetic collection of 8x8 images and a small field.
TINY = [
    "debug=fast",
    "data=synthetic",
    "logger=none",
    "data.n_images=24",
    "data.size=8",
    "data.batch_size=4",
    "data.n_val=4",
    "data.n_test=4",
    "encoding.n_features=8",
    "encoding.sigma=3",
    "network.n_neurons=16",
    "model.latent_dim=4",
    "model.tto_steps=3",
    "model.val_tto_steps=1",
]
HAS_FASHION = (Path(DEFAULT_ROOT) / "train-images-idx3-ubyte.gz").exists()


def batch(dm, split: str = "train", n: int = 4) -> dict:
    return next(iter(dm.loader(split, n, shuffle=False)))


def trained_metrics(cfg) -> dict:
    train(cfg)
    return json.loads((Path(cfg.run_dir) / "metrics.json").read_text())


# ---- data ------------------------------------------------------------------------------------
def test_synthetic_splits_limit_and_batches(make_cfg) -> None:
    dm = build_datamodule(make_cfg(*TINY, "data.limit=10"))
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 10, "val": 4, "test": 4}
    b = batch(dm)
    idx, images = b["index"], b["image"]
    observed = b["observed"]  # the four images' observations, stacked
    assert "obs" not in b and observed.coords.shape == (4, 64, 2) and observed.values.shape == (4, 64, 3)
    assert idx.tolist() == [0, 1, 2, 3] and images.shape == (4, 8, 8, 3) and images.dtype == torch.float32
    assert dm.channels == 3 and dm.image_shape == (8, 8) and dm.n_train == 10
    # val and test images are never training images
    train_imgs = torch.stack([dm.splits["train"][i][1] for i in range(10)]).flatten(1)
    for split in ("val", "test"):
        for i in range(4):
            assert not (train_imgs == dm.splits[split][i][1].flatten()).all(1).any()


def test_bad_data_settings_name_the_key(make_cfg) -> None:
    for make, message in (
        (lambda: SyntheticDataModule(batch_size=0), "data.batch_size=0: must be an integer >= 1"),
        (lambda: SyntheticDataModule(n_images=2), "data.n_images=2: must be an integer >= 3"),
        (lambda: SyntheticDataModule(size=None), "data.size=null: must be an integer >= 1"),
        (lambda: SyntheticDataModule(channels=0), "data.channels=0: must be an integer >= 1"),
    ):
        with pytest.raises(ConfigError) as e:
            make()
        assert str(e.value) == message
    with pytest.raises(ConfigError) as e:  # known only once the images are counted (setup, before training)
        build_datamodule(make_cfg(*TINY, "data.n_val=30"))
    assert str(e.value) == "data.n_val=30: with data.n_test=4, leaves none of the 24 images to train on; lower them"


def test_a_corrupt_idx_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(np.array([2051, 10, 28, 28], dtype=">i4").tobytes() + bytes(100))  # 10 images promised
    with pytest.raises(ImageError) as e:
        read_idx_images(path)
    assert str(e.value) == (
        f"{path} is not an IDX image file (magic 2051, 116 bytes for 10x28x28); "
        "replace it (a truncated download?) or point data.root to a good copy"
    )


@pytest.mark.skipif(not HAS_FASHION, reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_reads_the_debian_idx_files() -> None:
    dm = FashionMNISTDataModule(limit=100, n_val=10, n_test=20)
    dm.setup()
    assert len(dm.splits["train"]) == 100 and len(dm.splits["test"]) == 20
    img = dm.splits["train"][0][1]
    assert img.shape == (28, 28, 1) and 0 <= img.min() and img.max() <= 1 and img.max() > 0.5


def test_fashion_mnist_missing_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing, match="dataset-fashion-mnist"):
        FashionMNISTDataModule(root=str(tmp_path)).setup()


@pytest.mark.parametrize(
    "option, layout",
    [
        ("mnist", "MNIST/raw"),
        ("cifar10", "cifar-10-batches-py"),
        ("celeba", "img_align_celeba"),
        ("image_folder", "<class name>"),
    ],
)
def test_torchvision_datasets_missing_name_the_layout(make_cfg, tmp_path: Path, option: str, layout: str) -> None:
    pytest.importorskip("torchvision")
    dm = instantiate(make_cfg("debug=fast", f"data={option}", f"data.root={tmp_path / 'nothing'}").data)
    with pytest.raises(DatasetMissing, match=f"data.root=.*{layout}".replace("<", ".").replace(">", ".")):
        dm.setup()


def test_image_folder_reads_class_subfolders(make_cfg, tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    rng, root = np.random.default_rng(0), tmp_path / "images"
    for i in range(12):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(root / f"c{i % 2}/{i}.png")
    dm = build_datamodule(
        make_cfg(
            "data=image_folder",
            f"data.root={root}",
            "data.size=16",
            "data.n_val=2",
            "data.n_test=2",
            "data.batch_size=4",
        )
    )
    assert len(dm.splits["train"]) == 8 and batch(dm)["image"].shape == (4, 16, 16, 3)


# ---- training ----------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["autodecoder", "encoder"])
@pytest.mark.parametrize("latent", ["global", "local", "hybrid"])
@pytest.mark.parametrize("cond", ["concat", "film", "hypernet"])
def test_every_combination_trains(make_cfg, cond: str, latent: str, source: str) -> None:
    cfg = make_cfg(
        *TINY,
        f"cond={cond}",
        f"latent={latent}",
        f"model.latent_source={source}",
        "trainer.max_steps=4",
        "log.val_every_n_steps=2",
    )
    m = trained_metrics(cfg)
    assert m["step"] == 4
    assert np.isfinite(m["test/psnr"]) and np.isfinite(m["val/psnr"])
    assert m["test/psnr"] >= m["test/psnr_tto0"] - 0.5  # three TTO steps do not make things worse


def test_synthetic_run_raises_psnr_and_writes_its_figures(make_cfg, tmp_path: Path) -> None:
    over = [
        *TINY,
        "cond=film",
        "model.latent_source=autodecoder",
        "trainer.max_steps=150",
        "log.val_every_n_steps=50",
        "model.lr=3e-3",
        "model.latent_lr=1e-2",
        "model.tto_steps=20",
    ]
    cfg = make_cfg(*over)
    torch.manual_seed(cfg.seed)  # the same init as the run below (train() seeds everything the same way)
    dm = build_datamodule(cfg)
    before = build_module(cfg, dm).tto(batch(dm, "test")["image"], steps=20).psnr.mean().item()
    m = trained_metrics(cfg)
    assert m["test/psnr"] > before + 2, (before, m)
    assert 0 < m["val/ssim"] <= 1 and 0 < m["test/ssim"] <= 1  # the run-directory contract's SSIM keys
    run = Path(cfg.run_dir)
    for name in (
        "metrics.json",
        "reconstruction.png",
        "progress.gif",
        "tto_curve.png",
        "tto_curve.json",
        "interpolation.png",
        "checkpoints/last.ckpt",
    ):
        assert (run / name).exists(), name
    curve = json.loads((run / "tto_curve.json").read_text())
    assert curve[0]["step"] == 0 and curve[-1]["step"] == 20 and curve[-1]["psnr"] > curve[0]["psnr"]
    assert curve[-1]["psnr"] == pytest.approx(m["test/psnr"], abs=1e-3)
    module = load_checkpoint(run / "checkpoints" / "last.ckpt")  # the checkpoint alone rebuilds it
    assert isinstance(module, CollectionModule)
    assert torch.equal(
        module.source.codes.weight,
        torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]["source.codes.weight"],
    )


def test_cond_none_on_a_collection_fits_one_shared_image(make_cfg) -> None:
    m = trained_metrics(make_cfg(*TINY, "cond=none", "trainer.max_steps=4"))
    assert m["test/psnr"] == pytest.approx(m["test/psnr_tto0"])  # no codes: nothing to optimise


def test_conditional_field_on_the_default_single_image(make_cfg) -> None:
    from tests.test_train import untrained_psnr

    cfg = make_cfg("debug=fast", "logger=none", "cond=film")
    before = untrained_psnr(cfg)
    assert trained_metrics(cfg)["test/psnr"] > before + 3


@pytest.mark.skipif(not HAS_FASHION, reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_command_line(tmp_path: Path) -> None:
    run = tmp_path / "fm"
    args = [
        "data=fashion_mnist",
        "encoding=fourier",
        "cond=film",
        "data.limit=64",
        "data.n_val=4",
        "data.n_test=8",
        "trainer.max_steps=4",
        "log.val_every_n_steps=2",
        "model.tto_steps=2",
        "model.val_tto_steps=1",
        "network.n_neurons=32",
        "encoding.n_features=16",
        "logger=none",
        f"hydra.run.dir={run}",
    ]
    proc = run_train(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PSNR: test" in proc.stdout
    m = json.loads((run / "metrics.json").read_text())
    assert np.isfinite(m["test/psnr"]) and m["step"] == 4


@pytest.mark.slow
def test_cond_compare_multirun_writes_the_table(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    tiny = [o for o in TINY if not o.startswith(("debug", "model.latent_dim"))]
    proc = run_train(["experiment=cond_compare", *tiny, "trainer.max_steps=3", f"hydra.sweep.dir={sweep}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (sweep / "cond_compare.md").read_text().splitlines()
    rows = [r.split("|")[1].strip() for r in table[2:]]
    assert rows == ["concat", "film", "hypernet"], table
    assert all("n/a" not in r for r in table[2:]), table  # every run has its PSNR and parameter count
    script = subprocess.run(
        [sys.executable, "scripts/cond_compare.py", str(sweep), "--out", str(tmp_path / "t.md")],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    )
    assert script.returncode == 0, script.stderr
    assert (tmp_path / "t.md").read_text() == "\n".join(table) + "\n"
