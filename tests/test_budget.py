"""budget.params: each representation's own size key is derived so the field has at most that many parameters."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from nfields.core.errors import ConfigError
from nfields.run.budget import count_params, sized
from nfields.run.build import build_field
from nfields.run.train import train


@pytest.mark.parametrize(
    "over, key",
    [
        ([], "network.n_neurons"),
        (["network=siren", "encoding=none"], "network.n_neurons"),
        (["encoding=grid", "network=linear"], "encoding.resolution"),
        (["encoding=hashgrid"], "encoding.log2_hashmap_size"),
        (["encoding=grid", "budget.key=network.n_neurons"], "network.n_neurons"),
    ],
)
def test_the_largest_size_within_the_budget_is_chosen(make_cfg, over: list[str], key: str) -> None:
    cfg = make_cfg("debug=fast", "budget.params=30000", *over)
    out = sized(cfg, 3, build_field)
    v = OmegaConf.select(out, key)
    assert count_params(out, 3, build_field, True) <= 30000
    OmegaConf.update(out, key, v + 1)
    assert count_params(out, 3, build_field, True) > 30000  # one more does not fit
    assert OmegaConf.select(cfg, key) != v or key == "encoding.log2_hashmap_size"  # the input is not modified


@pytest.mark.parametrize("d", [1, 2, 3])
def test_a_grid_is_sized_by_its_vertices_in_its_own_dimension(make_cfg, d: int) -> None:
    """A grid of resolution r holds r^d vertices x 4 features (+ the linear head's 4 x 3 + 3): the largest r whose
    count fits, in 1-D (audio), 2-D (images) and 3-D (video, volumes)."""
    cfg = make_cfg("debug=fast", "budget.params=30000", "encoding=grid", "network=linear")
    r = OmegaConf.select(sized(cfg, 3, partial(build_field, in_dim=d)), "encoding.resolution")
    assert 4 * r**d + 15 <= 30000 < 4 * (r + 1) ** d + 15


def test_no_budget_leaves_the_config_alone_and_a_small_one_is_refused(make_cfg) -> None:
    cfg = make_cfg("debug=fast")
    assert sized(cfg, 3, build_field) is cfg
    with pytest.raises(ConfigError, match=r"budget.params=20: is below the smallest field \(network.n_neurons=1: 521"):
        sized(make_cfg("debug=fast", "budget.params=20"), 3, build_field)
    with pytest.raises(ConfigError, match="budget.key=data.image: must name an integer key"):
        sized(make_cfg("debug=fast", "budget.params=2000", "budget.key=data.image"), 3, build_field)


def test_a_budgeted_run_stores_the_derived_size_with_its_weights(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("debug=fast", "budget.params=12000", "logger=none", "trainer.max_steps=2"))
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    width = ckpt["nfields_config"]["network"]["n_neurons"]
    n = sum(v.numel() for k, v in ckpt["state_dict"].items() if k.startswith("field.network"))
    assert width != 32 and n <= 12000


def test_a_complex_entry_counts_as_two_real_numbers(make_cfg) -> None:
    """WIRE's complex weights: the budget and model/params count what is stored (two reals per entry)."""
    cfg = sized(make_cfg("debug=fast", "budget.params=12000", "network=wire", "encoding=none"), 3, build_field)
    field = build_field(cfg, out_dim=3, own_code=True)
    reals = sum(torch.view_as_real(p).numel() if p.is_complex() else p.numel() for p in field.parameters())
    assert any(p.is_complex() for p in field.parameters())
    assert count_params(cfg, 3, build_field, True) == reals <= 12000
    assert reals > 12000 * 0.9  # the budget is filled, not halved
