"""scripts/bench.py runs each case's two paths and prints their ratio (timings are not asserted)."""

import re
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT
from tests.test_collections import HAS_FASHION


@pytest.mark.slow
def test_bench_runs_both_paths_and_prints_the_ratio(tmp_path) -> None:
    out = subprocess.run(  # from another directory: the script finds its cases and baselines beside it
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--device",
            "cpu",
            "--size",
            "16",
            "--steps",
            "12",
            "--width",
            "32",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(r"^\| (hand-written loop|nfields train.py) \| ([\d.]+) \|", out.stdout, re.M)
    assert [r[0] for r in rows] == ["hand-written loop", "nfields train.py"]
    assert all(float(r[1]) > 0 for r in rows)
    assert re.search(r"ratio nfields / hand-written steps/s: \d+\.\d+", out.stdout)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_FASHION, reason="needs the Debian package dataset-fashion-mnist (installed by .ci/run)")
def test_bench_collection_case_prints_images_per_s_for_each_conditioning() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--case", "collection", "--device", "cpu", "--steps", "8"]
        + ["data.limit=256", "network.n_neurons=16", "data.batch_size=4"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(r"^\| (concat|film|hypernet) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", out.stdout, re.M)
    assert [r[0] for r in rows] == ["concat", "film", "hypernet"], out.stdout
    assert all(float(v) > 0 for r in rows for v in r[1:])
    assert re.search(r"hypernet costs \d+\.\d+x film per image", out.stdout)


@pytest.mark.slow
def test_bench_memory_case_reports_peak_memory_per_size() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--case", "memory", "--device", "cpu"]
        + ["--sizes", "32,64", "--batches", "256", "--steps", "4"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(r"^\| (\d+)² \| ([\d,]+) \| (true|false) \| [\d.]+ \| ([\d.]+) \| ([\d.]+) \|", out.stdout, re.M)
    assert [(r[0], r[2]) for r in rows] == [("32", "false"), ("32", "true"), ("64", "false"), ("64", "true")]
    assert all(float(r[4]) > 100 for r in rows)  # a Python process with torch loaded is above 100 MB
    assert float(rows[3][3]) < float(rows[2][3])  # the compact pixel store is smaller


def test_the_hand_loop_runs_in_lock_step_outside_nfields_clock(make_cfg, tmp_path) -> None:
    """scripts/benchcases/alongside.py: after each call the hand loop takes as many steps as nfields did (the first
    call's are its warm-up, untimed), and nfields' perf/steps_per_s does not count them: a hand step of 0.1 s
    would hold nfields under 10 steps/s if it did."""
    import json
    import time

    from nfields.run.train import train
    from scripts.benchcases import alongside

    taken: list[float] = []
    alongside.PENDING.append(lambda: (taken.append(time.perf_counter()), time.sleep(0.1)))
    over = ["debug=fast", "data.size=16", "trainer.max_steps=10", "model.steps_per_call=2"]
    over += ["log.val_every_n_steps=10", "log.gif_every_n_steps=10"]
    train(make_cfg(*over, f"+callbacks.alongside._target_={alongside.TARGET}", run_dir=tmp_path / "run"))
    hand = alongside.Alongside.last
    assert len(taken) == 10 and hand.calls == 5 and hand.timed_steps == 8  # 5 calls of 2; the first untimed
    assert 5 < hand.steps_per_s <= 10.01  # 0.1 s a step, plus the loop's own time
    assert 1.0 <= hand.total_s < 1.0 + 0.5 and hand.total_s > hand.seconds  # all 10 steps, the warm-up's too
    steps_per_s = json.loads((tmp_path / "run" / "metrics.json").read_text())["perf/steps_per_s"]
    assert steps_per_s > 12, steps_per_s  # nfields' 16^2 steps take milliseconds: the hand blocks are excluded
    assert not alongside.PENDING


def test_alongside_without_a_pending_loop_says_what_to_do() -> None:
    from scripts.benchcases import alongside

    alongside.PENDING.clear()
    with pytest.raises(RuntimeError, match="PENDING"):
        alongside.Alongside()


@pytest.mark.slow
def test_bench_many_prints_the_three_paths_and_the_lock_step_ratio() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--case", "many_tiny", "--device", "cpu"]
        + ["--members", "4", "--steps", "20", "--loop-images", "1", "model.steps_per_call=5"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(
        r"^\| (many \(model=many\)|nfields single-run loop|hand-written loop) \| ([\d.e+]+) \|", out.stdout, re.M
    )
    assert [r[0] for r in rows] == ["many (model=many)", "nfields single-run loop", "hand-written loop"], out.stdout
    assert all(float(r[1]) > 0 for r in rows)
    ratio = re.search(r"many / hand-written loop = ([\d.]+)x", out.stdout)
    assert ratio and float(ratio.group(1)) > 0, out.stdout


def test_the_hand_loops_kept_features_are_the_same_numbers() -> None:
    """scripts/baselines/ffn_loop.py mode=kept (nfields' default levers: fused Adam, a full batch's features
    computed once) trains the same field as mode=fused, which computes them every step."""
    from nfields.core.io import load_image, square_resize
    from scripts.baselines.ffn_loop import HandLoop

    img = square_resize(load_image("astronaut"), 32)
    loops = [HandLoop(img, torch.device("cpu"), width=32, mode=mode) for mode in ("fused", "kept")]

    def train_mse(loop: HandLoop) -> float:
        with torch.no_grad():
            return float(((loop.model(loop.x) - loop.y) ** 2).mean())

    before = train_mse(loops[0])
    for _ in range(50):
        for loop in loops:
            loop.step()
    fused, kept = (train_mse(loop) for loop in loops)
    assert kept == pytest.approx(fused, rel=1e-4) and fused < before / 2


@pytest.mark.slow
def test_bench_video_case_prints_each_lock_step_ratio_and_their_median() -> None:
    args = ["--case", "video", "--device", "cpu", "--steps", "4", "--frames", "4", "--size", "16", "--width", "16"]
    out = subprocess.run(
        # one step a call: a 4-step run whose auto steps_per_call took all 4 in one call would time no step
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            *args,
            "--batch",
            "512",
            "--repeat",
            "2",
            "model.steps_per_call=1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(r"^\| (\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", out.stdout, re.M)
    assert [r[0] for r in rows] == ["1", "2"], out.stdout
    for _, hand, ours, ratio in rows:  # the printed ratio is nfields' rate over the hand loop's
        assert (
            float(hand) > 0 and float(ours) > 0 and float(ratio) == pytest.approx(float(ours) / float(hand), rel=0.01)
        )
    assert re.search(r"^ratio nfields / hand-written steps/s: [\d.]+, [\d.]+; median [\d.]+$", out.stdout, re.M)
