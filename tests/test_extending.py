"""docs/extending.md: its example encoding (one .py + one .yaml) trains through train.py as the page says, and its
example network builds, checks its arguments and stacks for model=many through the real config."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.fields.stack import FieldStack
from nfields.run.build import build_field
from nfields.run.members import check_stacked
from nfields.run.validate import validate_config
from tests.conftest import ROOT
from tests.reliability import expect_error

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


def test_the_example_encoding_checks_its_arguments(
    plugin: Path, make_cfg, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the entry point, in this process: its own check_arg gives the one line, exit 2."""
    monkeypatch.syspath_prepend(str(plugin))
    monkeypatch.delitem(sys.modules, "learned_fourier", raising=False)
    search = f"hydra.searchpath=[file://{plugin / 'configs'}]"
    cfg = make_cfg(search, "encoding=learned_fourier", "debug=fast", "logger=none", "encoding.n_features=0")
    assert expect_error(cfg, capsys) == "Error: encoding.n_features=0: must be an integer >= 1"


@pytest.fixture
def network_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The page's network (sinc.py + sinc.yaml) in a folder of its own, importable as `sinc`."""
    code = doc_block("# nfields/fields/networks/sinc.py")
    yaml = doc_block("# configs/network/sinc.yaml")
    (tmp_path / "sinc.py").write_text(code)
    (tmp_path / "configs" / "network").mkdir(parents=True)
    (tmp_path / "configs" / "network" / "sinc.yaml").write_text(yaml.replace("nfields.fields.networks.sinc.", "sinc."))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sinc", raising=False)
    return tmp_path


def test_the_example_network_builds_checks_and_stacks_from_its_two_files(make_cfg, network_plugin: Path) -> None:
    """Through the real config: the field derives its widths, every parameter gets a gradient, a bad value and a
    typo are one line, and model=many members each compute with their own swept `w` (a 0-d buffer)."""
    search = f"hydra.searchpath=[file://{network_plugin / 'configs'}]"
    cfg = make_cfg(search, "network=sinc", "debug=fast", "logger=none")
    validate_config(cfg)
    field = build_field(cfg, out_dim=3)
    y = field(torch.rand(64, 2))  # (64, 3)
    assert y.shape == (64, 3) and field.network.in_dim == field.encoding.out_dim
    y.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in field.parameters())

    with pytest.raises(ConfigError, match=r"^network\.w=0: must be a number > 0$"):
        build_field(make_cfg(search, "network=sinc", "debug=fast", "network.w=0"), out_dim=3)
    with pytest.raises(ConfigError, match=r"^network\.ww=3: unknown key .* \(did you mean network\.w\?\)$"):
        validate_config(make_cfg(search, "network=sinc", "+network.ww=3"))

    torch.manual_seed(0)
    members = [build_field(make_cfg(search, "network=sinc", "debug=fast", f"network.w={w}"), 3) for w in (2, 20)]
    members[1].load_state_dict(members[0].state_dict())  # the same weights: only the swept w differs
    check_stacked(FieldStack(members), members, "members.sweep.network.w", [2, 20])  # raises if w were a float
    x = torch.rand(32, 2)
    assert not torch.allclose(members[0](x), members[1](x))
