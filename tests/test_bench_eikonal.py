"""scripts/bench.py --case eikonal: both eikonal loops run (after checking they compute the same loss) and the
ratio is printed; --case grid_paths times encoding=grid's two interpolations (timings are not asserted)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_bench_eikonal_runs_both_loops_and_prints_the_ratio(tmp_path) -> None:
    out = subprocess.run(  # from another directory: the script finds its cases and baselines beside it
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--case", "eikonal", "--device", "cpu"]
        + ["--points", "64", "--steps", "4", "--blocks", "2", "network.n_neurons=32"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(r"^\| (hand-written loop|nfields field) \| ([\d.]+) \| (\d+) \|", out.stdout, re.M)
    assert [r[0] for r in rows] == ["hand-written loop", "nfields field"], out.stdout
    assert all(float(r[1]) > 0 for r in rows)
    assert re.search(r"ratio nfields / hand-written steps/s: \d+\.\d+", out.stdout)


@pytest.mark.slow
def test_bench_grid_paths_prints_both_interpolations() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--case", "grid_paths", "--device", "cpu"]
        + ["--points", "4096"],  # enough that each step takes more than the 0.01 ms printed
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(r"^\| ([23]) \| (\d+) \| ([14]) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", out.stdout, re.M)
    assert [(r[0], r[2]) for r in rows] == [("2", "1"), ("2", "4"), ("3", "1"), ("3", "4")], out.stdout
    assert all(float(v) > 0 for r in rows for v in r[3:])
