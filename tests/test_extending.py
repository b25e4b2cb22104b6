"""docs/extending.md: its example encoding (one .py + one .yaml) trains through train.py as the page says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT

DOC = ROOT / "docs" / "extending.md"


def doc_block(first_line: str) -> str:
    """The fenced code block of docs/extending.md whose first line is `first_line`."""
    for block in re.findall(r"```(?:python|yaml)\n(.*?)```", DOC.read_text(), flags=re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"docs/extending.md has no code block starting {first_line!r}")


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    """The page's two files in a folder of their own: the module on PYTHONPATH, the YAML on Hydra's search path.
    Out of the repository its _target_ names the user's module (as the page says), not nfields.fields...."""
    code = doc_block("# nfields/fields/encodings/learned_fourier.py")
    yaml = doc_block("# configs/encoding/learned_fourier.yaml")
    assert "nfields.fields.encodings.learned_fourier.LearnedFourier" in yaml
    (tmp_path / "learned_fourier.py").write_text(code)
    (tmp_path / "configs" / "encoding").mkdir(parents=True)
    (tmp_path / "configs" / "encoding" / "learned_fourier.yaml").write_text(
        yaml.replace("nfields.fields.encodings.learned_fourier.", "learned_fourier.")
    )
    return tmp_path


def train(plugin: Path, run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "train.py"), f"hydra.searchpath=[file://{plugin / 'configs'}]"]
    cmd += ["encoding=learned_fourier", "debug=fast", "logger=none", f"hydra.run.dir={run_dir}", *args]
    env = {"PYTHONPATH": str(plugin), "PATH": "/usr/bin:/bin", "HOME": str(plugin)}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_the_example_encoding_trains_from_its_two_files(plugin: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = train(plugin, run, "trainer.max_steps=60", "log.val_every_n_steps=30")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/psnr"] > 15, metrics  # untrained sigmoid output: ~11 dB on astronaut
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    B = ckpt["state_dict"]["field.encoding.B"]  # (n_features, 2): trained, so not the seeded draw any more
    start = torch.randn(128, 2, generator=torch.Generator().manual_seed(0)) * 10.0
    assert B.shape == (128, 2) and not torch.allclose(B, start)
    first = ckpt["state_dict"]["field.network.hidden.0.weight"]
    assert first.shape[1] == 256  # the network's in_dim was read from encoding.out_dim = 2 * n_features


def test_the_example_encoding_checks_its_arguments(plugin: Path, tmp_path: Path) -> None:
    proc = train(plugin, tmp_path / "bad", "encoding.n_features=0")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == ["Error: encoding.n_features=0: must be an integer >= 1"]
