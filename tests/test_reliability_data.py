"""Bad and unusual image files through the entry point: handled, or rejected naming the file (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nfields.run.build import build_datamodule, build_module
from nfields.run.validate import validate_config
from tests.reliability import entry_point, expect_error

# name -> (how to write it, expected start of the message once {path} is filled in)
BAD: dict[str, str] = {
    "missing.png": "Error: image file not found: {path} (set data.image to an skimage sample name or a file)",
    "folder": "Error: data.image={path} is a folder; use data=image_folder data.root={path} for folders",
    "truncated.png": "Error: cannot decode image file {path}: image file is truncated (is it a valid, complete image?)",
    "truncated.jpg": "Error: cannot decode image file {path}: image file is truncated",
    "text.jpg": "Error: cannot decode image file {path}: cannot identify image file '{path}'",
    "empty.png": "Error: cannot decode image file {path}: cannot identify image file '{path}'",
    "vector.svg": "Error: cannot decode image file {path}: cannot identify image file '{path}'",
    "no_such_sample": "Error: data.image='no_such_sample' is neither a file nor a bundled skimage sample; samples: ",
}


def write_bad(tmp: Path, name: str) -> str:
    path = tmp / name
    png = tmp / "ok.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8) + 90).save(png)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)).save(tmp / "ok.jpg")
    if name == "folder":
        path.mkdir()
    elif name.startswith("truncated"):
        data = (tmp / ("ok" + path.suffix)).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif name == "text.jpg":
        path.write_text("not an image, despite the extension\n")
    elif name == "empty.png":
        path.write_bytes(b"")
    elif name == "vector.svg":
        path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    elif name == "no_such_sample":
        return name
    return str(path)


def test_bad_image_files_are_rejected_naming_the_file(make_cfg, capsys, tmp_path: Path) -> None:
    for name, expected in BAD.items():
        path = write_bad(tmp_path, name)
        cfg = make_cfg("debug=fast", "logger=none", f"data.image='{path}'")
        line = expect_error(cfg, capsys)
        assert line.startswith(expected.format(path=path)), (name, line)


def odd_images(tmp: Path) -> dict[str, tuple[np.ndarray, int]]:
    """name -> (array written with Pillow, expected channels)."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    images = {
        "gray.png": (rgb[..., 0], 1),
        "gray16.png": ((rgb[..., 0].astype(np.uint16) * 257), 1),
        "rgba.png": (np.concatenate([rgb, rng.integers(0, 256, (12, 10, 1), dtype=np.uint8)], -1), 3),
        "gray_alpha.png": (np.stack([rgb[..., 0], rgb[..., 1]], -1), 1),
        "one_pixel.png": (rgb[:1, :1], 3),
        "int32.tif": (rgb[..., 0].astype(np.int32) * 200, 1),
        "float.tif": (rgb[..., 0].astype(np.float32) / 7.0, 1),
    }
    for name, (a, _) in images.items():
        mode = "LA" if name == "gray_alpha.png" else None
        (Image.fromarray(a, mode) if mode else Image.fromarray(a)).save(tmp / name)
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=8).save(tmp / "palette.png")
    Image.fromarray(rgb).convert("1").save(tmp / "bilevel.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp / "cmyk.jpg")
    images.update({"palette.png": (rgb, 3), "bilevel.png": (rgb[..., 0], 1), "cmyk.jpg": (rgb, 3)})
    return images


def test_unusual_images_are_handled(make_cfg, tmp_path: Path) -> None:
    """16-bit, int32, float, grayscale, gray+alpha, RGBA, palette, 1-bit, CMYK and 1x1 images all build a model."""
    for name, (_, channels) in odd_images(tmp_path).items():
        cfg = make_cfg("debug=fast", "logger=none", f"data.image='{tmp_path / name}'", "data.size=null")
        validate_config(cfg)
        module = build_module(cfg, build_datamodule(cfg))
        img = module.clean
        assert img.shape[-1] == channels, name
        assert 0 <= float(img.min()) and float(img.max()) <= 1, name
        assert float(img.max()) > 0.05 or name == "one_pixel.png", (name, float(img.max()))  # not scaled to black
        assert module.render().shape == img.shape, name


@pytest.mark.parametrize(
    "over", [["data.size=null"], pytest.param(["data.size=8", "data.upsample=true"], marks=pytest.mark.slow)]
)
def test_one_pixel_image_trains_end_to_end(make_cfg, tmp_path: Path, over: list[str]) -> None:
    Image.fromarray(np.array([[[200, 10, 30]]], np.uint8)).save(tmp_path / "one.png")
    cfg = make_cfg("debug=fast", "logger=none", f"data.image='{tmp_path / 'one.png'}'", *over)
    entry_point(cfg)
    assert (tmp_path / "run" / "metrics.json").exists()


def test_an_image_smaller_than_data_size_is_refused_not_upsampled(make_cfg, tmp_path: Path, capsys) -> None:
    """A 1x1 image at data.size=8 was silently upsampled and 'fitted': the ground truth was a kernel's output."""
    Image.fromarray(np.array([[[200, 10, 30]]], np.uint8)).save(tmp_path / "one.png")
    cfg = make_cfg("debug=fast", "logger=none", f"data.image='{tmp_path / 'one.png'}'", "data.size=8")
    with pytest.raises(SystemExit) as e:
        entry_point(cfg)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert "data.size=8 is larger than the image (1x1)" in err[0] and "data.upsample=true" in err[0]
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["data=fashion_mnist", "data.root=/nonexistent"], "install the Debian package dataset-fashion-mnist"),
        (["data=mnist", "data.root=/nonexistent"], "MNIST not found in data.root=/nonexistent: expected <root>/MNIST"),
        (["data=image_folder", "data.root={empty}"], "image folder not found in data.root="),
    ],
)
def test_dataset_roots_without_their_files(make_cfg, capsys, tmp_path: Path, args: list[str], message: str) -> None:
    """Through the entry point: one line naming the root and the fix, exit 2, no traceback."""
    (tmp_path / "empty" / "a_class").mkdir(parents=True)
    args = [a.format(empty=tmp_path / "empty") for a in args]
    assert message in expect_error(make_cfg(*args, "logger=none"), capsys)
