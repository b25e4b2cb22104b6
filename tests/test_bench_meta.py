"""scripts/bench.py --case meta: nfields' batched outer step, the hand loop over signals and the plain-torch ceiling
do the same work (the same loss and gradients on the same batch and weights), and the case prints the rates and
their ratios (timings are not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from scripts.benchcases.meta import bare_loss, hand_loss, nfields_loss, no_ceiling, paths, setup
from tests.conftest import ROOT

TINY = ["data=synthetic", "data.n_images=24", "data.size=8", "data.n_val=4", "data.n_test=4", "encoding.n_features=8"]
TINY += ["data.pixels_per_image=16", "network.n_neurons=16", "network.n_hidden_layers=2", "model.latent_dim=4"]


@pytest.mark.parametrize(("first_order", "scale"), [(False, False), (True, False), (False, True)])
def test_all_paths_compute_the_same_loss_and_gradients(first_order: bool, scale: bool) -> None:
    over = [f"model.first_order={str(first_order).lower()}", f"cond.scale={str(scale).lower()}"]
    module, observed = setup(4, "cpu", [*TINY, *over])
    module = module.double()  # float64 weights; the task's squared errors are float32 on both paths (task.loss)
    observed = replace(observed, values=observed.values.double(), coords=observed.points().double())
    src = module.source
    with torch.no_grad():  # distinct step sizes per entry: a mix-up of entries or of signals would show
        src.step_sizes.copy_(torch.linspace(0.05, 0.5, src.code_dim, dtype=torch.float64))
    names, params = zip(*((k, p) for k, p in module.named_parameters() if p.requires_grad), strict=True)
    ours = nfields_loss(module, observed)
    g_ours = torch.autograd.grad(ours, params, allow_unused=True)
    assert g_ours[names.index("source.step_sizes")].ne(0).all()  # the step sizes learn
    assert no_ceiling(module.field) is None
    for other in (hand_loss, bare_loss):
        theirs = other(module.field, src.alpha(), observed, src.inner_steps, first_order)
        assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-6)  # float32 sums reordered
        g_theirs = torch.autograd.grad(theirs, params, allow_unused=True)
        for k, a, b in zip(names, g_ours, g_theirs, strict=True):
            assert (a is None) == (b is None) and (a is None or torch.allclose(a, b, rtol=1e-4, atol=1e-7)), k


def test_the_timed_steps_train_the_same_weights() -> None:
    """The three timed closures (loss, backward, Adam) start from the same weights and take the same steps."""
    module, observed = setup(3, "cpu", TINY)
    steps = paths(module, observed)
    assert list(steps) == ["hand", "nfields", "ceiling"]
    losses = [[step() for step in steps.values()] for _ in range(3)]
    assert all(a == pytest.approx(b, rel=1e-4) for row in losses for a in row[1:] for b in row[:1]), losses
    assert losses[-1][1] < losses[0][1]  # Adam on the outer loss lowers it


@pytest.mark.parametrize(("over", "why"), [("network=siren", "network=mlp"), ("cond=concat", "cond=film")])
def test_a_field_the_ceiling_is_not_written_for_has_none(over: str, why: str) -> None:
    """Another network, or another conditioning (the case's FiLM keys dropped): the loop and nfields only, which
    still compute the same loss."""
    module, observed = setup(2, "cpu", [*TINY, over])
    assert why in no_ceiling(module.field)
    steps = paths(module, observed)
    assert list(steps) == ["hand", "nfields"]
    hand, ours = steps["hand"](), steps["nfields"]()
    assert ours == pytest.approx(hand, rel=1e-4)


@pytest.mark.slow
def test_bench_meta_case_prints_the_rates_and_their_ratios() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--case", "meta", "--device", "cpu", "--threads", "1"]
        + ["--signals", "4", "--steps", "3", *TINY],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    names = r"hand-written loop over signals|nfields \(batched inner loop\)|ceiling: the batched step in plain torch"
    rows = re.findall(rf"^\| ({names}) \| ([\d.]+) \| ([\d.]+) \|$", out.stdout, re.M)
    assert [r[0].split()[0] for r in rows] == ["hand-written", "nfields", "ceiling:"], out.stdout
    assert all(float(r[1]) > 0 and float(r[2]) == pytest.approx(4 * float(r[1]), rel=0.01) for r in rows)
    for name, i, j in (("nfields / hand-written", 1, 0), ("ceiling / hand-written", 2, 0), ("nfields / ceiling", 1, 2)):
        ratio = re.search(rf"^ratio {name} steps/s: ([\d.]+)", out.stdout, re.M)
        assert ratio and float(ratio.group(1)) == pytest.approx(float(rows[i][1]) / float(rows[j][1]), rel=0.01), name
    assert "second order, k=3 inner steps, 4 signals x 16 points" in out.stdout
