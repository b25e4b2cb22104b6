"""scripts/bench.py runs both paths on the same protocol and prints their ratio (timings are not asserted)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_bench_runs_both_paths_and_prints_the_ratio() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--device",
            "cpu",
            "--size",
            "16",
            "--steps",
            "12",
            "network.n_neurons=32",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = re.findall(r"^\| (hand-written loop|nfields train.py) \| ([\d.]+) \|", out.stdout, re.M)
    assert [r[0] for r in rows] == ["hand-written loop", "nfields train.py"]
    assert all(float(r[1]) > 0 for r in rows)
    assert re.search(r"ratio nfields / hand-written steps/s: \d+\.\d+", out.stdout)
