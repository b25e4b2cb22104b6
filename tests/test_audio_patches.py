"""data=audio_patches: 200-sample pieces of clips as a collection: shapes, pieces are the clips' samples, seeded
choices, unseen clips for validation and test, one-line refusals, and a meta run that fits unseen pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nfields.core.audio_io import write_wav
from nfields.core.errors import ConfigError, DataError
from nfields.data.audio_patches import AudioPatchesDataModule
from nfields.data.clips import AudioClips
from tests.test_clip_sets import RATE, tone, write_wavs
from tests.test_collections import trained_metrics


def splits(dm: AudioPatchesDataModule) -> dict[str, torch.Tensor]:
    dm.setup()
    return {k: torch.stack([s[i][1] for i in range(len(s))]) for k, s in dm.splits.items()}


def test_generated_clips_cut_into_consecutive_pieces() -> None:
    dm = AudioPatchesDataModule(n_val=8, n_test=16)  # 16 chirps of 1000 samples: 5 pieces each
    got = splits(dm)
    # val: the last 2 clips (8 pieces), test: the 4 before (16 of their 20), train: the 10 first clips' 50
    assert {k: tuple(v.shape) for k, v in got.items()} == {
        "train": (50, 200, 1),
        "val": (8, 200, 1),
        "test": (16, 200, 1),
    }
    assert dm.image_shape == (200,) and dm.dims == 1 and dm.domain == "audio"
    assert all(v.dtype == torch.float32 and 0 <= v.min() and v.max() <= 1 for v in got.values())
    clips = AudioClips(None, generated=16)

    # round-robin: a piece of each of clips 0..9, then another of each, ...; a clip's pieces in a seeded random
    # order (a pool cut short takes pieces from all along each clip, not its start)
    def pieces(c: int) -> list[torch.Tensor]:
        return [clips.clip(c)[s : s + 200] for s in range(0, 1000, 200)]

    def same_set(got_pieces: torch.Tensor, c: int) -> bool:
        return sorted(p.sum().item() for p in got_pieces) == sorted(p.sum().item() for p in pieces(c))

    assert same_set(got["train"][0::10], 0) and same_set(got["train"][1::10], 1)
    assert any(torch.equal(got["val"][0], p) for p in pieces(14))
    assert any(torch.equal(got["test"][0], p) for p in pieces(10))
    assert not all(torch.equal(got["train"][10 * j], pieces(0)[j]) for j in range(5))  # not in time order
    seen = got["train"].flatten(1)
    for split in ("val", "test"):
        assert not (got[split].flatten(1)[:, None] == seen[None]).all(-1).any()  # no piece is a training piece


def test_size_averages_every_piece_down() -> None:
    full, small = (
        splits(AudioPatchesDataModule(n_val=8, n_test=16)),
        splits(AudioPatchesDataModule(size=50, n_val=8, n_test=16)),
    )
    assert small["train"].shape == (50, 50, 1)
    assert torch.allclose(small["train"], full["train"].reshape(50, 50, 4, 1).mean(2))  # each sample: the mean of 4
    with pytest.raises(DataError, match="^data.size=300: above the 200 cells of a piece of generated clip 0"):
        AudioPatchesDataModule(size=300).setup()


def test_a_test_folder_gives_the_test_pieces(tmp_path: Path) -> None:
    write_wavs(tmp_path / "wavs" / "train", [450, 600, 500])  # clips of different lengths are fine
    write_wavs(tmp_path / "wavs" / "test", [400])
    dm = AudioPatchesDataModule(str(tmp_path / "wavs"), patch=100, stride=50, n_val=4, n_test=None)
    got = splits(dm)
    # a piece every 50 samples: 8, 11 and 9 pieces; the last clip's 9 hold the 4 val pieces; test: 7 pieces
    assert (len(got["train"]), len(got["val"]), len(got["test"])) == (19, 4, 7)
    test_clip = AudioClips(str(tmp_path / "wavs"), "test").clip(0)
    assert torch.equal(got["test"][1], test_clip[50:150])


def test_the_same_seed_keeps_the_same_pieces() -> None:
    a, b, c = (
        splits(AudioPatchesDataModule(stride=10, patches_per_clip=3, n_val=4, n_test=8, seed=s)) for s in (0, 0, 1)
    )
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["train"], c["train"])
    assert len(a["train"]) == 3 * 11  # 3 pieces a clip: 2 clips hold the 4 val pieces, 3 the 8 test pieces


def test_bad_settings_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data.patch=2000: is longer than clip generated clip 0 \(1000 samples\)$"):
        AudioPatchesDataModule(patch=2000).setup()
    with pytest.raises(ConfigError, match="^data.n_val=100: the 15 clips that can be held out .* give 75 pieces"):
        AudioPatchesDataModule(n_val=100).setup()
    with pytest.raises(ConfigError, match="^data.patch=0: must be an integer >= 1$"):
        AudioPatchesDataModule(patch=0)
    with pytest.raises(DataError, match="holds no audio clips"):
        AudioPatchesDataModule(str(tmp_path))
    write_wavs(tmp_path / "mono", [400, 400])
    write_wavs(tmp_path / "mixed", [400], channels=2)
    (tmp_path / "mixed" / "b.wav").write_bytes((tmp_path / "mono" / "b.wav").read_bytes())
    with pytest.raises(DataError, match=r"its clips mix \[1, 2\] channels"):
        AudioPatchesDataModule(str(tmp_path / "mixed"), n_val=1, n_test=1).setup()


def test_meta_learns_to_fit_unseen_pieces(make_cfg, tmp_path: Path) -> None:
    """Pieces of 50 samples of tones (10-38 Hz at 1 kHz: one to two periods a piece, at every phase); the test
    pieces are cut from other clips, of frequencies between the training ones."""
    for split, freqs in (("train", [10, 14, 18, 22, 26, 30, 34, 38]), ("test", [12, 20, 28, 36])):
        (tmp_path / "wavs" / split).mkdir(parents=True)
        for f in freqs:
            write_wav(tmp_path / "wavs" / split / f"t{f}.wav", tone(float(f), 1000), RATE)
    over = ["debug=fast", "logger=none", "data=audio_patches", f"data.root={tmp_path / 'wavs'}", "data.patch=50"]
    over += ["data.size=null", "data.n_val=8", "data.n_test=16", "data.batch_size=16", "encoding.sigma=3"]
    over += ["cond=film", "cond.identity_init=false", "model.latent_source=meta", "model.lr=1e-2"]
    m = trained_metrics(make_cfg(*over, "trainer.max_steps=60", "log.val_every_n_steps=60"))
    assert m["test/psnr_step3"] > m["test/psnr_step0"] + 3, m  # 10.0 -> 16.5 dB here
    assert np.isfinite(m["test/snr"]) and m["test/snr"] <= m["test/psnr"] - 6.02  # audio's own score, as a clip's
