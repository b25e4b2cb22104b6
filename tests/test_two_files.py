"""One option = one .py + one .yaml, and nothing else: a throwaway encoding, network and task, each written into
a temporary folder (the module on sys.path, the YAML in a config dir on Hydra's search path, as docs/extending.md
says for options kept outside the repository), pass their group's contract checks (tests/contracts.py), train
together with debug=fast, and their checkpoint renders with scripts/render.py once their config dir is named;
a target no config defines is still refused."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from nfields.core.errors import CheckpointError
from tests.conftest import ROOT
from tests.contracts import CHECKS, options, overrides, own_keys
from tests.reliability import entry_point

NAME = "throwaway"
FILES = {
    "throwaway_encoding.py": '''
"""encoding=throwaway: sin(2 pi x B^T + phase), a fixed random B and a learned phase per feature."""
import math

import torch
from torch import nn

from nfields.core.checks import POSITIVE, POSITIVE_INT, check_arg, integer
from nfields.fields.encodings.base import Encoding


class Waves(Encoding):
    def __init__(self, n_features: int = 16, sigma: float = 3.0, in_dim: int = 2, seed: int = 0) -> None:
        check_arg("encoding.n_features", n_features, POSITIVE_INT)
        check_arg("encoding.sigma", sigma, POSITIVE)
        check_arg("encoding.seed", seed, integer(lo=0))
        super().__init__(in_dim=in_dim)
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.randn(n_features, in_dim, generator=gen) * sigma)  # (n_features, in_dim)
        self.phase = nn.Parameter(torch.zeros(n_features))  # (n_features,)

    @property
    def out_dim(self) -> int:
        return self.B.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        with torch.autocast(device_type=x.device.type, enabled=False):  # phases in fp32
            return torch.sin(2 * math.pi * x.float() @ self.B.t() + self.phase)  # (..., n_features)
''',
    "throwaway_network.py": '''
"""network=throwaway: softplus(beta h) / beta activations, nn.Linear's init."""
from typing import Any

import torch
from torch.nn import functional as F

from nfields.core.checks import POSITIVE, check_arg
from nfields.fields.networks.base import Activation, FieldNetwork


class Softplus(Activation):
    def __init__(self, beta: float) -> None:
        check_arg("network.beta", beta, POSITIVE)
        super().__init__()
        self.register_scalars(beta=beta)  # a tensor, so model=many members may differ in it

    def forward(self, h: torch.Tensor, i: int) -> torch.Tensor:
        return F.softplus(self.beta * h) / self.beta


class SoftplusNetwork(FieldNetwork):
    def __init__(self, *args: Any, beta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(Softplus(beta), *args, **kwargs)
''',
    "throwaway_task.py": '''
"""task=throwaway: observe the pixels of one colour of a checkerboard; score the others, split in two."""
import torch

from nfields.core.checks import check_arg, one_of
from nfields.tasks.base import Observation, Task, split_mask


class Checkerboard(Task):
    name = "throwaway"

    def __init__(self, parity: int = 0, seed: int = 0) -> None:
        check_arg("task.parity", parity, one_of(0, 1))
        super().__init__(seed)
        self.parity = parity

    def observe(self, image: torch.Tensor, key: int = 0) -> Observation:
        h, w, c = image.shape
        i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        seen = (i + j) % 2 == self.parity  # (h, w)
        val, test = split_mask(~seen, self.generator(key))
        display = torch.where(seen[..., None], image, torch.zeros_like(image))
        return Observation(image[seen], train_mask=seen, display=display, eval_mask=test, val_mask=val)
''',
    "configs/encoding/throwaway.yaml": """
_target_: throwaway_encoding.Waves
n_features: 32
sigma: 3.0
seed: ${seed}
""",
    "configs/network/throwaway.yaml": """
_target_: throwaway_network.SoftplusNetwork
_partial_: true
n_neurons: 64
n_hidden_layers: 2
output_activation: sigmoid
beta: 5.0
""",
    "configs/task/throwaway.yaml": """
_target_: throwaway_task.Checkerboard
parity: 0
seed: ${seed}
""",
}
MODULES = [f[: -len(".py")] for f in FILES if f.endswith(".py")]


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The three options' six files in a folder of their own; -> its config dir."""
    root = tmp_path / "my_fields"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.lstrip())
    monkeypatch.syspath_prepend(str(root))
    yield root / "configs"
    for module in MODULES:  # another test's folder must import its own copy
        sys.modules.pop(module, None)


@pytest.mark.parametrize("group", ["encoding", "network", "task"])
def test_a_throwaway_option_keeps_its_groups_contract(make_cfg, plugin: Path, group: str) -> None:
    assert NAME in options(group, plugin) and NAME not in options(group)
    CHECKS[group](make_cfg(*overrides(group, NAME, plugin)), own_keys(group, NAME, plugin))


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_throwaway_options_train_together_and_their_checkpoint_renders(make_cfg, plugin: Path, tmp_path) -> None:
    run = tmp_path / "run"
    groups = [f"{group}={NAME}" for group in ("encoding", "network", "task")]
    search = f"hydra.searchpath=[file://{plugin}]"
    cfg = make_cfg(search, "debug=fast", "logger=none", "~callbacks.progress_gif", *groups, run_dir=run)
    entry_point(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 30 and metrics["val/psnr"] > 0 and metrics["test/psnr"] > 0, metrics
    ckpt = run / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert not torch.equal(state["field.encoding.phase"], torch.zeros(32))  # the encoding's parameter trained

    render = load_script("render")
    with pytest.raises(CheckpointError, match=r"encoding\._target_=throwaway_encoding\.Waves .*--searchpath"):
        render.main([str(ckpt), "--size", "16", "--device", "cpu"])  # its config dir not named: not trusted
    out = render.main([str(ckpt), "--size", "16", "--device", "cpu", "--searchpath", f"file://{plugin}"])
    assert iio.imread(out).shape == (16, 16, 3)

    # A target in the user's module that no config defines is still refused, with their config dir named
    planted = torch.load(ckpt, map_location="cpu", weights_only=True)
    planted["nfields_config"]["network"]["_target_"] = "throwaway_task.Checkerboard"
    bad = tmp_path / "planted.ckpt"
    torch.save(planted, bad)
    with pytest.raises(CheckpointError, match=r"network\._target_=throwaway_task\.Checkerboard is not a target"):
        render.main([str(bad), "--size", "16", "--device", "cpu", "--searchpath", f"file://{plugin}"])
