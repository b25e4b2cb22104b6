"""The zoo on audio, video and volumes: the signals it tunes and reports on, its table, and scripts/zoo.py end to end
on the generated chirp and ball."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.io import wavfile

from nfields.analysis.zoo import METHODS, Result, centred, markdown
from nfields.analysis.zoo_signals import read_runs, signals
from nfields.core.errors import DataError
from nfields.data.audio import AudioDataModule
from nfields.data.video import VideoDataModule, moving_shapes
from nfields.data.volume import VolumeDataModule, sphere_volume
from nfields.run.resume import read_checkpoint
from tests.conftest import ROOT


def data_module(over: tuple[str, ...]):
    """The datamodule a signal's overrides select (data=<domain> plus data.* keys)."""
    domain = over[0].split("=")[1]
    kwargs = {k.split(".", 1)[1]: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in over[1:])}
    cls = {"audio": AudioDataModule, "video": VideoDataModule, "volume": VolumeDataModule}[domain]
    dm = cls(**kwargs)
    dm.setup()
    return dm


def test_audio_crops_alternate_between_tuning_and_report_and_cover_the_clip_exactly(tmp_path: Path) -> None:
    rate, x = 1000, np.random.default_rng(0).integers(-(2**15), 2**15, (1203, 2), dtype=np.int16)
    wavfile.write(tmp_path / "a.wav", rate, x)
    tune, report = signals("audio", 3, tmp_path / "zoo", path=str(tmp_path / "a.wav"))
    assert len(tune) == len(report) == 3
    pieces = [s for pair in zip(tune, report, strict=True) for s in pair]  # 0, 1, 2, ... in time
    got = [data_module(s.over).signal for s in pieces]  # each (200, 2) in [0, 1]
    assert [tuple(g.shape) for g in got] == [(200, 2)] * 6  # 1203 // 6 whole samples each, none shared
    expected = torch.from_numpy((x[:1200].astype(np.float32) / 2**15 + 1) / 2)
    assert torch.equal(torch.cat(got), expected)
    assert [s.name for s in tune] == ["samples 0-199", "samples 400-599", "samples 800-999"]


def test_video_frame_ranges_and_volume_slabs_are_written_exactly(tmp_path: Path) -> None:
    tune, report = signals("video", 2, tmp_path / "v")  # the generated clip: 16 frames -> 4 of 4 frames
    clip = moving_shapes()
    assert [s.name for s in report] == ["frames 4-7", "frames 12-15"]
    assert torch.equal(data_module(report[1].over).signal, clip[12:16])
    assert torch.equal(data_module(tune[0].over).signal, clip[0:4])
    tune, report = signals("volume", 1, tmp_path / "b", size=16)  # the ball at 16^3 -> 2 slabs of 8
    whole = VolumeDataModule(size=16)
    whole.setup()
    assert torch.equal(data_module(tune[0].over).signal, whole.signal[:8])  # occupancy stays occupancy (0/255)
    assert torch.equal(data_module(report[0].over).signal, whole.signal[8:])
    assert sphere_volume().shape == (32, 32, 32, 1)


def test_a_folder_s_train_files_tune_and_its_test_files_report(tmp_path: Path) -> None:
    for split in ("train", "test"):
        (tmp_path / "set" / split).mkdir(parents=True)
        for i in range(2):
            np.save(tmp_path / "set" / split / f"{i}.npy", np.ones((4, 4, 4), bool))
    tune, report = signals("volume", 2, tmp_path / "zoo", root=tmp_path / "set")
    assert [s.over[1] for s in tune] == [f"data.path={tmp_path / 'set' / 'train' / f'{i}.npy'}" for i in range(2)]
    assert [s.name for s in report] == ["0.npy", "1.npy"]
    with pytest.raises(DataError, match="fewer than --images 3"):
        signals("volume", 3, tmp_path / "zoo", root=tmp_path / "set")
    with pytest.raises(DataError, match="too few for 40 pieces; lower --images"):
        signals("video", 20, tmp_path / "zoo")  # 16 generated frames


def fake_run(d: Path, psnr: list[float], **test: float) -> Path:
    d.mkdir(parents=True)
    metrics = {
        "model/params": 990,
        "perf/steps_per_s": 10.0,
        "test/psnr": psnr[-1],
        **{f"test/{k}": v for k, v in test.items()},
    }
    (d / "metrics.json").write_text(json.dumps(metrics))
    val = [{"step": 10 * (i + 1), "val/psnr": p} for i, p in enumerate(psnr)]
    (d / "history.json").write_text(json.dumps({"val": val}))
    return d


def test_single_runs_make_a_result_with_the_domain_s_score_and_a_table_column_for_it(tmp_path: Path) -> None:
    dirs = [fake_run(tmp_path / "0", [20.0, 31.0], snr=8.0), fake_run(tmp_path / "1", [24.0, 33.0], snr=10.0)]
    r = read_runs(dirs, "siren", 1000, "fit")
    assert r.psnr == [31.0, 33.0] and r.ssim == [] and r.scores == {"snr": [8.0, 10.0]} and r.params == 990
    assert r.curve == [(1.0, 22.0), (2.0, 32.0)] and r.time_to_target == 2.0  # mean over signals, step / (steps/s)
    table = markdown([r], "render").splitlines()
    assert (
        table[0]
        == "| task | budget | method | params | test PSNR (dB) | SNR (dB) | steps/s | to 30 dB | render | searched |"
    )
    assert table[2].startswith("| fit | 1,000 | siren | 990 | 32.00 ± 1.00 | 9.00 ± 1.00 | 10.0 | 2.0 s | - |")
    image = Result("grid", 1000, "fit", 990, [30.0], [0.9], 1.0, [])
    assert markdown([image]).splitlines()[0] == (  # the image table as it was
        "| task | budget | method | params | test PSNR (dB) | SSIM | steps/s | to 30 dB | render 512² | searched |"
    )


def test_centre_is_one_point_the_grid_s_middle() -> None:
    c = centred(METHODS["siren"])
    assert c.grid == {"model.lr": [5e-4], "network.w0_initial": [30.0]} and c.over == METHODS["siren"].over


@pytest.mark.slow
@pytest.mark.parametrize("domain, score", [("audio", "snr"), ("volume", "iou")])
def test_the_zoo_runs_every_representation_on_a_generated_signal(tmp_path: Path, domain: str, score: str) -> None:
    out = tmp_path / "zoo"
    cmd = [sys.executable, str(ROOT / "scripts" / "zoo.py"), "--domain", domain, "--steps", "2", "--images", "1"]
    cmd += ["--budgets", "10000", "--tasks", "fit", "--grid", "centre", "--out", str(out)]
    cmd += ["--size", "16"] if domain == "volume" else ["--size", "64"]  # a 16^3 ball in 2 slabs; 64-sample crops
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=900, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "left out: gaussians (field=gaussians is 2-D only" in proc.stdout
    rows = json.loads((out / "zoo.json").read_text())
    assert sorted(r["method"] for r in rows) == sorted(m for m in METHODS if m != "gaussians")
    for r in rows:
        assert len(r["psnr"]) == 1 and math.isfinite(r["psnr"][0]) and 0 < r["params"] <= 10000
        assert math.isfinite(r["scores"][score][0]) and r["render_s"] > 0
    md = (out / "zoo.md").read_text()
    for r in rows:
        assert f"| fit | 10,000 | {r['method']} | {r['params']:,.0f} | {r['psnr'][0]:.2f} ± 0.00 |" in md
    assert ("SNR (dB)" if domain == "audio" else "IoU") in md and "left out: gaussians" in md
    # tuned on one signal, reported on the other (the data each run's checkpoint was trained on)
    runs = out / "fit" / "10000" / "siren"
    tuned, reported = (
        read_checkpoint(d / "checkpoints" / "last.ckpt")["nfields_config"]["data"]
        for d in (runs / "search" / "0-0", runs / "test" / "0")
    )
    key = "offset" if domain == "audio" else "path"
    assert tuned[key] != reported[key]
    assert f"tuned on {'samples 0-999' if domain == 'audio' else 'depth 0-7'}; reported on " in md
