"""A video fit holds one copy of the clip: evaluation keeps only the frames its panel shows, the prediction file
and the progress picture are rendered frame by frame, and what they show is what the whole render shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nfields.core.coords import cell_grid
from nfields.core.media import as_float, quantize
from nfields.core.video_io import write_video, write_video_frames
from nfields.core.views import GAP, frame_picks, frames_strip
from nfields.data.video import read_video
from nfields.lit.bands import render_slabs
from nfields.run.build import build_datamodule, build_module
from nfields.tasks.fit import Fit


def test_the_picks_of_the_picked_frames_are_all_of_them() -> None:
    """A picture of the shown frames alone is the clip's picture: what lets evaluation keep just those."""
    g = torch.Generator().manual_seed(0)
    for t in range(1, 13):
        picks = frame_picks(t)
        assert len(set(picks)) == len(picks) == min(t, 4) and picks[0] == 0 and picks[-1] == t - 1
        clip = torch.rand(t, 3, 5, 3, generator=g)
        assert torch.equal(frames_strip(clip[picks]), frames_strip(clip))


def test_wide_frames_are_shrunk_in_the_picture_by_area() -> None:
    """A 1280x720 frame is shown 512 wide (aspect kept, each tile the mean of its 2.5x2.5 cells); narrow ones as
    they are: a panel of four HD frames stays ~2 k pixels wide instead of 5 k."""
    clip = torch.zeros(2, 720, 1280, 3)
    clip[:, :, :640] = 1.0  # left half white
    pic = frames_strip(clip)
    assert pic.shape == (288, 2 * 512 + GAP, 3)
    assert torch.allclose(pic[:, :256], torch.ones(1)) and torch.allclose(pic[:, 256:512], torch.zeros(1))
    small = torch.rand(1, 6, 8, 3)
    assert torch.equal(frames_strip(small), small[0])


@pytest.fixture
def video_module(make_cfg):  # noqa: ANN201
    cfg = make_cfg("debug=fast", "logger=none", "data=video", "data.size=null")  # 16 frames of 32x32
    module = build_module(cfg, build_datamodule(cfg))
    module.eval_band_pixels = 3 * 32 * 32  # 3 frames a slab: the kept frames come from several slabs
    return module


def test_evaluation_keeps_only_the_panel_s_frames(video_module) -> None:
    m = video_module
    metrics = m.evaluate("test")
    whole = m.render()  # (16, 32, 32, 3) in [0, 1]
    assert m.last_render.shape == (4, 32, 32, 3) and m.last_render.dtype == torch.uint8  # not a copy of the clip
    assert torch.equal(m.last_render, quantize(whole[frame_picks(16)]))
    assert metrics["psnr"] == pytest.approx(m.task.evaluate(whole, m.clean, m.obs, "test")["psnr"], abs=1e-4)
    panel = m.panel_images()
    assert torch.equal(panel["prediction"], m.data.picture(as_float(quantize(whole))))
    assert torch.equal(panel["ground truth"], m.data.picture(m.clean))
    torch.testing.assert_close(m.progress_frame(), m.data.picture(whole))  # rendered frame by frame


def test_the_prediction_file_is_streamed_slab_by_slab(video_module, tmp_path: Path, monkeypatch) -> None:
    m = video_module
    m.evaluate("test")
    seen: list[int] = []

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        for slab in render_slabs(*args, **kwargs):
            seen.append(slab.shape[0])
            yield slab

    monkeypatch.setattr("nfields.lit.single.render_slabs", counted)
    path = m.write_media(tmp_path / "prediction")
    frames, fps = read_video(path)
    assert path.suffix == ".mp4" and frames.shape == (16, 32, 32, 3) and fps == pytest.approx(25)
    assert seen == [3, 3, 3, 3, 3, 1]  # six slabs of at most 3 frames, never the clip at once
    err = (frames.float() - quantize(m.render()).float()).abs().mean()
    assert err < 3, err  # H.264 at CRF 18: within a few levels of the render


def test_frames_written_one_at_a_time_are_the_clip_written_whole(tmp_path: Path) -> None:
    clip = torch.randint(0, 256, (5, 7, 9, 3), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    for suffix in (".mp4", ".gif"):
        whole = read_video(write_video(tmp_path / f"whole{suffix}", clip, 10.0))[0]
        streamed = write_video_frames(tmp_path / f"streamed{suffix}", iter(clip.numpy()), (7, 9), 3, 10.0)
        assert torch.equal(read_video(streamed)[0], whole)
    with pytest.raises(ValueError, match="frame 1 is uint8 \\(7, 8, 3\\), expected uint8 \\(7, 9, 3\\)"):
        write_video_frames(tmp_path / "bad.mp4", iter([clip[0].numpy(), np.zeros((7, 8, 3), np.uint8)]), (7, 9), 3, 10)
    with pytest.raises(ValueError, match="no frames"):
        write_video_frames(tmp_path / "none.mp4", iter([]), (7, 9), 3, 10)
    assert not list(tmp_path.glob("*bad*")) and not list(tmp_path.glob("*none*"))  # nothing half-written is left


def test_fit_s_mask_of_every_cell_takes_no_memory() -> None:
    """task=fit observes every cell: its train_mask is one True broadcast to the grid, not a clip-sized array."""
    clip = torch.randint(0, 256, (6, 5, 4, 3), dtype=torch.uint8)
    obs = Fit().observe(clip)
    assert obs.train_mask.shape == (6, 5, 4) and bool(obs.train_mask.all())
    assert obs.train_mask.untyped_storage().nbytes() == 1
    torch.testing.assert_close(obs.points(), cell_grid((6, 5, 4)).reshape(-1, 3))
