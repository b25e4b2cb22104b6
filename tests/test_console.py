"""`python train.py` prints one start line, a progress bar in optimiser steps (plain lines without a
terminal), one closing line; none of Lightning's or W&B's chatter, and the user's warnings still show."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import warnings
from pathlib import Path

import pytest
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn

from nfields.lit.callbacks.progress import TTO_DESC
from nfields.run.build import build_datamodule, build_module
from nfields.run.console import closing_line, count, model_description, quiet_lightning
from nfields.run.loggers import run_name
from nfields.run.train import train
from tests.conftest import run_train
from tests.test_train import CONTRACT

NOISE = ["Epoch 0", "Validation DataLoader", "Testing", "Tip", "litlogger", "GPU available", "TPU available",
         "HPU available", "LOCAL_RANK", "You are using a CUDA device", "Trainer.fit` stopped", "anonymous setting",
         "wandb: WARNING", "[INFO]"]  # fmt: skip
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # the console does not depend on it; a shared 2-core machine does


def console(args: list[str], run: Path) -> tuple[list[str], str]:
    proc = run_train([*args, f"hydra.run.dir={run}"], env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for noise in NOISE:
        assert noise not in out, (noise, out)
    assert "\r" not in proc.stdout  # no terminal: plain lines, no redrawn bar
    return proc.stdout.splitlines(), proc.stderr


def check_closing(line: str, run: Path) -> None:
    m = json.loads((run / "metrics.json").read_text())
    baseline = f" (mean image {m['test/psnr_mean_image']:.2f} dB)" if "test/psnr_mean_image" in m else ""
    expected = (
        f"PSNR: test {m['test/psnr']:.2f} dB{baseline}, val {m['val/psnr']:.2f} dB | SSIM: test {m['test/ssim']:.3f}, "
        f"val {m['val/ssim']:.3f} | {m['perf/steps_per_s']:.3g} steps/s -> {run}"
    )
    assert line == expected


def test_train_py_single_image(tmp_path: Path) -> None:
    """The console, and what `python train.py` leaves in the run dir with two loggers."""
    run = tmp_path / "run"
    lines, err = console(["debug=fast", "logger=[wandb,csv]"], run)
    assert lines[0] == (
        "nfields: fourier + mlp (2x32, 17.6k params) on astronaut 24x24 (task=fit, model=single),"
        f" 30 steps on cpu -> {run}"
    ), lines
    progress = lines[1:-1]  # after each validation (every 10 steps): optimiser steps, loss, latest val/psnr
    assert [line.split("  ")[0] for line in progress] == ["step 10/30", "step 20/30", "step 30/30"], lines
    assert all(re.search(r"  loss [\d.e-]+  val/psnr [\d.]+ dB  \([\d.]+ s\)$", line) for line in progress), lines
    check_closing(lines[-1], run)
    assert err == "", err
    for name in CONTRACT:
        assert (run / name).exists(), name
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    header = (run / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss", "train/psnr", "train/lr", "val/psnr", "val/ssim", "test/psnr"} <= set(header)


def test_collection_console(tmp_path: Path) -> None:
    run = tmp_path / "run"
    lines, err = console(["debug=fast", "data=synthetic", "logger=none"], run)
    assert re.fullmatch(
        rf"nfields: fourier \+ mlp \(2x32, [\d.]+k params\) on \d+ synthetic images 24x24 \(task=fit,"
        rf" model=collection\), 30 steps on cpu -> {re.escape(str(run))}",
        lines[0],
    ), lines
    assert [line.split("  ")[0] for line in lines[1:-1]] == ["step 10/30", "step 20/30", "step 30/30"], lines
    check_closing(lines[-1], run)
    assert err == "", err


def test_test_time_optimisation_reports_its_steps_and_train_log_keeps_the_console(tmp_path: Path) -> None:
    """cond=film: the test pass optimises the test images' codes; without a terminal it ends with one plain line.
    train.log (Hydra's job log) holds every console line, time-stamped."""
    run = tmp_path / "run"
    args = ["debug=fast", "data=synthetic", "cond=film", "logger=none", "model.tto_steps=3", f"hydra.run.dir={run}"]
    proc = run_train(args, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if "][INFO] - " not in line]  # not Lightning's INFO lines
    tto = [line for line in lines if line.startswith(TTO_DESC)]
    assert len(tto) == 1 and re.fullmatch(rf"{TTO_DESC} (\d+)/\1 steps  \([\d.]+ s\)", tto[0]), lines
    assert lines.index(tto[0]) == len(lines) - 2  # after training's lines, before the closing line
    logged = (run / "train.log").read_text().splitlines()
    assert [line.split("[nfields.console][INFO] - ", 1)[-1] for line in logged if "[nfields.console]" in line] == lines


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_counts_optimiser_steps_in_a_terminal(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    """model.steps_per_call=5: each call advances the bar by 5, to trainer.max_steps; one bar, no epochs."""
    term = Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    train(make_cfg("debug=fast", "logger=none", "model.steps_per_call=5"))
    frames = [f for f in term.getvalue().split("\r") if f.startswith("train:")]
    counts = [int(re.search(r"\| (\d+)/30 ", f).group(1)) for f in frames]
    assert counts[-1] == 30 and all(n % 5 == 0 for n in counts) and counts == sorted(counts), frames
    assert "val/psnr" in frames[-1] and "Epoch" not in term.getvalue() and "Validation" not in term.getvalue()


def test_test_time_optimisation_has_a_bar_in_a_terminal(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    term = Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    over = ["data=synthetic", "data.n_test=8", "data.eval_batch_size=4", "model.tto_steps=10"]
    train(make_cfg("debug=fast", "logger=none", "cond=film", *over))
    frames = [f for f in term.getvalue().split("\r") if f.startswith(f"{TTO_DESC}:")]
    assert frames and re.search(r"\| 20/20 ", frames[-1]), frames  # 2 test batches x 10 steps


def test_lightning_info_is_quiet_but_warnings_show(caplog: pytest.LogCaptureFixture) -> None:
    quiet_lightning()
    with caplog.at_level(logging.INFO):
        rank_zero_info("GPU available: False, used: False")
    assert "GPU available" not in caplog.text
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rank_zero_warn("your dataloader is too small")  # a genuine warning about the user's setup
    assert [str(w.message) for w in caught] == ["your dataloader is too small"]


def test_closing_line_without_test_metrics() -> None:
    assert closing_line({"val/psnr": 20.0}, None, "out") == "PSNR: val 20.00 dB -> out"
    assert closing_line({}, 12.345, "out") == "12.3 steps/s -> out"
    line = closing_line({"test/psnr": 28.314, "test/psnr_bicubic": 27.1, "val/psnr_bicubic": 26.0}, None, "out")
    assert line == "PSNR: test 28.31 dB (bicubic 27.10 dB) -> out"
    assert [count(n) for n in (17, 17_600, 133_123, 1_234_567)] == ["17", "17.6k", "133k", "1.23M"]


def test_wandb_run_names_say_cond_model_and_field() -> None:
    base = {"field": "neural", "encoding": "fourier", "network": "mlp", "cond": "none", "model": "single"}
    base["task"] = "fit"
    assert run_name(base) == "fourier-mlp-fit"
    assert run_name({**base, "cond": "film", "model": "collection"}) == "fourier-mlp-film-collection-fit"
    assert run_name({**base, "model": "many"}) == "fourier-mlp-many-fit"
    assert run_name({**base, "field": "gaussians", "task": "superres"}) == "gaussians-superres"


def test_wandb_logger_is_named_from_the_choices(make_cfg) -> None:
    import wandb
    from hydra.utils import instantiate

    cfg = make_cfg("data=synthetic", "cond=film", "logger.wandb.mode=offline")
    assert cfg.logger.wandb.name is None  # null: named from the run's choices
    logger = instantiate(cfg.logger.wandb)
    try:
        assert logger.experiment.name == "fourier-mlp-film-collection-fit"
    finally:
        wandb.finish()


def test_the_wandb_sync_hint_only_for_one_run_in_several_offline_parts(tmp_path: Path) -> None:
    from nfields.run.console import wandb_sync_hint

    assert wandb_sync_hint(str(tmp_path)) is None  # no W&B
    (tmp_path / "wandb" / "offline-run-20261204_100000-abc").mkdir(parents=True)
    assert wandb_sync_hint(str(tmp_path)) is None  # one part: nothing to say
    (tmp_path / "wandb" / "offline-run-20261204_110000-abc").mkdir()
    assert wandb_sync_hint(str(tmp_path)) == (
        f"W&B: this run is in 2 offline parts; upload them as one run with: wandb sync {tmp_path}/wandb/offline-run-*"
    )
    (tmp_path / "wandb" / "offline-run-20261204_120000-xyz").mkdir()
    assert wandb_sync_hint(str(tmp_path)) is None  # another run's folder: not one run's parts


@pytest.mark.parametrize(
    "over, shape",
    [(["network=wire"], "2x22 complex"), (["network=siren"], "2x32"), (["network=linear"], None)],
)
def test_the_start_line_gives_the_network_as_built(make_cfg, over: list[str], shape: str | None) -> None:
    """WIRE's complex layers are int(n_neurons / sqrt(2)) wide: the line says what was built, not the config."""
    cfg = make_cfg("debug=fast", "network.n_neurons=32", *over)
    dm = build_datamodule(cfg)
    text = model_description(cfg, build_module(cfg, dm))
    if shape is None:
        assert re.fullmatch(r"grid \+ linear \([\d.]+k params\)", text), text
    else:
        assert f"({shape}, " in text, text
