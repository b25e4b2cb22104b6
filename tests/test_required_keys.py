"""A preset's required key (the reproductions' data.path, listed in its `required`) or a value left '???' is
refused in one line before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nfields.core.errors import ConfigError
from nfields.run.validate import validate_config
from tests.reliability import expect_error

PRESETS = ["siren_audio", "siren_video", "occupancy"]


@pytest.mark.parametrize("preset", PRESETS)
def test_a_preset_without_its_file_is_refused_naming_the_key(make_cfg, capsys, monkeypatch, preset: str) -> None:
    import nfields.run.train as train_module

    def no_data(*args, **kwargs):
        raise AssertionError("data loading reached: the generated default would have been fitted")

    monkeypatch.setattr(train_module, "build_datamodule", no_data)
    cfg = make_cfg(f"experiment={preset}", "logger=none")
    assert expect_error(cfg, capsys) == "Error: data.path=null: required: set it on the command line (data.path=...)"


def test_the_same_preset_with_its_file_passes_the_check(make_cfg, tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((4, 4, 4), bool))
    validate_config(make_cfg("experiment=occupancy", f"data.path={tmp_path / 'v.npy'}", "logger=none"))


def test_any_missing_value_is_named_by_its_full_key(make_cfg) -> None:
    cfg = make_cfg("network.n_neurons=???")
    with pytest.raises(ConfigError, match=r"^network\.n_neurons=\?\?\?: required"):
        validate_config(cfg)


def test_the_learnit_patches_preset_needs_both_folders(make_cfg, tmp_path: Path) -> None:
    """experiment=learnit_patches is model=learnit on a SIREN over data=patches; without its two folders it would
    meta-train on generated discs, so each folder is required, and with both the check passes."""
    cfg = make_cfg("experiment=learnit_patches", "logger=none")
    assert cfg.model._target_.endswith("LearnitModule") and cfg.network._target_.endswith("Siren")
    with pytest.raises(ConfigError, match=r"^data\.train_path=null: required"):
        validate_config(cfg)
    train, test = tmp_path / "train", tmp_path / "test"
    with pytest.raises(ConfigError, match=r"^data\.test_path=null: required"):
        validate_config(make_cfg("experiment=learnit_patches", f"data.train_path={train}", "logger=none"))
    for d in (train, test):
        d.mkdir()
    validate_config(
        make_cfg("experiment=learnit_patches", f"data.train_path={train}", f"data.test_path={test}", "logger=none")
    )
