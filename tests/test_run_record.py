"""What a run reports is what happened: the final step's validation, and a resumed run's whole record."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from nfields.run.train import train
from tests.conftest import run_train
from tests.reliability import expect_error
from tests.test_reliability_runs import signal_at_step

TINY = ["debug=fast", "logger=none", "data.size=16", "log.gif_every_n_steps=5"]
COLLECTION = ["data=synthetic", "data.n_images=16", "data.size=8", "data.batch_size=4", "data.n_val=4"]
COLLECTION += ["data.n_test=4", "model.latent_dim=4", "model.tto_steps=2", "model.val_tto_steps=1"]


def read(run: Path, name: str) -> dict:
    return json.loads((run / name).read_text())


@pytest.mark.parametrize(
    "over",
    [["model.steps_per_call=1"], ["model=many", "members.seeds=2", "model.steps_per_call=1"], COLLECTION],
    ids=["single", "many", "collection"],
)
def test_the_last_step_is_validated_when_it_is_not_a_multiple(make_cfg, capsys, tmp_path: Path, over) -> None:
    """trainer.max_steps=15, validation every 10: metrics.json, history.json, the closing line and the
    optimised metric all carry step 15's val/psnr (not step 10's beside step 15's test/psnr)."""
    cfg = make_cfg(*TINY, *over, "trainer.max_steps=15", "log.val_every_n_steps=10")
    capsys.readouterr()
    returned = train(cfg)
    run = Path(cfg.run_dir)
    history, metrics = read(run, "history.json")["val"], read(run, "metrics.json")
    assert [row["step"] for row in history] == [10, 15]
    assert metrics["step"] == 15 and metrics["val/psnr"] == history[-1]["val/psnr"] != history[0]["val/psnr"]
    assert returned == metrics["val/psnr"]  # what Optuna gets
    assert f"val {metrics['val/psnr']:.2f} dB" in capsys.readouterr().out.strip().splitlines()[-1]


RESUME = [*TINY, "model.steps_per_call=1", "log.val_every_n_steps=10", "log.gif_every_n_steps=5"]


def record(run: Path) -> tuple[dict, dict, np.ndarray]:
    """metrics.json without timings, history.json, and progress.gif's frames (n, h, w, C)."""
    metrics = {k: v for k, v in read(run, "metrics.json").items() if not k.startswith("perf/")}
    return metrics, read(run, "history.json"), iio.imread(run / "progress.gif", index=None)


def test_a_resumed_run_keeps_the_record_of_both_parts(make_cfg, monkeypatch, capsys, tmp_path: Path) -> None:
    """30 steps in one go, or interrupted at step 13 (SIGTERM) and resumed, or run to 20 and resumed to 30: the
    same metrics.json, history.json and progress.gif. Before, history.json and the GIF started at the resume, and
    resuming from a checkpoint at a validation step (20) lost that step's validation."""
    full = tmp_path / "full"
    train(make_cfg(*RESUME, "trainer.max_steps=30", run_dir=full))
    assert [row["step"] for row in read(full, "history.json")["val"]] == [10, 20, 30]  # 30 is validated once

    stopped = tmp_path / "stopped"
    with monkeypatch.context() as m:
        signal_at_step(m, signal.SIGTERM, at=13)
        expect_error(make_cfg(*RESUME, "trainer.max_steps=30", run_dir=stopped), capsys, code=143)
    last = stopped / "checkpoints" / "last.ckpt"
    train(make_cfg(*RESUME, "trainer.max_steps=30", f"ckpt_path={last}", run_dir=stopped))

    # Extended from 20 to 30 steps: at a constant lr (the default's cosine decay spans trainer.max_steps, so a
    # longer run decays otherwise from its first step)
    constant = [*RESUME, "model.scheduler=null"]
    full_constant, extended = tmp_path / "full_constant", tmp_path / "extended"
    train(make_cfg(*constant, "trainer.max_steps=30", run_dir=full_constant))
    train(make_cfg(*constant, "trainer.max_steps=20", run_dir=extended))
    last = extended / "checkpoints" / "last.ckpt"
    train(make_cfg(*constant, "trainer.max_steps=30", f"ckpt_path={last}", run_dir=extended))

    for whole, run in ((full, stopped), (full_constant, extended)):
        (metrics, history, gif), (m, h, g) = record(whole), record(run)
        assert m == metrics and h == history, run.name
        assert g.shape == gif.shape and np.array_equal(g, gif), run.name


def test_resuming_a_finished_run_changes_nothing(make_cfg, tmp_path: Path) -> None:
    """The command the reused-run-dir message suggests, on a run already at trainer.max_steps: one line, exit 0,
    every file as it was (metrics.json is not rewritten without val/* and perf/*)."""
    run = tmp_path / "run"
    train(make_cfg(*RESUME, "trainer.max_steps=20", run_dir=run))  # the finished run; only the resume is train.py
    args = [*RESUME, "trainer.max_steps=20", f"hydra.run.dir={run}"]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.rglob("*") if p.is_file()}
    again = run_train([*args, f"ckpt_path={run}/checkpoints/last.ckpt"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip() == (
        f"{run}: the run is finished (step 20, trainer.max_steps=20); nothing changed. "
        "To train on, resume with a larger trainer.max_steps"
    )
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.rglob("*") if p.is_file()} == before
