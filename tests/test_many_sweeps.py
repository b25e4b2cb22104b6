"""model=many sweeps of the values a network's forward reads: they are tensors, so members really differ in them,
and a value kept as a Python float is refused instead of being member 0's for every member."""

from __future__ import annotations

import pytest
import torch
from hydra.errors import ConfigCompositionException
from torch import nn

from nfields.core.errors import ConfigError
from nfields.fields.networks.gauss import Gauss
from nfields.fields.networks.wire import Wire
from nfields.fields.stack import FieldStack
from nfields.run.members import check_stacked, sweep_axes


@pytest.mark.parametrize(
    "make",
    [
        lambda v: Gauss(in_dim=2, n_neurons=8, s=v),
        lambda v: Wire(in_dim=2, n_neurons=8, omega_0=v),
        lambda v: Wire(in_dim=2, n_neurons=8, s_0=v),
    ],
)
def test_stacked_members_each_use_their_own_scale(make) -> None:
    torch.manual_seed(0)
    fields = [make(5.0), make(20.0)]
    fields[1].load_state_dict(fields[0].state_dict())  # the same weights: only the swept value differs
    stack = FieldStack(fields)
    check_stacked(stack, fields, "members.sweep.network.s", [5.0, 20.0])  # does not raise
    x = torch.rand(16, 2)
    out = stack(x)  # (2, 16, 3)
    assert torch.allclose(out[1], fields[1](x), atol=1e-5) and not torch.allclose(out[0], out[1])


class FloatScale(nn.Module):
    """A field that keeps its scale as a Python float: stacked, every member would compute with member 0's."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.lin, self.scale, self.out_dim = nn.Linear(2, 3), scale, 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.scale * self.lin(x))


def test_a_value_kept_outside_the_tensors_is_refused_in_one_line() -> None:
    torch.manual_seed(0)
    fields = [FloatScale(1.0), FloatScale(7.0)]
    with pytest.raises(ConfigError, match="member 1 differs when stacked: the field keeps this value outside its"):
        check_stacked(FieldStack(fields), fields, "members.sweep.network.s", [1.0, 7.0])


def test_members_sweep_takes_any_key_as_typed(make_cfg) -> None:
    """members.sweep is an open node (configs/model/many.yaml): any key is typed without `+`, and the members
    judge it in their own words; the rest of the config stays closed to unknown keys."""
    cfg = make_cfg("debug=fast", "model=many", "network=gauss", "members.sweep.network.s=[10,20]")
    assert sweep_axes(cfg) == [("network.s", [10, 20])]
    with pytest.raises(ConfigError, match=r"^members\.sweep\.encoding\.sigmaa=\[1, 2\]: the run has no number"):
        sweep_axes(make_cfg("debug=fast", "model=many", "members.sweep.encoding.sigmaa=[1,2]"))
    with pytest.raises(ConfigCompositionException, match="Could not override 'members.chunks'"):
        make_cfg("debug=fast", "model=many", "members.chunks=2")
