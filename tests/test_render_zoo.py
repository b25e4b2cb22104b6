"""Every representation renders its own checkpoint at twice the training size with scripts/render.py (from the
checkpoint alone), and metrics.json counts the field's parameters; a config from before the field group
(no `field` node, as older checkpoints store) still builds and renders as field=neural."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch
from omegaconf import open_dict

from nfields.core.errors import CheckpointError
from nfields.fields.field import NeuralField
from nfields.run.build import build_field, load_field
from nfields.run.resume import check_resume_config
from nfields.run.train import train
from tests.test_render import load_script

ZOO = {
    "none+mlp": ["encoding=none"],
    "fourier+mlp": ["encoding=fourier", "encoding.n_features=16"],
    "hashgrid+mlp": ["encoding=hashgrid", "encoding.n_levels=2", "encoding.log2_hashmap_size=8"],
    "grid+mlp": ["encoding=grid", "encoding.resolution=8"],
    "siren": ["network=siren", "network.n_neurons=16", "network.n_hidden_layers=1"],
    "wire": ["network=wire", "network.n_neurons=8", "network.n_hidden_layers=1"],
    "gauss": ["network=gauss", "network.n_neurons=16", "network.n_hidden_layers=1"],
    "finer": ["network=finer", "network.n_neurons=16", "network.n_hidden_layers=1"],
    "grid+linear": ["encoding=grid", "encoding.resolution=8", "network=linear"],
    "gaussians": ["field=gaussians", "field.n_gaussians=64"],
}
FAST = ["debug=fast", "logger=none", "data.size=12", "trainer.max_steps=2", "log.val_every_n_steps=2"]
FAST += ["~callbacks.progress_gif", "~callbacks.panels", "~callbacks.progress_bar"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def render_twice(ckpt: Path, out: Path) -> torch.Tensor:
    load_script("render").main([str(ckpt), "--size", "24", "--device", "cpu", "--out", str(out)])
    return torch.from_numpy(iio.imread(out))


@pytest.mark.parametrize("name", list(ZOO))
def test_every_representation_renders_its_checkpoint_at_twice_the_size(make_cfg, tmp_path: Path, name: str) -> None:
    cfg = make_cfg(*FAST, *ZOO[name])
    train(cfg)
    run = Path(cfg.run_dir)
    ckpt = run / "checkpoints" / "last.ckpt"
    img = render_twice(ckpt, tmp_path / "2x.png")
    assert img.shape == (24, 24, 3) and img.dtype == torch.uint8
    field, shape = load_field(ckpt)
    assert tuple(shape) == (12, 12, 3)
    params = sum(p.numel() for p in field.parameters() if p.requires_grad)
    assert json.loads((run / "metrics.json").read_text())["model/params"] == params > 0


def test_a_config_without_a_field_node_builds_and_renders_as_neural(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(*FAST)
    with open_dict(cfg):
        del cfg["field"]  # what runs from before the field group stored
    assert isinstance(build_field(cfg, out_dim=3), NeuralField)
    train(cfg)
    ckpt = Path(cfg.run_dir) / "checkpoints" / "last.ckpt"
    assert "field" not in torch.load(ckpt, weights_only=True)["nfields_config"]
    assert render_twice(ckpt, tmp_path / "old.png").shape == (24, 24, 3)
    check_resume_config(make_cfg(*FAST, run_dir=tmp_path / "new"), ckpt)  # today's field=neural resumes it
    with pytest.raises(CheckpointError, match="field._target_"):
        check_resume_config(make_cfg(*FAST, "field=gaussians", run_dir=tmp_path / "g"), ckpt)
