"""Sets of clips: data=audio_set and data=video_set read a folder of clips (or a generated set) with the single
clip's keys; bad folders and clips of different shapes are refused in one line; the collections of clips."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from nfields.core.audio_io import write_wav
from nfields.core.errors import ConfigError, DataError
from nfields.data.clip_set import AudioSetDataModule, VideoSetDataModule
from nfields.data.clips import AudioClips, VideoClips
from nfields.run.build import build_datamodule, build_module

RATE = 1000


def tone(freq: float, n: int, channels: int = 1) -> np.ndarray:
    """(n, channels) float in [-1, 1]: a sine of `freq` Hz at RATE, each channel at its own amplitude."""
    t = np.arange(n) / RATE
    return np.stack([(0.8 - 0.2 * c) * np.sin(2 * np.pi * freq * t) for c in range(channels)], -1)


def write_wavs(folder: Path, lengths: list[int], channels: int = 1) -> Path:
    """One WAV per length, a tone of its own frequency: a.wav, b.wav, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(lengths):
        write_wav(folder / f"{'abcdefgh'[i]}.wav", tone(50.0 * (i + 1), n, channels), RATE)
    return folder


def frames(k: int, t: int, size: int) -> np.ndarray:
    """(t, size, size, 3) uint8: a bar moving right at k + 1 pixels a frame over a grey background."""
    clip = np.full((t, size, size, 3), 60, np.uint8)
    for j in range(t):
        x = (j * (k + 1)) % size
        clip[j, :, x, k % 3] = 250
    return clip


def write_videos(folder: Path, sizes: list[int], t: int = 6) -> Path:
    """Clip i of sizes[i] x sizes[i] pixels: even i as a folder of PNG frames, odd i as a GIF."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(sizes):
        clip = frames(i, t, s)
        if i % 2:
            iio.imwrite(folder / f"clip{i}.gif", clip, duration=40, loop=0)
        else:
            (folder / f"clip{i}").mkdir()
            for j, f in enumerate(clip):
                iio.imwrite(folder / f"clip{i}" / f"{j:03d}.png", f)
    return folder


def test_an_audio_set_reads_every_wav_with_the_single_clips_crop(tmp_path: Path) -> None:
    root = write_wavs(tmp_path / "wavs", [400, 400, 500], channels=2)
    dm = AudioSetDataModule(root=str(root), index=1, duration=0.3)  # 300 samples of each (the third is longer)
    dm.setup()
    assert dm.signal.shape == (300, 2) and dm.rate == RATE and dm.dims == 1
    expected = (torch.from_numpy(tone(100.0, 300, 2)).float() + 1) / 2  # clip b, fitted in [0, 1]
    torch.testing.assert_close(dm.signal, expected, atol=1e-4, rtol=0)  # 16-bit PCM
    members = dm.member_images()
    assert [(i, name) for i, name, _ in members] == [(0, "a.wav"), (1, "b.wav"), (2, "c.wav")]
    assert all(clip.shape == (300, 2) for _, _, clip in members)
    assert members[1][2] is dm.signal  # the fitted clip is not read twice
    assert not torch.equal(members[0][2], members[1][2])
    sized = AudioSetDataModule(root=str(root), duration=0.3, size=100, limit=2)
    assert [c.shape for _, _, c in sized.member_images()] == [(100, 2)] * 2 and sized.rate == pytest.approx(RATE / 3)


def test_a_video_set_reads_frame_folders_and_files_with_the_single_clips_keys(tmp_path: Path) -> None:
    root = write_videos(tmp_path / "videos", [16, 16, 16])
    dm = VideoSetDataModule(root=str(root), index=2, frames=3, stride=2, size=8)
    dm.setup()
    assert dm.signal.shape == (3, 8, 8, 3) and dm.signal.dtype == torch.uint8 and dm.dims == 3
    members = dm.member_images([0, 1])
    assert [name for _, name, _ in members] == ["clip0", "clip1.gif"]
    whole = VideoSetDataModule(root=str(root)).member_images()
    assert [c.shape for _, _, c in whole] == [(6, 16, 16, 3)] * 3
    assert torch.equal(whole[0][2], torch.from_numpy(frames(0, 6, 16)))  # PNG frames: exact levels, in order


def test_the_generated_sets_are_distinct_deterministic_clips() -> None:
    audio = [AudioClips(None).clip(i) for i in range(4)]
    video = [VideoClips(None, frames=8).clip(i) for i in range(3)]
    assert all(a.shape == (1000, 1) and a.min() >= 0 and a.max() <= 1 for a in audio)
    assert all(v.shape == (8, 32, 32, 3) and v.dtype == torch.uint8 for v in video)
    for clips in (audio, video):
        assert all(not torch.equal(a, b) for i, a in enumerate(clips) for b in clips[i + 1 :])
    torch.testing.assert_close(AudioClips(None).clip(2), audio[2], rtol=0, atol=0)
    # the spectra differ: each chirp has its own dominant frequency
    peaks = [int(torch.fft.rfft(a[:, 0] - a[:, 0].mean()).abs().argmax()) for a in audio]
    assert len(set(peaks)) == 4


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda p: AudioClips(str(p / "nowhere")),
            r"data.root=.*nowhere: no such folder; point it at a folder of audio",
        ),
        (lambda p: VideoClips(str(p / "nowhere")), r"no such folder; point it at a folder of videos"),
        (lambda p: AudioClips(str(p)), r"data.root: .* holds no audio clips \(.wav files\)"),
        (lambda p: VideoClips(str(p)), r"holds no videos \(.mp4"),
        (lambda p: AudioSetDataModule(str(p), duration=0), r"data.duration=0: the crop's length"),
        (lambda p: VideoSetDataModule(str(p), frames=0), r"data.frames=0: must be an integer >= 1"),
    ],
)
def test_a_missing_or_empty_folder_and_bad_keys_are_refused_in_one_line(tmp_path: Path, make, match) -> None:
    (tmp_path / "notes.txt").write_text("not a clip")
    with pytest.raises(DataError, match=match) as e:
        make(tmp_path)
    assert "\n" not in str(e.value)


def test_clips_of_different_shapes_are_refused_naming_the_clip_and_the_fix(tmp_path: Path) -> None:
    audio = AudioSetDataModule(str(write_wavs(tmp_path / "wavs", [300, 300, 200])))
    with pytest.raises(DataError, match=r"c.wav is 200x1 but a.wav is 300x1; .* set data.duration") as e:
        audio.member_images()
    assert "\n" not in str(e.value)
    AudioSetDataModule(str(tmp_path / "wavs"), duration=0.2).member_images()  # the fix: one length for every clip
    video = VideoSetDataModule(str(write_videos(tmp_path / "videos", [16, 12])))
    with pytest.raises(DataError, match=r"clip1.gif is 6x12x12x3 but clip0 is 6x16x16x3; .* set data.frames and data"):
        video.member_images()
    assert VideoSetDataModule(str(tmp_path / "videos"), size=12).member_images()[1][2].shape == (6, 12, 12, 3)
    with pytest.raises(DataError, match=r"data.index=5: the set has 2 clips \(0..1\)"):
        VideoSetDataModule(str(tmp_path / "videos"), index=5).setup()
    with pytest.raises(DataError, match=r"members.images: \[7\] not in the set's 3 clips"):
        audio.member_images([0, 7])


def test_a_collection_of_clips_refuses_local_codes_and_the_image_encoder_in_one_line(make_cfg) -> None:
    for over, match in [
        (["latent=local"], r"latent.grid_size=4: local codes are a 2-D grid .* 1-D coordinates: use latent=global"),
        (["latent=hybrid", "model=many", "data=video_set"], r"local codes are a 2-D grid .* 3-D coordinates"),
        ([], r"model.latent_source=encoder: reads 2-D signals .* use model.latent_source=autodecoder"),
    ]:
        data = [] if "model=many" in over else ["data=audio_collection"]
        cfg = make_cfg("debug=fast", "cond=film", *data, *over)
        with pytest.raises(ConfigError, match=match):
            build_module(cfg, build_datamodule(cfg))


def test_a_collection_of_videos_decodes_and_optimises_codes_on_its_3d_grid(make_cfg) -> None:
    """Test-time optimisation on unseen clips as for images: fresh codes fitted with the network frozen (concat:
    FiLM's zero-initialised modulation passes no gradient to the codes before training)."""
    cfg = make_cfg("debug=fast", "data=video_collection", "data.size=8", "data.frames=4", "cond=concat")
    cfg.model.latent_source = "autodecoder"
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    assert module.image_shape == (4, 8, 8) and dm.dims == 3
    batch = next(iter(dm.test_dataloader()))
    weights = [p.detach().clone() for p in module.field.parameters()]
    res = module.tto(batch["image"], 5, batch["observed"])
    assert res.pred.shape == (2, 4, 8, 8, 3) and res.codes.shape == (2, module.field.code_dim)
    assert res.curve[-1][1] > res.curve[0][1]  # the codes fit the unseen clips
    assert all(torch.equal(a, b) for a, b in zip(weights, module.field.parameters(), strict=True))
    assert module.pictures(res.pred).dim() == 4  # panels: each clip as a strip of frames
    assert isinstance(instantiate(cfg.data, task=dm.task), type(dm))
