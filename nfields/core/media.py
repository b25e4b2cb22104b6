"""Values and images: 8-bit levels <-> floats, conversion to uint8, captions, panels, montages and tiles (no
logger: lit/callbacks/media_log.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def as_uint8(values: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor | None:
    """values in [0, 1] -> uint8 levels, or None when they are not exact multiples of 1/255.

    Converted `chunk` entries at a time: float temporaries of the whole image would cost more
    memory than the uint8 copy saves (2.4 GB for an 8192^2 RGB image)."""
    if values.dtype == torch.uint8:
        return values
    flat, out = values.reshape(-1), torch.empty(values.numel(), dtype=torch.uint8, device=values.device)
    for s in range(0, flat.numel(), chunk):
        part = flat[s : s + chunk]
        levels = (part * 255).round_()
        if not torch.equal(levels / 255, part):
            return None
        out[s : s + chunk] = levels.to(torch.uint8)
    return out.view(values.shape)


def as_float(values: torch.Tensor) -> torch.Tensor:
    """uint8 levels -> float in [0, 1]; float input is returned as it is."""
    return values.float().div_(255) if values.dtype == torch.uint8 else values


def quantize(img: torch.Tensor) -> torch.Tensor:
    """Colours in [0, 1] (clamped) -> uint8 levels, rounded to nearest; uint8 input is returned as it is."""
    if img.dtype == torch.uint8:
        return img
    return (img.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)  # truncation of x + 0.5: rounding


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(H, W, C) float in [0, 1] or uint8 levels, C in {1, 3} -> (H, W, 3) uint8."""
    a = quantize(img).cpu()
    if a.shape[-1] == 1:
        a = a.expand(*a.shape[:-1], 3)
    return np.ascontiguousarray(a.numpy())


CAPTION_FONT_SIZE = 12
CAPTION_MARGIN = 3  # pixels left and right of the text
ELLIPSIS = "\u2026"


@lru_cache(maxsize=8)
def _font(size: int = CAPTION_FONT_SIZE) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: no font files needed


def _shorten(text: str, fits: Callable[[str], bool]) -> str:
    """`text` cut at the end until it fits with an ellipsis after it ("encoding=fou…")."""
    text = text.rstrip()
    while text and not fits(text + ELLIPSIS):
        text = text[:-1].rstrip()
    return text + ELLIPSIS


def wrap_caption(text: str, width: int, max_lines: int = 3, size: int = CAPTION_FONT_SIZE) -> list[str]:
    """Lines of `text` that each fit `width` pixels: broken at spaces (and after "=", ",", "/"), a piece
    too long for a line shortened with an ellipsis, never cut silently. Newlines start a paragraph;
    when there are more than `max_lines` lines the last paragraph (e.g. "23.48 dB") is kept whole and
    the text before it gives way, ending in an ellipsis."""
    font = _font(size)

    def fits(s: str) -> bool:
        return font.getlength(s) <= width - 2 * CAPTION_MARGIN

    paragraphs: list[list[str]] = []
    for para in text.split("\n"):
        lines: list[str] = []
        cur = ""
        for word in para.split():
            for i, piece in enumerate(p for p in re.split(r"(?<=[=,/])", word) if p):
                joined = cur + (" " if i == 0 and cur else "") + piece
                if fits(joined):
                    cur = joined
                    continue
                if cur:
                    lines.append(cur)
                cur = piece if fits(piece) else _shorten(piece, fits)
        paragraphs.append([*lines, cur] if cur else lines)
    tail = paragraphs[-1][: max(1, max_lines - 1)] if len(paragraphs) > 1 else []
    head = [line for para in (paragraphs[:-1] if tail else paragraphs) for line in para]
    room = max_lines - len(tail)
    if len(head) > room:
        head = head[: room - 1] + [_shorten(head[room - 1], fits)] if room > 0 else []
    return head + tail


def caption(
    img: np.ndarray, text: str, lines: int | None = None, max_lines: int = 3, size: int = CAPTION_FONT_SIZE
) -> np.ndarray:
    """(H, W, 3) uint8 with a white caption strip above it; the text is wrapped to the image's width
    (wrap_caption). The strip holds `lines` lines (default: as many as the text needs), so captions of
    one montage can share a height."""
    im = Image.fromarray(img)
    text_lines = wrap_caption(text, im.width, max_lines, size)
    font = _font(size)
    ascent, descent = font.getmetrics()
    line_h = ascent + descent + 1
    n = max(lines or 0, len(text_lines), 1)
    canvas = Image.new("RGB", (im.width, im.height + n * line_h + 4), "white")
    canvas.paste(im, (0, n * line_h + 4))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(text_lines):
        draw.text((CAPTION_MARGIN, 2 + i * line_h), line, fill="black", font=font)
    return np.asarray(canvas)


def resize_h(img: np.ndarray, height: int) -> np.ndarray:
    im = Image.fromarray(img[..., :3] if img.ndim == 3 else np.stack([img] * 3, -1))
    return np.asarray(im.resize((max(1, round(im.width * height / im.height)), height), Image.NEAREST))


def hstack(tiles: list[np.ndarray], gap: int = 6) -> np.ndarray:
    """(h_i, w_i, 3) tiles left to right, bottom-aligned (captioned images of one height line up even
    when one caption takes more lines), white gaps -> (max h, sum w + gaps, 3)."""
    h = max(t.shape[0] for t in tiles)
    padded = [np.pad(t, ((h - t.shape[0], 0), (0, gap), (0, 0)), constant_values=255) for t in tiles]
    return np.concatenate(padded, axis=1)[:, :-gap]


def vstack(rows: list[np.ndarray], gap: int = 6) -> np.ndarray:
    """(h_i, w_i, 3) rows top to bottom, left-aligned, white gaps -> (sum h + gaps, max w, 3)."""
    w = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, gap), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(padded, axis=0)[:-gap]


def montage(
    items: list[tuple[str, np.ndarray]], height: int = 256, cols: int | None = None, max_lines: int = 3
) -> np.ndarray:
    """Captioned images, all `height` pixels high, `cols` to a row (default: one row) -> (H, W, 3) uint8.

    Captions are wrapped to their tile (at most `max_lines` lines; put a metric after a newline to keep
    it whole) and every tile's strip has the same height, so the images line up."""
    tiles = [resize_h(img, height) for _, img in items]
    n = max(len(wrap_caption(text, t.shape[1], max_lines)) for (text, _), t in zip(items, tiles, strict=True))
    tiles = [caption(t, text, lines=n, max_lines=max_lines) for (text, _), t in zip(items, tiles, strict=True)]
    cols = cols or len(tiles)
    return vstack([hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)])


def panel(images: dict[str, torch.Tensor | np.ndarray], height: int = 256, label: bool = True) -> np.ndarray:
    """Images side by side, each resized (nearest) to `height`, with its name above -> (h, W, 3) uint8."""
    tiles = [resize_h(img if isinstance(img, np.ndarray) else to_uint8(img), height) for img in images.values()]
    if label:
        tiles = [caption(t, name) for t, name in zip(tiles, images, strict=True)]
    return hstack(tiles, gap=4)


def tile(images: torch.Tensor, cols: int = 8, gap: int = 1) -> torch.Tensor:
    """A batch (B, H, W, C) as one grid image (rows*H + gaps, cols*W + gaps, C), white between tiles."""
    b, h, w, c = images.shape
    cols = max(1, min(cols, b))
    rows = -(-b // cols)
    out = images.new_ones(rows * (h + gap) - gap, cols * (w + gap) - gap, c)
    for i in range(b):
        r, k = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = images[i]
    return out
