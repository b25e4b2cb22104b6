"""scripts/compare.py: table, curves and montage from a multirun's directories alone, runs labelled by
the overrides the user typed."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import yaml

from nfields.analysis.report import (
    captioned_predictions,
    curves_figure,
    differing_keys,
    find_runs,
    metric_columns,
    run_labels,
)
from scripts import compare
from tests.conftest import ROOT, run_train

COMPARE = ROOT / "scripts" / "compare.py"
SIREN_SCHEDULER = {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "_partial_": True, "T_max": 30}


def fake_run(d: Path, choices: dict[str, str], overrides: list[str] | None, psnr: list[float], seed: int = 0) -> Path:
    """A finished run as train.py leaves it: .hydra/{config,overrides,hydra}.yaml, metrics.json,
    history.json, the CSV logger's csv/metrics.csv and prediction.png."""
    (d / ".hydra").mkdir(parents=True)
    siren = choices.get("network") == "siren"
    config = {
        "encoding": {"_target_": f"nfields.fields.encodings.{choices['encoding']}.E", "in_dim": 2, "seed": seed},
        "network": {"_target_": f"nfields.fields.networks.{choices['network']}.N", "_partial_": True},
        "model": {"lr": 1e-3, "scheduler": SIREN_SCHEDULER if siren else None},  # derived from network=siren
        "seed": seed,
        "run_dir": str(d),
    }
    (d / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    if overrides is not None:
        (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    hydra = {"hydra": {"job": {"num": d.name}, "runtime": {"output_dir": str(d), "choices": choices}}}
    (d / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    steps = [10 * (i + 1) for i in range(len(psnr))]
    final = {"test/psnr": psnr[-1], "val/psnr": psnr[-1], "test/ssim": 0.5, "step": steps[-1]}
    (d / "metrics.json").write_text(json.dumps(final))
    (d / "history.json").write_text(
        json.dumps({"val": [{"step": s, "val/psnr": p} for s, p in zip(steps, psnr, strict=True)]})
    )
    (d / "csv").mkdir()
    rows = "".join(f"0,{s - 1},,{p}\n" for s, p in zip(steps, psnr, strict=True))
    (d / "csv" / "metrics.csv").write_text("epoch,step,train/loss,val/psnr\n" + rows)
    iio.imwrite(d / "prediction.png", np.full((24, 24, 3), 128, np.uint8))
    return d


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A 2x2 multirun: `-m encoding=none,fourier network=mlp,siren debug=fast logger=csv`."""
    root = tmp_path / "multirun"
    grid = itertools.product(["none", "fourier"], ["mlp", "siren"])
    for i, (enc, net) in enumerate(grid):
        typed = [f"encoding={enc}", f"network={net}", "debug=fast", "logger=csv"]
        choices = {"encoding": enc, "network": net, "debug": "fast", "logger": "csv", "hydra/launcher": "basic"}
        fake_run(root / str(i), choices, typed, [11.0 + i, 12.5 + 2 * i, 13.25 + 3 * i])
    return root


def test_columns_and_labels_are_the_overrides_that_differ(sweep: Path) -> None:
    runs = find_runs(sweep)
    assert differing_keys(runs) == ["encoding", "network"]  # typed order; not debug/logger (alike), not derived
    assert run_labels(runs) == [
        "encoding=none network=mlp",
        "encoding=none network=siren",
        "encoding=fourier network=mlp",
        "encoding=fourier network=siren",
    ]


def test_a_run_without_overrides_is_labelled_by_its_directory(sweep: Path) -> None:
    choices = {"encoding": "fourier", "network": "mlp", "debug": "None", "logger": "wandb"}  # the defaults
    fake_run(sweep / "baseline", choices, None, [12.0])
    runs = find_runs(sweep)
    assert differing_keys(runs) == ["encoding", "network", "debug", "logger"]  # the baseline ran without them
    labels = run_labels(runs)
    assert labels[-1] == "baseline" and labels[0] == "encoding=none network=mlp debug=fast logger=csv"


def test_a_single_run_is_labelled_by_all_it_typed(tmp_path: Path) -> None:
    fake_run(tmp_path / "run", {"encoding": "fourier", "network": "mlp"}, ["encoding=fourier", "+x=1"], [20.0])
    assert run_labels(find_runs(tmp_path)) == ["encoding=fourier +x=1"]


def test_seed_sweeps_show_the_seed_not_its_derived_keys(tmp_path: Path) -> None:
    for s in (0, 1):
        fake_run(tmp_path / str(s), {"encoding": "fourier", "network": "mlp"}, [f"seed={s}", "debug=fast"], [9.0], s)
    assert differing_keys(find_runs(tmp_path)) == ["seed"]  # encoding.seed and run_dir differ too, derived


def run_compare(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    """`python scripts/compare.py ARGS`, in this process (test_compare_a_real_four_run_multirun runs the script)."""
    monkeypatch.setattr(sys, "argv", [str(COMPARE), *args])
    compare.main()


def test_compare_table_has_override_columns_only(sweep: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "report"
    run_compare(monkeypatch, str(sweep), "--out", str(out))
    table = (out / "compare.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| run"))
    assert header.startswith("| run | encoding | network | test/psnr |"), header
    for derived in ("model.scheduler", "_target_", "_partial_", "seed", "run_dir", "hydra", "debug", "logger"):
        assert derived not in header
    rows = [line for line in table.splitlines() if line.startswith("| ") and line != header]
    assert rows[0].startswith("| 3 | fourier | siren | 22.25 |")  # best first
    assert iio.imread(out / "curves.png").shape[0] > 100
    assert iio.imread(out / "montage.png").shape[1] > 4 * 256  # four tiles side by side


def test_the_table_shows_the_metrics_each_domain_logged(tmp_path: Path, monkeypatch) -> None:
    """Audio runs log test/snr and no SSIM, occupancy runs test/iou: the table has their columns, not SSIM's."""
    for domain, score, value in (("audio", "test/snr", 7.5), ("volume", "test/iou", 0.96)):
        root = tmp_path / domain
        for i, lr in enumerate(("1e-3", "1e-2")):
            d = fake_run(root / str(i), {"encoding": "none", "network": "siren"}, [f"model.lr={lr}"], [20.0 + i])
            metrics = {"test/psnr": 20.0 + i, score: value + i, "val/psnr": 20.0 + i, "perf/steps_per_s": 3.0}
            (d / "metrics.json").write_text(json.dumps({**metrics, "step": 30}))
        assert metric_columns(find_runs(root)) == ["test/psnr", score, "val/psnr", "perf/steps_per_s", "step"]
    run_compare(monkeypatch, str(tmp_path / "volume"))
    lines = (tmp_path / "volume" / "compare.md").read_text().splitlines()
    assert lines[2] == "| run | model.lr | test/psnr | test/iou | val/psnr | perf/steps_per_s | step |"
    assert lines[4] == "| 1 | 1e-2 | 21 | 1.96 | 21 | 3 | 30 |"  # best test/psnr first


def test_montage_captions_carry_label_and_psnr(sweep: Path) -> None:
    runs = find_runs(sweep)
    items = captioned_predictions(runs, run_labels(runs))
    assert [text.splitlines() for text, _ in items][3] == ["encoding=fourier network=siren", "test/psnr 22.25 dB"]


def test_curves_legend_lies_outside_the_axes(sweep: Path) -> None:
    runs = find_runs(sweep)
    fig = curves_figure(runs, run_labels(runs))
    fig.draw_without_rendering()
    ax = fig.axes[0]
    legend = fig.legends[0].get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())
    assert fig.bbox.contains(legend.x0, legend.y0) and fig.bbox.contains(legend.x1, legend.y1)
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "val/psnr (dB)"
    assert [t.get_text().split("  (")[0] for t in fig.legends[0].get_texts()][0] == "encoding=fourier network=siren"


def test_curves_legend_fits_twelve_long_labels(tmp_path: Path) -> None:
    for i in range(12):
        typed = [f"encoding.sigma={i}", f"network.n_neurons={32 * (i + 1)}", f"model.lr=0.000{i + 1}234567"]
        fake_run(tmp_path / str(i), {"encoding": "fourier", "network": "mlp"}, typed, [10.0 + i, 12.0 + i])
    runs = find_runs(tmp_path)
    fig = curves_figure(runs, run_labels(runs))
    fig.draw_without_rendering()
    legend, ax = fig.legends[0].get_window_extent(), fig.axes[0].get_window_extent()
    assert len(fig.legends[0].get_texts()) == 12
    assert not legend.overlaps(ax) and fig.bbox.contains(legend.x1, legend.y0)
    assert ax.height > 0.4 * fig.bbox.height  # the axes still get most of the figure


@pytest.mark.parametrize("data", [[], ["data=synthetic", "cond=film"]], ids=["single", "collection"])
def test_curves_of_a_short_run_have_its_train_psnr(make_cfg, tmp_path: Path, data: list[str]) -> None:
    """30 steps validated once (at the end): the val/psnr curve is one dot; train/psnr, logged every 10 steps
    whatever the loggers (logger=none here), is kept in history.json and drawn beside it."""
    from omegaconf import OmegaConf

    from nfields.run.train import train

    cfg = make_cfg("debug=fast", "logger=none", "log.val_every_n_steps=30", "trainer.log_every_n_steps=5", *data)
    train(cfg)
    (tmp_path / "run" / ".hydra").mkdir()  # what compare.py reads beside history.json (train.py writes it)
    OmegaConf.save(OmegaConf.masked_copy(cfg, ["encoding", "network"]), tmp_path / "run" / ".hydra" / "config.yaml")
    rows = json.loads((tmp_path / "run" / "history.json").read_text())["train"]
    assert [r["step"] for r in rows] == [5, 10, 15, 20, 25, 30] and all(r["train/psnr"] > 0 for r in rows)
    runs = find_runs(tmp_path)
    ax = curves_figure(runs, run_labels(runs)).axes[0]
    (train_line,) = [line for line in ax.lines if line.get_gid() == "train/psnr"]
    assert list(train_line.get_xdata()) == [5, 10, 15, 20, 25, 30]
    assert list(train_line.get_ydata()) == [r["train/psnr"] for r in rows]
    assert [len(line.get_xdata()) for line in ax.lines if line.get_gid() != "train/psnr"] == [1]  # val/psnr
    assert ax.get_ylabel() == "val/psnr, thin: train/psnr (dB)"


def test_curves_fall_back_to_the_csv_logger(sweep: Path) -> None:
    (sweep / "0" / "history.json").unlink()
    runs = find_runs(sweep)
    fig = curves_figure(runs, run_labels(runs))
    assert len(fig.axes[0].lines) == 4


@pytest.mark.slow
def test_compare_a_real_four_run_multirun(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_train(
        ["-m", "encoding=none,fourier", "network=mlp,siren", "debug=fast", "logger=csv", f"hydra.sweep.dir={sweep}"]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = subprocess.run([sys.executable, str(COMPARE), str(sweep)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    table = (sweep / "compare.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| run")]
    assert len(rows) == 4
    assert "| run | encoding | network | test/psnr |" in table  # the options that differ, by override key
    assert {"none", "fourier", "mlp", "siren"} <= set(table.replace("|", " ").split())
    assert iio.imread(sweep / "curves.png").shape[0] > 100
    assert iio.imread(sweep / "montage.png").shape[1] > 4 * 24  # four predictions side by side


def test_compare_rejects_a_folder_without_runs(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(SystemExit) as exc:  # sys.exit(message): the message on stderr, exit status 1, no traceback
        run_compare(monkeypatch, str(tmp_path))
    assert isinstance(exc.value.code, str) and exc.value.code.startswith("error: no nfields runs under ")
