"""Video reading (nfields.data.video) and writing (nfields.core.video_io) on clips the tests write themselves."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from nfields.core.io import square_resize
from nfields.core.media import quantize
from nfields.core.video_io import MP4_CODECS, write_video
from nfields.data.image import ImageDataModule
from nfields.data.video import moving_shapes, read_video

SHARED_VIDEO = Path("shared/data/video/bikes.mp4")  # ../shared/data beside the checkout (or beside its worktrees)
BIKES = next((p / SHARED_VIDEO for p in Path(__file__).resolve().parents[1:] if (p / SHARED_VIDEO).exists()), None)
CODECS = [c for c in MP4_CODECS if c in av.codecs_available]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of uint8 clips (peak 255)."""
    mse = ((a.float() - b.float()) ** 2).mean().item()
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def indexed_clip(t: int = 24, h: int = 24, w: int = 40) -> torch.Tensor:
    """(T, H, W, 3) uint8 whose frame i is the flat grey level 8 i: the index can be read back from any frame."""
    return (torch.arange(t, dtype=torch.uint8) * 8)[:, None, None, None].expand(t, h, w, 3).contiguous()


def write_frames(folder: Path, clip: torch.Tensor) -> Path:
    """Each frame of (T, H, W, C) uint8 as folder/frame_000.png, frame_001.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(clip.numpy()):
        Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f).save(folder / f"frame_{i:03d}.png")
    return folder


def test_moving_shapes_is_deterministic_moves_and_has_the_asked_shape() -> None:
    a, b = moving_shapes(), moving_shapes()
    assert a.shape == (16, 32, 32, 3) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert all((a[i] != a[i + 1]).any() for i in range(15))  # every frame moves
    assert a.float().std() > 20  # not a flat frame: shapes on a gradient
    gray = moving_shapes(frames=5, size=8, channels=1)
    assert gray.shape == (5, 8, 8, 1) and gray.dtype == torch.uint8


@pytest.mark.parametrize("codec", CODECS)
def test_mp4_round_trip_keeps_shape_rate_and_values(tmp_path: Path, codec: str) -> None:
    clip = moving_shapes(frames=16, size=64)
    path = write_video(tmp_path / "clip.mp4", clip, fps=25, codec=codec)
    back, fps = read_video(path)
    assert back.shape == clip.shape and back.dtype == torch.uint8 and fps == pytest.approx(25)
    # lossy: yuv420p halves the chroma resolution of saturated shapes (about 28 dB measured for both codecs)
    assert psnr(back, clip) > 25
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # the temporary file is gone


def test_gif_round_trip_keeps_shape_rate_and_values(tmp_path: Path) -> None:
    clip = moving_shapes(frames=16, size=64)
    back, fps = read_video(write_video(tmp_path / "clip.gif", clip, fps=25))
    assert back.shape == clip.shape and back.dtype == torch.uint8 and fps == pytest.approx(25)
    assert psnr(back, clip) > 30  # a 256-colour palette per frame (about 40 dB measured)


@pytest.mark.parametrize(("suffix", "codec"), [(".avi", "mjpeg"), (".mov", "mpeg4"), (".mkv", "mpeg4")])
def test_other_containers_read_and_count_frames(tmp_path: Path, suffix: str, codec: str) -> None:
    """.mkv records no frame count: the reader counts its packets before it allocates."""
    clip, path = moving_shapes(frames=10, size=64), str(tmp_path / f"clip{suffix}")
    with av.open(path, "w") as c:
        stream = c.add_stream(codec, rate=25, options={"qmin": "2", "qmax": "2"})
        stream.width = stream.height = 64
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for f in clip.numpy():
            c.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(stream.encode())
    back, fps = read_video(path, stride=3)
    assert back.shape == (4, 64, 64, 3) and fps == pytest.approx(25 / 3)
    assert psnr(back, clip[::3]) > 25
    with pytest.raises(ValueError, match="has 10 frames"):
        read_video(path, frames=11)


def test_odd_sides_are_padded_for_mp4_and_grayscale_is_written_as_rgb(tmp_path: Path) -> None:
    clip = moving_shapes(frames=4, size=40, channels=1)[:, :33, :39]  # (4, 33, 39, 1)
    back, _ = read_video(write_video(tmp_path / "odd.mp4", clip, fps=10))
    assert back.shape == (4, 34, 40, 3)  # padded to even sides, RGB
    assert psnr(back[:, :33, :39], clip.expand(-1, -1, -1, 3)) > 25
    assert psnr(back[:, 33], back[:, 32]) > 25  # the extra row repeats the last one
    back, _ = read_video(write_video(tmp_path / "odd.gif", clip, fps=10))
    assert back.shape == (4, 33, 39, 3)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"old")
    with pytest.raises(av.FFmpegError):  # the png encoder refuses yuv420p: fails inside the container
        write_video(path, moving_shapes(frames=2, size=8), fps=25, codec="png")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]

    def fail(src: str, dst: str) -> None:  # the move into place fails after a complete encode
        raise OSError("disk full")

    monkeypatch.setattr("nfields.core.files.os.replace", fail)  # the one atomic rename
    with pytest.raises(OSError, match="disk full"):
        write_video(path, moving_shapes(frames=2, size=8), fps=25)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


@pytest.mark.parametrize(
    ("name", "frames", "fps", "codec", "message"),
    [
        ("clip.avi", moving_shapes(2, 8), 25, None, r"clip.avi: use a name ending in .mp4 or .gif"),
        ("clip.mp4", moving_shapes(2, 8), 0, None, r"fps=0 must be a positive number"),
        ("clip.mp4", moving_shapes(2, 8), "25", None, r"fps='25' must be a positive number"),
        ("clip.mp4", moving_shapes(2, 8), 25.0, "nope", r"codec='nope' is not in this PyAV build; use libx264 or"),
        ("clip.mp4", moving_shapes(2, 8).float(), 25, None, r"expected \(T, H, W, C\) uint8 .* got float32"),
        ("clip.gif", moving_shapes(2, 8)[0], 25, None, r"expected \(T, H, W, C\) uint8 .* got uint8 \(8, 8, 3\)"),
    ],
)
def test_write_refuses_bad_arguments_in_one_line(tmp_path: Path, name: str, frames, fps, codec, message: str) -> None:
    with pytest.raises(ValueError, match=message) as e:
        write_video(tmp_path / name, frames, fps, codec)
    assert "\n" not in str(e.value)


def test_a_folder_of_png_frames_reads_exactly_in_name_order(tmp_path: Path) -> None:
    clip = indexed_clip(t=12)
    folder = write_frames(tmp_path / "frames", clip)
    (folder / "notes.txt").write_text("not a frame")
    back, fps = read_video(folder)
    assert torch.equal(back, clip) and fps == 25.0  # PNG is lossless; a folder's default rate
    back, fps = read_video(folder, stride=2, fps=30)
    assert torch.equal(back, clip[::2]) and fps == 15.0
    gray = moving_shapes(frames=3, size=8, channels=1)
    back, _ = read_video(write_frames(tmp_path / "gray", gray))
    assert torch.equal(back, gray)  # grayscale frames keep one channel, as grayscale images do


@pytest.mark.parametrize(
    ("frames", "stride", "indices"),
    [
        (None, 1, list(range(24))),
        (None, 3, list(range(0, 24, 3))),
        (5, 2, [0, 2, 4, 6, 8]),
        (None, 5, [0, 5, 10, 15, 20]),
    ]
    + [(None, 24, [0]), (3, 1, [0, 1, 2]), (8, 3, list(range(0, 24, 3)))],
)
@pytest.mark.parametrize("source", ["folder", "mp4"])
def test_stride_and_frames_keep_exactly_the_right_frames(
    tmp_path: Path, source: str, frames: int | None, stride: int, indices: list[int]
) -> None:
    clip = indexed_clip()
    path = write_frames(tmp_path / "f", clip) if source == "folder" else write_video(tmp_path / "c.mp4", clip, 25)
    back, fps = read_video(path, frames=frames, stride=stride)
    assert back.shape == (len(indices), 24, 40, 3) and fps == pytest.approx(25 / stride)
    levels = back.float().mean(dim=(1, 2, 3))  # (T,): 8 * the index of each frame read
    assert torch.allclose(levels, 8 * torch.tensor(indices, dtype=torch.float32), atol=2)  # flat frames: near exact


def test_size_resizes_each_frame_as_data_image_does(tmp_path: Path) -> None:
    clip = moving_shapes(frames=6, size=48)[:, :, 4:44]  # (6, 48, 40, 3): not square
    folder = write_frames(tmp_path / "f", clip)
    back, _ = read_video(folder, size=16, stride=2)
    assert back.shape == (3, 16, 16, 3) and back.dtype == torch.uint8
    for k, i in enumerate(range(0, 6, 2)):
        dm = ImageDataModule(image=str(folder / f"frame_{i:03d}.png"), size=16)
        dm.setup()
        assert torch.equal(back[k], quantize(dm.image))  # data=image's crop and resize, as uint8 levels
    same, _ = read_video(folder, size=40)  # the shorter side: centre crop only, no resampling
    assert torch.equal(same, clip[:, 4:44])
    mp4 = write_video(tmp_path / "c.mp4", clip, 25)
    whole, _ = read_video(mp4)
    small, _ = read_video(mp4, size=16)
    assert torch.equal(small, torch.stack([quantize(square_resize(f, 16)) for f in whole]))


def test_frames_are_uint8_in_one_allocation_of_the_output_size(tmp_path: Path) -> None:
    big = moving_shapes(frames=3, size=64).repeat_interleave(20, dim=1).repeat_interleave(20, dim=2)
    path = write_video(tmp_path / "hd.mp4", big[:, :720], fps=25)  # (3, 720, 1280, 3)
    for size, (h, w) in [(None, (720, 1280)), (360, (360, 360))]:
        clip, _ = read_video(path, size=size)
        assert clip.dtype == torch.uint8 and clip.shape == (3, h, w, 3)
        assert clip.untyped_storage().nbytes() == 3 * h * w * 3  # no spare capacity, no float storage behind it


@pytest.mark.skipif(BIKES is None, reason="../shared/data/video/bikes.mp4 is absent")
def test_the_bikes_clip_reads_at_its_size_and_rate() -> None:
    clip, fps = read_video(BIKES, stride=25)
    assert clip.shape == (10, 272, 640, 3) and clip.dtype == torch.uint8 and fps == pytest.approx(1.0)
    assert clip.float().std() > 10  # real content, not a blank decode
    with pytest.raises(ValueError, match="has 250 frames"):
        read_video(BIKES, frames=11, stride=25)
