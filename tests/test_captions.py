"""media.caption / montage: captions wrap to their tile, shorten with an ellipsis, keep the metric whole."""

from __future__ import annotations

import numpy as np
from PIL import ImageFont

from nfields.core.media import CAPTION_FONT_SIZE, CAPTION_MARGIN, ELLIPSIS, caption, montage, panel, wrap_caption

FONT = ImageFont.load_default(size=CAPTION_FONT_SIZE)
LONG = "encoding=fourier network=siren model.scheduler._target_=torch.optim.lr_scheduler.CosineAnnealingLR"


def assert_fits_and_whole(lines: list[str], text: str, width: int) -> None:
    words = set(text.replace("=", "= ").split())
    for line in lines:
        assert FONT.getlength(line) <= width - 2 * CAPTION_MARGIN, line
        for word in line.replace("=", "= ").split():  # every word whole, or shortened with an ellipsis
            assert word in words or word.endswith(ELLIPSIS), (word, line)


def test_short_text_is_one_line() -> None:
    assert wrap_caption("encoding=none network=mlp", 256) == ["encoding=none network=mlp"]


def test_long_text_wraps_and_keeps_the_metric_whole() -> None:
    text = f"{LONG}\ntest/psnr 23.48 dB"
    for width in (256, 160, 100):
        lines = wrap_caption(text, width, max_lines=3)
        assert len(lines) <= 3 and " ".join(lines).endswith("test/psnr 23.48 dB"), lines
        assert ELLIPSIS not in " ".join(lines).split("test/psnr")[1]  # the metric is whole (maybe on 2 lines)
        assert any(line.endswith(ELLIPSIS) for line in lines)  # the label gave way, visibly
        assert_fits_and_whole(lines, text, width)


def test_a_word_wider_than_the_tile_is_shortened_with_an_ellipsis() -> None:
    lines = wrap_caption("prediction", 40)
    assert lines == [lines[0]] and lines[0].endswith(ELLIPSIS) and "prediction".startswith(lines[0][:-1])


def test_caption_strip_grows_with_lines_and_can_be_shared() -> None:
    img = np.zeros((64, 128, 3), np.uint8)
    one, two = caption(img, "short"), caption(img, "a caption that needs two lines here")
    assert one.shape[1] == two.shape[1] == 128 and two.shape[0] > one.shape[0] > 64
    assert caption(img, "short", lines=2).shape == two.shape
    assert (one[-64:] == 0).all() and (one[0] == 255).all()  # image below a white strip


def test_montage_tiles_line_up_and_wrap_into_rows() -> None:
    items = [("a", np.zeros((8, 8, 3), np.uint8)), (LONG, np.zeros((8, 8, 3), np.uint8))]
    one_row = montage(items * 3, height=100)
    two_rows = montage(items * 3, height=100, cols=3)
    assert one_row.shape[1] == 6 * 100 + 5 * 6 and two_rows.shape[1] == 3 * 100 + 2 * 6
    assert two_rows.shape[0] == 2 * one_row.shape[0] + 6
    # every tile's image starts at the same row: the strips share a height
    starts = [int(np.argmax(one_row[:, x, 0] == 0)) for x in (50, 156)]
    assert starts[0] == starts[1] > 0


def test_panel_images_line_up_when_one_caption_wraps() -> None:
    black = np.zeros((48, 48, 3), np.uint8)
    img = panel({"prediction": black, "ground truth": black}, height=48)  # "ground truth" takes two lines
    assert (img[-48:, :48] == 0).all() and (img[-48:, -48:] == 0).all()
    assert (img[: -48 - 1, :48] == 255).sum() > 0  # a caption strip above each image
