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


def write_frames(folder: Path, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Random RGB images of the given (H, W) as 00.png, 01.png, ... -> their uint8 arrays."""
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    return images


def test_crop_null_keeps_the_whole_frame_and_size_is_its_longer_side(tmp_path: Path) -> None:
    (a,) = write_frames(tmp_path, [(8, 12)])  # landscape, as Kodak's 768 x 512 (W x H)
    whole = ImageSetDataModule(root=str(tmp_path), split=None, crop=None)
    whole.setup()
    assert whole.image.dtype == torch.uint8 and torch.equal(whole.image, torch.from_numpy(a))
    half = ImageSetDataModule(root=str(tmp_path), split=None, crop=None, size=6)
    half.setup()
    expect = torch.from_numpy(a).float().div(255).reshape(4, 2, 6, 2, 3).mean((1, 3))  # (4, 6, 3): 2x2 block means
    assert torch.allclose(half.image, expect, atol=1e-6)
    square = ImageSetDataModule(root=str(tmp_path), split=None)  # the default: the centre square
    square.setup()
    assert torch.equal(square.image, torch.from_numpy(a[:, 2:10]))
    with pytest.raises(ImageError, match=r"data.size=16 is larger than .*longer side \(8x12\).*data.size=12"):
        ImageSetDataModule(root=str(tmp_path), split=None, crop=None, size=16).setup()


def test_a_single_run_fits_a_portrait_frame_as_it_is_or_turned(tmp_path: Path) -> None:
    _, portrait = write_frames(tmp_path, [(8, 12), (12, 8)])
    own = ImageSetDataModule(root=str(tmp_path), split=None, crop=None, index=1)
    own.setup()
    assert torch.equal(own.image, torch.from_numpy(portrait))  # (12, 8, 3): mixed frames, one run each
    turned = ImageSetDataModule(root=str(tmp_path), split=None, crop=None, index=1, orient="landscape")
    turned.setup()
    assert turned.image.shape == (8, 12, 3)
    assert torch.equal(turned.image, torch.rot90(torch.from_numpy(portrait), 1, dims=(0, 1)))  # counter-clockwise
    assert torch.equal(turned.image[0, :, 0], torch.from_numpy(portrait[:, -1, 0]))  # the last column is the top row


def test_model_many_members_of_turned_frames_share_one_shape(tmp_path: Path) -> None:
    write_frames(tmp_path, [(8, 12), (12, 8), (8, 12)])
    dm = ImageSetDataModule(root=str(tmp_path), split=None, crop=None, orient="landscape", size=6)
    members = dm.member_images()
    assert [m[0] for m in members] == [0, 1, 2] and {m[2].shape for m in members} == {(4, 6, 3)}


@pytest.mark.parametrize(
    "shapes, kwargs, fix",
    [
        ([(8, 12), (12, 8)], {}, "set data.orient=landscape to turn portrait images"),
        ([(8, 12), (8, 8)], {"orient": "landscape"}, "set data.crop=square with data.size"),
        ([(8, 12), (6, 12)], {"size": 6}, "set data.crop=square with data.size"),
    ],
)
def test_model_many_refuses_frames_of_other_shapes_in_one_line(tmp_path: Path, shapes, kwargs, fix: str) -> None:
    write_frames(tmp_path, shapes)
    dm = ImageSetDataModule(root=str(tmp_path), split=None, crop=None, **kwargs)
    with pytest.raises(ImageError, match="model=many needs one shape") as err:
        dm.member_images()
    assert str(err.value).endswith(fix) and "\n" not in str(err.value)
    assert dm.member_images([0])[0][2].shape[:2] == dm.image.shape[:2]  # one member alone is fine


def test_bad_crop_and_orient_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.crop=whole: must be one of square"):
        ImageSetDataModule(root=str(tmp_path), crop="whole")
    with pytest.raises(ConfigError, match="data.orient=portrait: must be one of landscape"):
        ImageSetDataModule(root=str(tmp_path), orient="portrait")


@pytest.mark.skipif(not (FFN / "div2k" / "test").is_dir(), reason="the Fourier-features images are not here")
def test_the_papers_sets_read_as_512_rgb() -> None:
    for name in ("div2k", "text"):
        s = ImageSet(FFN / name, "test")
        assert s.n == 16 and s.sizes() == {(512, 512): "00.png"} and s.image(0).shape == (512, 512, 3)
