from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nfields.core.coords import pixel_grid
from nfields.core.errors import ImageError
from nfields.core.io import load_image, square_resize
from nfields.data.image import ImageDataModule


def test_skimage_sample_by_name() -> None:
    img = load_image("astronaut")
    assert img.shape == (512, 512, 3) and img.dtype == torch.float32
    assert 0 <= img.min() and img.max() <= 1


def test_grayscale_sample_has_one_channel() -> None:
    assert load_image("camera").shape == (512, 512, 1)


def test_grayscale_rgba_palette_16bit_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    rgba = np.concatenate([rgb, np.full((9, 7, 1), 0, np.uint8)], -1)  # fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=8).save(tmp_path / "pal.png")
    g16 = (np.arange(63, dtype=np.uint16).reshape(9, 7) * 1000).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")

    assert torch.allclose(load_image(tmp_path / "rgb.png"), torch.from_numpy(rgb / 255.0).float())
    assert load_image(tmp_path / "gray.png").shape == (9, 7, 1)
    assert torch.all(load_image(tmp_path / "rgba.png") == 0)  # premultiplied by alpha 0
    pal = load_image(tmp_path / "pal.png")
    assert pal.shape == (9, 7, 3)
    g = load_image(tmp_path / "g16.png")
    assert g.shape == (9, 7, 1) and g.max().item() == pytest.approx(62000 / 65535, rel=1e-5)


def test_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found.*nope.png"):
        load_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(ImageError, match="bad.png"):
        load_image(bad)
    with pytest.raises(ImageError, match="skimage sample"):
        load_image("not_a_sample_name")


def test_square_resize() -> None:
    img = torch.rand(30, 50, 3)
    assert square_resize(img, None).shape == (30, 30, 3)
    assert square_resize(img, 10).shape == (10, 10, 3)
    with pytest.raises(ImageError, match=r"data.size=64 is larger than the image \(30x50\).*data.upsample=true"):
        square_resize(img, 64)  # the ground truth would silently become an interpolation
    up = square_resize(img, 64, upsample=True)
    assert up.shape == (64, 64, 3) and up.min() >= 0 and up.max() <= 1
    # area downsampling by 2 is the mean of 2x2 blocks
    sq = torch.rand(8, 8, 1)
    assert torch.allclose(square_resize(sq, 4)[0, 0, 0], sq[:2, :2, 0].mean())


def test_pixel_grid_centres() -> None:
    g = pixel_grid(2, 4)
    assert g.shape == (2, 4, 2)
    assert torch.allclose(g[0, 0], torch.tensor([0.125, 0.25]))  # (u, v) = (column, row) centres
    assert torch.allclose(g[1, 3], torch.tensor([0.875, 0.75]))


def test_datamodule_loads_once_and_reports_channels() -> None:
    dm = ImageDataModule("camera", size=16)
    dm.setup()
    assert dm.image.shape == (16, 16, 1) and dm.channels == 1
    ticks = iter(dm.train_dataloader())
    assert [next(ticks) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="data.batch_size"):
        ImageDataModule(batch_size=0)


def test_ssim_of_a_batch_is_the_mean_of_its_images() -> None:
    from nfields.core.metrics import ssim

    torch.manual_seed(0)
    a, b = torch.rand(3, 16, 16, 1), torch.rand(3, 16, 16, 1)
    b[0] = a[0]  # one identical pair: SSIM 1
    per_image = [ssim(a[i], b[i]) for i in range(3)]
    assert per_image[0] == pytest.approx(1.0, abs=1e-5)
    assert ssim(a, b) == pytest.approx(sum(per_image) / 3, abs=1e-5)


@pytest.mark.parametrize("shape", [(37, 29, 3), (2, 40, 23, 1)])
def test_ssim_in_bands_of_rows_equals_the_whole_image(shape: tuple[int, ...]) -> None:
    """Large images are scored band by band (memory); every band size gives the same SSIM."""
    from nfields.core.metrics import ssim

    g = torch.Generator().manual_seed(0)
    a = torch.rand(shape, generator=g)
    b = (a + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    whole = ssim(a, b, band_pixels=1 << 30)
    for band_pixels in (1, 50, 200, 700):  # 1 = one scored row per band
        assert ssim(a, b, band_pixels=band_pixels) == pytest.approx(whole, abs=1e-5)


def test_8bit_images_can_stay_uint8_levels(tmp_path) -> None:
    """keep_uint8 keeps 8-bit gray/RGB as levels (a quarter of the memory); the float reading is levels / 255."""
    import imageio.v3 as iio

    u8 = load_image("astronaut", keep_uint8=True)
    assert u8.dtype == torch.uint8 and torch.equal(u8.float() / 255, load_image("astronaut"))
    assert load_image("camera", keep_uint8=True).shape == (512, 512, 1)
    rgba = torch.randint(0, 256, (6, 5, 4), dtype=torch.uint8)
    iio.imwrite(tmp_path / "a.png", rgba.numpy())
    assert load_image(tmp_path / "a.png", keep_uint8=True).dtype == torch.float32  # alpha is composited: floats
    crop = square_resize(u8[:, :300], None)
    assert crop.dtype == torch.uint8 and crop.shape == (300, 300, 3)
    assert torch.equal(square_resize(u8, 64), square_resize(u8.float() / 255, 64))  # resizing works on floats


@pytest.mark.parametrize(
    "shape,dtype",
    [((37, 23, 3), np.uint8), ((37, 23), np.uint8), ((37, 23, 4), np.uint8), ((9, 7), np.uint16), ((9, 7), np.float32)],
)
def test_decoding_in_bands_of_rows_gives_the_whole_array(shape: tuple[int, ...], dtype: type) -> None:
    """read_file converts Pillow images to numpy in bands (memory); every band size gives np.asarray(im)."""
    from nfields.core.io import to_array

    rng = np.random.default_rng(0)
    arr = rng.random(shape).astype(dtype) if dtype == np.float32 else rng.integers(0, 200, shape).astype(dtype)
    im = Image.fromarray(arr)
    for band_bytes in (1, 100, 1 << 24):  # one row per band, a few rows, everything
        out = to_array(im, band_bytes)
        assert out.dtype == np.asarray(im).dtype and np.array_equal(out, np.asarray(im))
