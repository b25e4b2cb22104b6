"""scripts/compare.py: table, curves and montage from a multirun's directories alone."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

from tests.conftest import ROOT, run_train


@pytest.mark.slow
def test_compare_a_four_run_multirun(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_train(
        ["-m", "encoding=none,fourier", "network=mlp,siren", "debug=fast", "logger=none", f"hydra.sweep.dir={sweep}"]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compare.py"), str(sweep)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    table = (sweep / "compare.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| run")]
    assert len(rows) == 4
    assert "| encoding | network |" in table  # the options that differ, by group name
    assert {"none", "fourier", "mlp", "siren"} <= set(table.replace("|", " ").split())
    assert iio.imread(sweep / "curves.png").shape[0] > 100
    montage = iio.imread(sweep / "montage.png")
    assert montage.shape[1] > 4 * 24  # four predictions side by side


def test_compare_rejects_a_folder_without_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compare.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "no nfields runs" in out.stderr and "Traceback" not in out.stderr
