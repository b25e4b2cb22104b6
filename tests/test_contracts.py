"""Every option of the encoding, network, task and field groups, found in configs/<group>/*.yaml, keeps its
group's contract (tests/contracts.py): shapes and out_dim, gradients, fp32 phases under autocast where the
encoding computes in fp32, one ConfigError line per bad argument, a task's split and forward model."""

from __future__ import annotations

import pytest

from tests.contracts import CHECKS, options, overrides, own_keys

CASES = [(group, name) for group in CHECKS for name in options(group)]


def test_every_group_has_options_to_check() -> None:
    for group in CHECKS:
        assert len(options(group)) >= 2, group  # the discovery reads configs/<group>/, not an empty folder


@pytest.mark.parametrize("group, name", CASES, ids=[f"{g}={n}" for g, n in CASES])
def test_option_keeps_its_groups_contract(make_cfg, one_thread, group: str, name: str) -> None:
    CHECKS[group](make_cfg(*overrides(group, name)), own_keys(group, name))
