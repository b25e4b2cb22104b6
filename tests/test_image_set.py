"""data=image_set: a folder or an .npz of images (the Fourier-features sets), and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nfields.core.errors import ConfigError, ImageError
from nfields.data.image_set import ImageSet, ImageSetDataModule

FFN = Path(__file__).resolve().parents[2] / "shared" / "data" / "ffn"


def write_set(folder: Path, n: int, size: int = 8, seed: int = 0) -> np.ndarray:
    """n random RGB images as 00.png, 01.png, ... -> their (n, size, size, 3) uint8 array."""
    a = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(a):
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    return a


def test_a_folder_with_split_subfolders_reads_the_chosen_split_in_name_order(tmp_path: Path) -> None:
    train, test = write_set(tmp_path / "train", 3, seed=1), write_set(tmp_path / "test", 4, seed=2)
    dm = ImageSetDataModule(root=str(tmp_path), split="test", index=2)
    dm.setup()
    assert dm.image.dtype == torch.uint8 and torch.equal(dm.image, torch.from_numpy(test[2]))
    s = ImageSet(tmp_path, "train", limit=2)
    assert s.n == 2 and torch.equal(s.image(1), torch.from_numpy(train[1]))
    flat = ImageSet(tmp_path / "test", "test")  # no test/ subfolder inside: the folder itself
    assert flat.n == 4


def test_an_npz_reads_the_notebooks_arrays(tmp_path: Path) -> None:
    train = np.random.default_rng(0).integers(0, 256, (2, 6, 6, 3), dtype=np.uint8)
    test = np.random.default_rng(1).integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "data_2d_text.npz", train_data=train, test_data=test)
    dm = ImageSetDataModule(root=str(tmp_path / "data_2d_text.npz"), split="train", index=1)
    dm.setup()
    assert torch.equal(dm.image, torch.from_numpy(train[1]))
    assert ImageSet(tmp_path / "data_2d_text.npz", "test").n == 5


def test_data_size_area_downsamples_every_image(tmp_path: Path) -> None:
    a = write_set(tmp_path, 1, size=8)
    dm = ImageSetDataModule(root=str(tmp_path), split=None, size=4)
    dm.setup()
    expect = torch.from_numpy(a[0]).float().div(255).reshape(4, 2, 4, 2, 3).mean((1, 3))  # 2x2 block means
    assert torch.allclose(dm.image, expect, atol=1e-6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: ImageSetDataModule(root=None), "data.root=null: must be a folder of images or an .npz file"),
        (lambda d: ImageSetDataModule(root=str(d / "missing")), "no such folder"),
        (lambda d: ImageSetDataModule(root=str(d / "empty")), "holds no image files"),
        (lambda d: ImageSetDataModule(root=str(d / "mixed"), split=None), "differ in size"),
        (lambda d: ImageSetDataModule(root=str(d / "set.npz"), split="val"), "has no array 'val_data'"),
        (lambda d: ImageSetDataModule(root=str(d / "mixed"), split=None, index=5), "data.index=5: the set has 2"),
        (lambda d: ImageSetDataModule(root=str(d / "mixed"), split=None, index=-1), "data.index=-1: must be"),
    ],
)
def test_bad_sets_give_one_line_naming_the_fix(tmp_path: Path, make, message: str) -> None:
    (tmp_path / "empty").mkdir()
    write_set(tmp_path / "mixed", 1, size=8)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "mixed" / "zz.png")
    np.savez(tmp_path / "set.npz", train_data=np.zeros((1, 2, 2, 3), np.uint8))
    with pytest.raises((ImageError, ConfigError), match=message):
        make(tmp_path).setup()


def test_mixed_sizes_are_accepted_when_data_size_resizes_them(tmp_path: Path) -> None:
    write_set(tmp_path, 1, size=8)
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(tmp_path / "zz.png")
    dm = ImageSetDataModule(root=str(tmp_path), split=None, index=1, size=4)
    dm.setup()
    assert dm.image.shape == (4, 4, 3)


@pytest.mark.skipif(not (FFN / "div2k" / "test").is_dir(), reason="the Fourier-features images are not here")
def test_the_papers_sets_read_as_512_rgb() -> None:
    for name in ("div2k", "text"):
        s = ImageSet(FFN / name, "test")
        assert s.n == 16 and s.sizes() == {(512, 512): "00.png"} and s.image(0).shape == (512, 512, 3)
