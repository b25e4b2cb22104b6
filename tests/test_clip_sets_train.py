"""model=many on sets of clips (1-D audio, 3-D video) trains each member exactly as its single run, and one
conditional field (cond=film) trains on a collection of audio clips. Generated sets, tiny sizes, few steps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from nfields.run.build import load_checkpoint
from nfields.run.train import train

LOGGED = ["debug=fast", "logger=csv", "trainer.log_every_n_steps=1", "~callbacks.progress_gif"]


def read_signal(path: Path) -> np.ndarray:
    """A written .wav's samples (T, C) int16, or an .mp4's frames (T, H, W, 3) uint8."""
    if path.suffix == ".wav":
        from scipy.io import wavfile

        return wavfile.read(path)[1]
    import imageio.v3 as iio

    return iio.imread(path, plugin="pyav")


def csv_losses(run_dir: Path) -> list[float]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "data",
    [
        ["data=audio_set", "data.size=64", "data.batch_size=null"],  # 1-D: 64 samples, every sample a step
        ["data=video_set", "data.frames=4", "data.size=8", "data.batch_size=32"],  # 3-D: 4x8x8, random batches
    ],
    ids=["audio", "video"],
)
def test_members_of_a_set_of_clips_train_exactly_as_single_runs(make_cfg, tmp_path: Path, data: list[str]) -> None:
    """2 clips x 2 seeds in one run: every member's PSNR rises, and member 3 (clip 1, seed 1) has its single run's
    loss at every step, its test PSNR and its weights (random batches: each member draws its seed's cells)."""
    over = [*LOGGED, "trainer.max_steps=12", "log.val_every_n_steps=4", "data.limit=2", *data]
    many_dir, one = tmp_path / "many", tmp_path / "one"
    train(make_cfg(*over, "model=many", "members.seeds=2", run_dir=many_dir))
    train(make_cfg(*over, "data.index=1", "seed=1", run_dir=one))
    rows = list(csv.DictReader((many_dir / "members.csv").open(newline="")))
    assert [(r["image"], r["seed"]) for r in rows] == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    record = json.loads((many_dir / "members_history.json").read_text())
    history, val = record["train"], record["val"]
    assert [v["step"] for v in val] == [4, 8, 12]
    first, last = ([m["val/psnr"] for m in v["members"]] for v in (val[0], val[-1]))
    assert all(b > a + 0.2 for a, b in zip(first, last, strict=True)), (first, last)  # every member's PSNR rises
    losses = csv_losses(one)
    assert len(losses) == len(history) == 12
    np.testing.assert_allclose([h["loss"][3] for h in history], losses, rtol=1e-4, atol=1e-7)
    single = json.loads((one / "metrics.json").read_text())
    assert abs(float(rows[3]["test/psnr"]) - single["test/psnr"]) < 0.05
    many = json.loads((many_dir / "metrics.json").read_text())
    assert set(single) & {"test/snr", "test/ssim"} <= set(many)  # the domain's own scores, as a single run's
    assert len(list((many_dir / "members").glob("*.png"))) == 4 and (many_dir / "reconstruction.png").exists()
    # each member's render in the domain's format, as the single run's prediction.*: member 3 is that run's field
    suffix = (one / "prediction.wav") if (one / "prediction.wav").exists() else (one / "prediction.mp4")
    written = sorted(p.name for p in (many_dir / "members").glob(f"*{suffix.suffix}"))
    assert written == [f"{i}{suffix.suffix}" for i in range(4)], written
    mine, theirs = (read_signal(p) for p in (many_dir / "members" / f"3{suffix.suffix}", suffix))
    diff = np.abs(mine.astype(int) - theirs.astype(int))
    assert mine.shape == theirs.shape
    if suffix.suffix == ".wav":  # 16-bit PCM of the same float samples: within 2 LSB everywhere
        assert diff.max() <= 2
    else:  # H.264 is lossy: an 8x8 frame is one macroblock, and a level's difference in the input (the vectorised
        # and the single field agree to float rounding) can re-code all of it (a CI run: 1.67 levels on average);
        # so the clips are compared as videos, above 40 dB (the other members' clips: 32-35 dB from this one)
        assert 10 * np.log10(255**2 / max((diff**2).mean(), 1e-12)) > 40, diff.mean()
    assert load_checkpoint(many_dir / "checkpoints" / "last.ckpt").n_members == 4  # rebuilt from its config alone


@pytest.mark.slow
def test_a_film_field_trains_on_a_collection_of_audio_clips(make_cfg, tmp_path: Path) -> None:
    """One FiLM-conditioned field for 4 generated chirps (80 samples each; 2 more for validation, 2 for test),
    autodecoder codes: the training loss falls, and test-time optimisation of the unseen clips' codes raises their
    PSNR above the start."""
    over = [*LOGGED, "data=audio_collection", "data.generated=8", "data.size=null", "data.duration=0.02", "cond=film"]
    over += ["model.latent_source=autodecoder", "model.lr=1e-2", "encoding.sigma=20"]
    over += ["trainer.max_steps=40", "log.val_every_n_steps=40"]
    over += ["model.tto_steps=20", "model.val_tto_steps=5"]
    run = tmp_path / "run"
    train(make_cfg(*over, run_dir=run))
    losses = [h["train/loss"] for h in json.loads((run / "history.json").read_text())["train"]]
    assert len(losses) == 40 and np.mean(losses[-5:]) < 0.1 * np.mean(losses[:5])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/psnr"] > metrics["test/psnr_tto0"] + 0.5
    # SNR as data=audio reports it: [-1, 1] samples have energy <= 1 each, peak-to-peak 2, so SNR <= PSNR - 6 dB
    assert np.isfinite(metrics["test/snr"]) and metrics["test/snr"] <= metrics["test/psnr"] - 6.02
    assert (run / "reconstruction.png").exists() and (run / "interpolation.png").exists()
