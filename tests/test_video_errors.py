"""read_video and moving_shapes refuse bad input with one DataError line that names the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from nfields.core.errors import DataError, UserError
from nfields.core.video_io import write_video
from nfields.data.video import moving_shapes, read_video


def frames_folder(folder: Path, sizes: list[tuple[int, int]]) -> Path:
    """A folder with one black RGB frame of each (H, W) in `sizes`, named in that order."""
    folder.mkdir()
    for i, (h, w) in enumerate(sizes):
        Image.new("RGB", (w, h)).save(folder / f"{i:02d}.png")
    return folder


def audio_only(path: Path) -> Path:
    """An .mp4 with one AAC audio stream and no video."""
    with av.open(str(path), "w") as c:
        stream = c.add_stream("aac", rate=8000)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        frame.planes[0].update(bytes(4096))
        frame.sample_rate, frame.pts = 8000, 0
        c.mux(stream.encode(frame))
        c.mux(stream.encode())
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 16-frame 32x32 mp4 at 25 fps."""
    return write_video(tmp_path / "clip.mp4", moving_shapes(), fps=25)


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda d, c: d / "nope.mp4", {}, r"video not found: .*nope.mp4 \(set data.path to a video file or a folder"),
        (lambda d, c: frames_folder(d / "empty", []), {}, r"empty: no frames \(.png, .jpg, .jpeg files\)"),
        (lambda d, c: d / "notes.txt", {}, r"notes.txt: unsupported video type '.txt'; use .mp4, .avi, .mov"),
        (
            lambda d, c: d / "broken.mp4",
            {},
            r"cannot decode video .*broken.mp4: Invalid data found when processing input \(is it a valid",
        ),
        (lambda d, c: d / "cut.mp4", {}, r"cannot decode video .*cut.mp4"),
        (lambda d, c: audio_only(d / "sound.mp4"), {}, r"sound.mp4: the file has no video stream"),
        (lambda d, c: c, {"frames": 0}, r"data.frames=0: must be an integer >= 1, or null"),
        (lambda d, c: c, {"frames": 2.5}, r"data.frames=2.5: must be an integer >= 1"),
        (lambda d, c: c, {"stride": 0}, r"data.stride=0: must be an integer >= 1"),
        (lambda d, c: c, {"stride": -2}, r"data.stride=-2: must be an integer >= 1"),
        (lambda d, c: c, {"size": 0}, r"data.size=0: must be an integer >= 1"),
        (lambda d, c: c, {"fps": 0}, r"fps=0: must be a positive number"),
        (lambda d, c: c, {"frames": 17}, r"data.frames=17 .* has 16 frames, which give 16 .* data.frames<=16"),
        (lambda d, c: c, {"frames": 7, "stride": 3}, r"has 16 frames, which give 6 at stride 3; use data.frames<=6"),
        (
            lambda d, c: c,
            {"size": 33},
            r"data.size=33 is larger than the frames of .*clip.mp4 \(32x32\); use data.size<=32 or null",
        ),
        (
            lambda d, c: frames_folder(d / "mixed", [(8, 8), (8, 8), (8, 10)]),
            {},
            r"frames of different sizes in .*mixed: 00.png is 8x8x3, 02.png is 8x10x3",
        ),
    ],
)
def test_bad_input_is_one_data_error_line(tmp_path: Path, clip: Path, make, kwargs: dict, message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "broken.mp4").write_bytes(b"this is not an mp4")
    (tmp_path / "cut.mp4").write_bytes(clip.read_bytes()[:600])  # truncated: the header's promise is not kept
    with pytest.raises(DataError, match=message) as e:
        read_video(make(tmp_path, clip), **kwargs)
    assert "\n" not in str(e.value) and isinstance(e.value, UserError | ValueError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": 0}, r"frames=0: must be an integer >= 1"),
        ({"size": -1}, r"size=-1"),
        ({"channels": 2}, r"1 .* or 3"),
    ],
)
def test_moving_shapes_refuses_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message) as e:
        moving_shapes(**kwargs)
    assert "\n" not in str(e.value)
