"""scripts/bench.py --case meta: the vectorised outer step and the hand loop over signals do the same work (the same
loss and gradients on the same batch and weights), and the case prints both rates and their ratio (timings are
not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from scripts.benchcases.meta import hand_loss, nfields_loss, paths, setup
from tests.conftest import ROOT

TINY = ["data=synthetic", "data.n_images=24", "data.size=8", "data.n_val=4", "data.n_test=4", "encoding.n_features=8"]
TINY += ["data.pixels_per_image=16", "network.n_neurons=16", "network.n_hidden_layers=2", "model.latent_dim=4"]


@pytest.mark.parametrize("first_order", [False, True])
def test_both_paths_compute_the_same_loss_and_gradients(first_order: bool) -> None:
    module, observed = setup(4, "cpu", [*TINY, f"model.first_order={str(first_order).lower()}"])
    module = module.double()  # float64 weights; the task's squared errors are float32 on both paths (task.loss)
    observed = replace(observed, values=observed.values.double(), coords=observed.points().double())
    src = module.source
    with torch.no_grad():  # distinct step sizes per entry: a mix-up of entries or of signals would show
        src.step_sizes.copy_(torch.linspace(0.05, 0.5, src.code_dim, dtype=torch.float64))
    ours = nfields_loss(module, observed)
    theirs = hand_loss(module.field, src.alpha(), observed, src.inner_steps, first_order)
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-6)  # float32 sums in another order
    names, params = zip(*((k, p) for k, p in module.named_parameters() if p.requires_grad), strict=True)
    g_ours = torch.autograd.grad(ours, params, allow_unused=True)
    g_theirs = torch.autograd.grad(theirs, params, allow_unused=True)
    for k, a, b in zip(names, g_ours, g_theirs, strict=True):
        assert (a is None) == (b is None) and (a is None or torch.allclose(a, b, rtol=1e-4, atol=1e-7)), k
    assert g_ours[names.index("source.step_sizes")].ne(0).all()  # the step sizes learn on both paths


def test_the_timed_steps_train_the_same_weights() -> None:
    """The two timed closures (loss, backward, Adam) start from the same weights and take the same steps."""
    module, observed = setup(3, "cpu", TINY)
    ours, theirs = paths(module, observed)
    losses = [(ours(), theirs()) for _ in range(3)]
    assert all(a == pytest.approx(b, rel=1e-4) for a, b in losses), losses
    assert losses[-1][0] < losses[0][0]  # Adam on the outer loss lowers it


@pytest.mark.slow
def test_bench_meta_case_prints_both_rates_and_the_ratio() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--case", "meta", "--device", "cpu", "--threads", "1"]
        + ["--signals", "4", "--steps", "3", *TINY],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    names = r"hand-written loop over signals|nfields \(vmapped inner loop\)"
    rows = re.findall(rf"^\| ({names}) \| ([\d.]+) \| ([\d.]+) \|$", out.stdout, re.M)
    assert [r[0] for r in rows] == ["hand-written loop over signals", "nfields (vmapped inner loop)"], out.stdout
    assert all(float(r[1]) > 0 and float(r[2]) == pytest.approx(4 * float(r[1]), rel=0.01) for r in rows)
    ratio = re.search(r"^ratio nfields / hand-written steps/s: ([\d.]+)", out.stdout, re.M)
    assert ratio and float(ratio.group(1)) == pytest.approx(float(rows[1][1]) / float(rows[0][1]), rel=0.01)
    assert "second order, k=3 inner steps, 4 signals x 16 points" in out.stdout
