"""A checkpoint's stored config builds only the targets nfields' configs define (nfields/run/trusted.py).

Planted checkpoints (a real one whose nfields_config was edited) are refused in one line naming the
checkpoint, the key and the target, before anything is imported, built or written: the planted file
keeps its content and no file appears anywhere. A genuine checkpoint still renders.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from nfields.core.errors import CheckpointError, ConfigError, UserError
from nfields.run.build import load_checkpoint, load_field
from nfields.run.compose import compose_run_config
from nfields.run.exits import report_errors
from nfields.run.resume import check_resume_config
from nfields.run.train import train
from nfields.run.trusted import FIELD_KEYS, check_stored_config
from tests.conftest import ROOT

CONTENT = "precious\n"
Edit = Callable[[dict[str, Any], Path], None]


def opener(victim: Path) -> dict[str, Any]:
    return {"_target_": "builtins.open", "file": str(victim), "mode": "w"}


def set_key(dotted: str, value: Callable[[Path], Any]) -> Edit:
    def edit(config: dict[str, Any], victim: Path) -> None:
        *parents, last = dotted.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[last] = value(victim)

    return edit


# name: (edit, the key path the error names, the target it names, refused by load_field too)
PLANTS: dict[str, tuple[Edit, str, str, bool]] = {
    "open_as_encoding": (set_key("encoding", opener), "encoding._target_", "builtins.open", True),
    "os_system_as_network": (
        set_key("network", lambda v: {"_target_": "os.system", "_args_": [f"echo pwned > {v}"]}),
        "network._target_",
        "os.system",
        True,
    ),
    "open_in_args_list": (
        set_key("encoding._args_", lambda v: [opener(v)]),
        "encoding._args_[0]._target_",
        "builtins.open",
        True,
    ),
    "open_nested_in_optimizer": (
        set_key("model.optimizer.betas", opener),
        "model.optimizer.betas._target_",
        "builtins.open",
        False,  # load_field builds no optimiser
    ),
    "allowed_target_in_another_slot": (
        set_key("encoding", lambda v: {"_target_": "pytorch_lightning.Trainer", "default_root_dir": str(v.parent)}),
        "encoding._target_",
        "pytorch_lightning.Trainer",
        True,
    ),
    "open_as_field": (set_key("field", opener), "field._target_", "builtins.open", True),
    "encoding_class_as_field": (
        set_key("field", lambda v: {"_target_": "nfields.fields.encodings.fourier.GaussianFourier"}),
        "field._target_",
        "nfields.fields.encodings.fourier.GaussianFourier",
        True,
    ),
    "module_imported_by_name": (
        set_key("encoding._target_", lambda v: "planted_module.Thing"),
        "encoding._target_",
        "planted_module.Thing",
        True,
    ),
    "interpolation": (
        set_key("encoding.sigma", lambda v: "${oc.env:HOME}"),
        "encoding.sigma",
        "${oc.env:HOME}",
        True,
    ),
}


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("genuine") / "run"
    cfg = compose_run_config(["debug=fast", "logger=none", "trainer.max_steps=5", "~callbacks.progress_gif"], run)
    try:
        train(cfg)
    finally:
        GlobalHydra.instance().clear()
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture
def victim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file with content, and a module whose import would write next to it (it must never be imported)."""
    path = tmp_path / "victim.txt"
    path.write_text(CONTENT)
    (tmp_path / "planted_module.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w')\nThing = dict\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return path


def plant(genuine: Path, tmp_path: Path, edit: Edit, victim: Path) -> Path:
    ckpt = torch.load(genuine, map_location="cpu", weights_only=True)
    edit(ckpt["nfields_config"], victim)
    out = tmp_path / "planted" / "checkpoints" / "last.ckpt"
    out.parent.mkdir(parents=True)
    torch.save(ckpt, out)
    return out


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_a_planted_target_is_refused_before_anything_runs(genuine: Path, victim: Path, name: str) -> None:
    edit, key, target, field_refuses = PLANTS[name]
    ckpt = plant(genuine, victim.parent, edit, victim)
    before = files(victim.parent)
    loaders = [load_field, load_checkpoint] if field_refuses else [load_checkpoint]
    for load in loaders:
        with pytest.raises(CheckpointError) as e:
            load(ckpt)
        message = str(e.value)
        assert "\n" not in message and str(ckpt) in message and key in message and target in message, message
    if not field_refuses:
        load_field(ckpt)  # the planted subtree is one load_field never builds
    assert victim.read_text() == CONTENT
    assert files(victim.parent) == before  # nothing written, planted_module never imported
    assert not (victim.parent / "imported").exists()


def test_resume_compares_a_planted_config_without_building_it(genuine: Path, victim: Path) -> None:
    ckpt = plant(genuine, victim.parent, set_key("encoding", opener), victim)
    cfg = compose_run_config(["debug=fast", "logger=none"], victim.parent / "resumed")
    try:
        with pytest.raises(CheckpointError, match="encoding"):
            check_resume_config(cfg, ckpt)  # the saved encoding differs from this run's: named, never built
    finally:
        GlobalHydra.instance().clear()
    assert victim.read_text() == CONTENT


def test_an_allowed_target_with_an_unexpected_key_passes_the_allowlist(genuine: Path, victim: Path) -> None:
    ckpt = plant(genuine, victim.parent, set_key("encoding.colour", lambda v: "blue"), victim)
    with pytest.raises(UserError) as e:  # the constructor's own complaint, in one line
        load_field(ckpt)
    assert "\n" not in str(e.value) and "colour" in str(e.value) and "not a target" not in str(e.value)


def test_a_run_s_own_callback_target_does_not_stop_it_rendering(genuine: Path, victim: Path) -> None:
    """Callbacks, loggers and the trainer are never built from a checkpoint, so their targets are not judged."""
    cb = {"_target_": "pytorch_lightning.callbacks.LearningRateMonitor"}
    ckpt = plant(genuine, victim.parent, set_key("callbacks.lr_monitor", lambda v: cb), victim)
    field, shape = load_field(ckpt)
    assert tuple(shape) == (24, 24, 3)


def render(ckpt: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render.py"), str(ckpt), "--size", "16", "--device", "cpu"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def render_script():
    spec = importlib.util.spec_from_file_location("render", ROOT / "scripts" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["open_as_encoding", "os_system_as_network", "open_in_args_list"])
def test_render_script_refuses_a_planted_checkpoint_in_one_line(
    genuine: Path, victim: Path, capsys: pytest.CaptureFixture, name: str
) -> None:
    """What `python scripts/render.py <ckpt>` runs (report_errors(main)), called in this process."""
    edit, key, target, _ = PLANTS[name]
    ckpt = plant(genuine, victim.parent, edit, victim)
    before = files(victim.parent)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        report_errors(render_script().main, [str(ckpt), "--size", "16", "--device", "cpu"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2
    assert len(lines) == 1 and lines[0].startswith("Error: ") and key in lines[0] and target in lines[0], lines
    assert victim.read_text() == CONTENT
    assert files(victim.parent) == before  # no render_*.png in the run dir either


def test_a_config_dir_of_ones_own_allows_its_targets_only(genuine: Path, victim: Path, tmp_path: Path) -> None:
    """--searchpath / searchpath=: the targets a user's config dir defines are allowed, for their group only."""
    ckpt = plant(genuine, victim.parent, set_key("encoding._target_", lambda v: "planted_module.Thing"), victim)
    mine = tmp_path / "mine"
    (mine / "encoding").mkdir(parents=True)
    (mine / "encoding" / "thing.yaml").write_text("_target_: planted_module.Thing\n")
    with pytest.raises(CheckpointError, match="not a target"):
        check_stored_config(torch.load(ckpt, weights_only=True)["nfields_config"], "ckpt", FIELD_KEYS)
    config = torch.load(ckpt, weights_only=True)["nfields_config"]
    for entry in (f"file://{mine}", str(mine), f"[file://{mine}]", "pkg://mine"):  # tmp_path is on sys.path
        assert check_stored_config(config, "ckpt", FIELD_KEYS, [entry]) is config
    config["network"] = {"_target_": "planted_module.Thing"}  # defined for encoding, not for network
    with pytest.raises(CheckpointError, match=r"network\._target_=planted_module\.Thing is not a target"):
        check_stored_config(config, "ckpt", FIELD_KEYS, [f"file://{mine}"])
    with pytest.raises(ConfigError, match=r"^searchpath=file://.*/none: is not a folder of configs"):
        check_stored_config(config, "ckpt", FIELD_KEYS, [f"file://{tmp_path / 'none'}"])
    assert not (victim.parent / "imported").exists()  # judged from the YAML: planted_module never imported


def test_render_script_still_renders_a_genuine_checkpoint(genuine: Path, tmp_path: Path) -> None:
    out = render(genuine, tmp_path)
    assert out.returncode == 0, out.stderr
    assert (genuine.parent.parent / "render_16x16.png").is_file()
    assert list(tmp_path.iterdir()) == []  # nothing written outside the run dir
