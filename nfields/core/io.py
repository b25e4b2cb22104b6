"""Reading images: skimage samples by name or any image file, converted consistently.

Every image comes out as float32 (H, W, C) in [0, 1] with C in {1, 3}:
  * grayscale (8/16-bit, float, bool) -> 1 channel;
  * RGB -> 3 channels; palette -> RGB through its palette;
  * an alpha channel is composited over black (premultiplied), so fully
    transparent pixels do not carry arbitrary hidden colours into the fit.
Integer images are scaled by their dtype's maximum (uint16 by 65535).
With `keep_uint8`, an 8-bit grayscale or RGB image (no alpha) stays uint8 levels (H, W, C): a quarter
of the float32 memory, which matters for very large images (0.2 GB instead of 0.8 GB at 8192^2 RGB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nfields.core.errors import ImageError

# skimage.data samples that ship inside the wheel (the others need pooch, i.e. a download).
SKIMAGE_SAMPLES = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "chelsea",
    "checkerboard",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)


def to_float_image(a: np.ndarray, name: str, keep_uint8: bool = False) -> torch.Tensor:
    """Any 2-D image array -> float32 tensor (H, W, C) in [0, 1], C in {1, 3}
    (`keep_uint8`: uint8 grayscale/RGB arrays stay uint8 levels)."""
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{name}: expected a 2-D grayscale or colour image, got array shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"{name}: image is empty (shape {a.shape})")
    if keep_uint8 and a.dtype == np.uint8 and a.shape[2] in (1, 3):
        return torch.from_numpy(np.ascontiguousarray(a))
    if a.dtype == bool:
        x = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        x = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    elif np.issubdtype(a.dtype, np.floating):
        x = a.astype(np.float32)
        if not np.isfinite(x).all():
            raise ImageError(f"{name}: image contains NaN or inf values")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:  # float images outside [0, 1]: rescale rather than clip information away
            x = (x - lo) / max(hi - lo, 1e-12)
    else:
        raise ImageError(f"{name}: unsupported pixel type {a.dtype}")
    if x.shape[2] in (2, 4):  # gray+alpha or RGBA: premultiply, drop alpha
        x = x[:, :, :-1] * x[:, :, -1:]
    return torch.from_numpy(np.ascontiguousarray(x))


def to_array(im: Image.Image, band_bytes: int = 1 << 24) -> np.ndarray:
    """A decoded Pillow image -> numpy array, converted in bands of rows: np.array(im) goes through
    one bytes object of the whole image, two extra image-sized copies at once (0.4 GB at 8192^2 RGB)."""
    rows = max(1, band_bytes // max(1, len(im.getbands()) * im.width * 4))
    out = None
    for r0 in range(0, im.height, rows):
        part = np.asarray(im.crop((0, r0, im.width, min(r0 + rows, im.height))))  # (rows, W[, C])
        if out is None:
            out = np.empty((im.height, *part.shape[1:]), dtype=part.dtype)
        out[r0 : r0 + part.shape[0]] = part
    return out


def read_file(path: Path) -> np.ndarray:
    """Decode an image file with Pillow (palette -> RGB, 16-bit kept), naming the file on failure."""
    from PIL import UnidentifiedImageError

    if not path.exists():
        raise ImageError(f"image file not found: {path} (set data.image to an skimage sample name or a file)")
    if path.is_dir():
        raise ImageError(f"data.image={path} is a folder; use data=image_folder data.root={path} for folders")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif im.mode == "1":
                im = im.convert("L")
            a = to_array(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"cannot decode image file {path}: {e} (is it a valid, complete image?)") from e
    if a.dtype == np.int32:  # Pillow's mode "I" (e.g. some 16-bit PNG/TIFF): not a 32-bit range in practice
        a = a.astype(np.uint16) if a.min() >= 0 and a.max() <= 65535 else a.astype(np.float64)
    return a


def load_image(spec: str | Path, keep_uint8: bool = False) -> torch.Tensor:
    """An skimage sample name ('astronaut') or a file path -> (H, W, C) float in [0, 1]
    (`keep_uint8`: 8-bit grayscale/RGB images as uint8 levels)."""
    spec_s = str(spec)
    if spec_s in SKIMAGE_SAMPLES:
        import skimage.data

        return to_float_image(getattr(skimage.data, spec_s)(), spec_s, keep_uint8)
    path = Path(spec_s).expanduser()
    if not path.suffix and not path.exists():
        raise ImageError(
            f"data.image={spec_s!r} is neither a file nor a bundled skimage sample; "
            f"samples: {', '.join(SKIMAGE_SAMPLES)}"
        )
    return to_float_image(read_file(path), str(path), keep_uint8)


def square_resize(img: torch.Tensor, size: int | None, upsample: bool = False, name: str = "the image") -> torch.Tensor:
    """Centre-crop (H, W, C) to a square, then resize to (size, size, C); None keeps the crop.

    A size above the crop's side is refused unless `upsample`: the ground truth would be the output of an
    interpolation kernel, not the image. A uint8 image stays uint8 when it is only cropped; resizing
    returns float in [0, 1]."""
    h, w = img.shape[:2]
    s = min(h, w)
    if size is not None and size > s and not upsample:
        raise ImageError(
            f"data.size={size} is larger than {name} ({h}x{w}): it would be upsampled, and the ground truth "
            f"an interpolation; use data.size={s} (or null), or data.upsample=true to upsample on purpose"
        )
    top, left = (h - s) // 2, (w - s) // 2
    img = img[top : top + s, left : left + s]
    if size is None or size == s:
        return img.contiguous()
    return resample(img, (size, size))


def whole_resize(img: torch.Tensor, size: int | None, upsample: bool = False, name: str = "the image") -> torch.Tensor:
    """Keep the whole (H, W, C) frame, resized so that its longer side is `size` (the shorter one in proportion,
    rounded); None keeps it as it is. Upsampling is refused unless `upsample`, as in square_resize."""
    h, w = img.shape[:2]
    long = max(h, w)
    if size is None or size == long:
        return img.contiguous()
    if size > long and not upsample:
        raise ImageError(
            f"data.size={size} is larger than {name}'s longer side ({h}x{w}): it would be upsampled, and the "
            f"ground truth an interpolation; use data.size={long} (or null), or data.upsample=true on purpose"
        )
    return resample(img, whole_shape(h, w, size))


def whole_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """The (h, w) of an H x W frame whose longer side is resized to `size`, the shorter one in proportion (rounded)."""
    long = max(h, w)
    return max(1, round(h * size / long)), max(1, round(w * size / long))


def resample(img: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(H, W, C) -> (h, w, C) float in [0, 1]: area averaging to downsample (the right low-pass), bicubic up."""
    img = img.float() / 255 if img.dtype == torch.uint8 else img
    x = img.permute(2, 0, 1)[None]  # (1, C, H, W)
    if shape[0] <= img.shape[0] and shape[1] <= img.shape[1]:
        x = F.interpolate(x, size=shape, mode="area")
    else:
        x = F.interpolate(x, size=shape, mode="bicubic", align_corners=False).clamp(0, 1)
    return x[0].permute(1, 2, 0).contiguous()
