"""SIREN's SDF protocol by hand (scripts/baselines/sdf_reference.py): its objective is nfields' task.loss=siren term
by term, its networks are nfields' network=siren and finer weight for weight, it fits an analytic sphere; and,
when asked (NFIELDS_REPRO=1), the reduced comparison of scripts/sdf_repro.py: nfields within 5 % of the reference
in Chamfer-L1 and 0.01 in IoU on the shared meshes and point cloud.

NFIELDS_SHARED_DATA points at another copy of the data folder (default: ../shared/data beside the checkout)."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

from nfields.core.sdf_mesh import extract_surface
from nfields.run.build import build_field
from nfields.tasks.sdf import SDF
from nfields.tasks.shape import ShapeBatch
from tests.conftest import ROOT

sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts" / "baselines")]
import sdf_reference as ref  # noqa: E402
import sdf_repro  # noqa: E402

# The reduced comparison trains 18 fits on each side (6 cases, 3 seeds; 13 to 40 minutes on the shared 2 cores): a
# reproduction, not a unit test
REPRO = pytest.mark.skipif(os.environ.get("NFIELDS_REPRO") != "1", reason="a reproduction: NFIELDS_REPRO=1 runs it")
R = 0.5  # the test sphere's radius in SIREN's coordinates [-1, 1]


class SphereSDF(nn.Module):
    """The exact signed distance |c| - R of a sphere about the origin, times `scale`."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.scale * (c.norm(dim=-1, keepdim=True) - R)


def sphere_cloud(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points on the sphere (n, 3) and their outward normals (n, 3)."""
    d = np.random.default_rng(seed).normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return R * d, d


def first_batch(n: int = 256, seed: int = 0) -> ref.Batch:
    return next(ref.siren_batches(*sphere_cloud(1000, seed), n, seed))


def test_terms_on_the_true_distance() -> None:
    """On |c| - R the surface, normal and eikonal terms vanish and the off-surface one is SIREN's formula; in cube
    units the same field's gradient is 2 (eikonal 5e1), and a field twice the distance doubles it in paper units."""
    surface, normals, free = first_batch()

    def terms(field: nn.Module, n: torch.Tensor = normals, units: str = "paper") -> dict[str, float]:
        return {k: float(v.detach()) for k, v in ref.sdf_terms(field, surface, n, free, units).items()}

    t = terms(SphereSDF())
    assert t["sdf"] < 1e-3 and t["normal"] < 1e-4 and t["eikonal"] < 1e-3
    inter = torch.exp(-100 * (free.norm(dim=-1) - R).abs()).sum() / (2 * len(free)) * 1e2
    assert t["inter"] == pytest.approx(float(inter), rel=1e-5)
    assert terms(SphereSDF(), units="cube")["eikonal"] == pytest.approx(50, rel=1e-4)
    assert terms(SphereSDF(2.0))["eikonal"] == pytest.approx(50, rel=1e-4)
    flipped = terms(SphereSDF(), -normals)["normal"]  # 1 - cos = 2 on the B surface points, a mean over 2B
    assert flipped == pytest.approx(2 * 1e2 / 2, rel=1e-4)


@pytest.mark.parametrize("net", ["siren", "finer"])
def test_objective_is_nfields_task_sdf(net: str) -> None:
    """The reference's terms in cube units on points c = 2u - 1 equal nfields' SDF('siren') on u, term by term, for
    a random network (gradients included: the same loss trains the same parameters the same way)."""
    torch.manual_seed(0)
    model = ref.build(net, 32, 2, 30.0)
    surface, normals, free = first_batch(128)
    mine = ref.sdf_terms(model, surface, normals, free, "cube")
    batch = ShapeBatch((surface + 1) / 2, normals, (free + 1) / 2, torch.zeros(0, 3))
    theirs = SDF("siren").loss(lambda u: model(2 * u - 1), batch)[1]
    assert set(mine) == set(theirs)
    for k in mine:
        assert float(mine[k].detach()) == pytest.approx(float(theirs[k]), rel=1e-4, abs=1e-6), k
    params = list(model.parameters())
    g_mine = torch.autograd.grad(sum(mine.values()), params)
    g_theirs = torch.autograd.grad(SDF("siren").loss(lambda u: model(2 * u - 1), batch)[0], params)
    for a, b in zip(g_mine, g_theirs, strict=True):  # the double backward: the same step for the same parameters
        assert a.abs().max() > 0 and torch.allclose(a, b, rtol=1e-3, atol=1e-4 * b.abs().max().item())


def test_bacon_objective_is_nfields_task_sdf() -> None:
    """The reference's BACON terms on points c = 2u - 1 equal nfields' SDF('bacon') on u, term by term, with the
    coarse points at even positions and the fine at odd (their weights differ: a swap would show), gradients too."""
    torch.manual_seed(0)
    model = ref.build("finer", 32, 2, 30.0)
    u = torch.rand(64, 3)
    sdf = torch.randn(64) * 0.05
    mine = ref.bacon_terms(model, 2 * u - 1, sdf, 1e-2)
    empty = torch.zeros(0, 3)
    batch = ShapeBatch(empty, empty, empty, u, sdf)
    theirs = SDF("bacon").loss(lambda x: model(2 * x - 1), batch)[1]
    assert set(mine) == set(theirs) == {"sdf_fine", "sdf_coarse"}
    for k in mine:
        assert float(mine[k].detach()) == pytest.approx(float(theirs[k]), rel=1e-5), k
    se = (model(2 * u - 1)[:, 0] - sdf).detach() ** 2
    assert float(mine["sdf_coarse"].detach()) == pytest.approx(1e-2 * float(se[::2].sum()), rel=1e-5)
    params = list(model.parameters())
    g_mine = torch.autograd.grad(sum(mine.values()), params)
    g_theirs = torch.autograd.grad(SDF("bacon").loss(lambda x: model(2 * x - 1), batch)[0], params)
    for a, b in zip(g_mine, g_theirs, strict=True):
        assert a.abs().max() > 0 and torch.allclose(a, b, rtol=1e-4, atol=1e-6 * b.abs().max().item())


@pytest.mark.parametrize("net, w0", [("siren", 30.0), ("finer", 60.0)])
def test_networks_are_nfields_networks(make_cfg, net: str, w0: float) -> None:
    """data=shape network=<net> with the reference's weights gives the reference's values at c = 2u - 1 (FINER's
    scale |x| + 1 held constant on both sides: the same input gradients too), and the same parameter count."""
    cfg = make_cfg("data=shape", f"network={net}", "network.n_neurons=16", "network.n_hidden_layers=3",
                   f"network.w0={w0}", f"network.w0_initial={w0}")  # fmt: skip
    field = build_field(cfg, out_dim=1, in_dim=3)
    torch.manual_seed(0)
    model = ref.build(net, 16, 3, w0)
    assert sum(p.numel() for p in field.parameters()) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        for ours, theirs in zip(field.network.layers, [*model.layers, model.head], strict=True):
            ours.weight.copy_(theirs.weight)
            ours.bias.copy_(theirs.bias)
    u = torch.rand(200, 3, requires_grad=True)
    a, b = field(u), model(2 * u - 1)
    assert torch.allclose(a, b, atol=1e-5)
    (ga,) = torch.autograd.grad(a.sum(), u)
    (gb,) = torch.autograd.grad(b.sum(), u)
    assert torch.allclose(ga, gb, atol=1e-3 * gb.abs().max().item())


def test_reference_init_is_sirens() -> None:
    """first_layer_sine_init U(-1/3, 1/3) on 3 inputs; sine_init U(+-sqrt(6/n)/w0) after, the head too."""
    torch.manual_seed(0)
    model = ref.build("finer", 64, 3, 60.0)
    assert model.layers[0].weight.abs().max() <= 1 / 3
    for lin in [*model.layers[1:], model.head]:
        assert lin.weight.abs().max() <= math.sqrt(6 / 64) / 60


def test_siren_normalisation_and_batches() -> None:
    """dataio.PointCloud: one min and max over all coordinates span [-1, 1] (the aspect kept); each batch B points
    of the cloud with their own normals and B uniform in [-1, 1]^3; the same seed, the same batches."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, (500, 3)) * np.array([4.0, 2.0, 1.0]) + 7.0
    c = ref.siren_normalise(pts)
    assert c.min() == pytest.approx(-1) and c.max() == pytest.approx(1)
    spans = np.ptp(c, axis=0)
    assert spans[0] == pytest.approx(2, abs=1e-9) and spans / spans[0] == pytest.approx(
        np.ptp(pts, 0) / np.ptp(pts, 0)[0]
    )
    normals = c / np.linalg.norm(c, axis=1, keepdims=True)
    s, n, f = next(ref.siren_batches(c, normals, 64, seed=3))
    assert s.shape == n.shape == f.shape == (64, 3)
    assert torch.allclose(n, s / s.norm(dim=-1, keepdim=True), atol=1e-6)  # each point keeps its own normal
    assert f.abs().max() <= 1 and f.min() < -0.5 and f.max() > 0.5
    assert torch.equal(next(ref.siren_batches(c, normals, 64, seed=3))[0], s)


@pytest.mark.parametrize("net", ["siren", "finer"])
def test_reference_fits_a_sphere(one_thread, net: str) -> None:
    """A small network on points of a sphere of radius 0.5: the loss falls threefold and the zero level set, by
    marching cubes, lies within 0.03 of the sphere on average. Omega 15 (2 on the first layer), not 30: a 3 x 32
    network at omega 30 grows stray surfaces away from the sphere in a few hundred steps, as SIREN's fits do early."""
    torch.manual_seed(0)
    model = ref.build(net, 32, 3, 15.0, w0_first=2.0)
    losses = ref.fit(model, ref.siren_batches(*sphere_cloud(2000), 256), 300, lr=3e-4)
    assert losses[-1] < losses[0] / 3, (losses[0], losses[-1])
    fn = ref.sdf_fn(model)
    verts, faces = extract_surface(lambda u: fn(2 * u - 1), 32)
    radius = np.linalg.norm(2 * verts - 1, axis=1)  # (V,) in [-1, 1] coordinates
    assert len(faces) > 100 and np.abs(radius - R).mean() < 0.03 and np.abs(radius - R).max() < 0.1
    assert fn(np.zeros((1, 3)))[0] < 0 < fn(np.full((1, 3), 0.95))[0]  # inside at the centre, outside at a corner


def test_compare_builds_the_protocols_config(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Each case's nfields config: the paper's depth and omegas (the first layer's scaled by --first-omega), Adam at
    a constant 1e-4, the protocol's scale; the reference gets the same config, its init mode and the steps."""
    if not sdf_repro.SHAPES.exists():
        pytest.skip(f"{sdf_repro.SHAPES} is absent")
    seen = []
    fake = {"chamfer_l1": 0.01, "fscore": 0.5, "normal_consistency": 0.9, "steps_per_s": 1.0}
    monkeypatch.setattr(sdf_repro, "run_nfields", lambda cfg: seen.append(cfg) or fake)
    monkeypatch.setattr(
        sdf_repro, "run_reference", lambda cfg, net, seed, steps, init: {**fake, "args": (net, steps, init)}
    )
    rows = sdf_repro.compare(sdf_repro.REDUCED, tmp_path, [3], [0, 2], "own", 0.5)
    kitten, armadillo = (cfg.network for cfg in seen)
    assert (kitten.n_hidden_layers, kitten.w0, kitten.w0_initial) == (4, 30.0, 15.0)
    assert (armadillo._target_.endswith("Finer"), armadillo.n_hidden_layers, armadillo.w0_initial) == (True, 3, 30.0)
    cfg = seen[1]
    assert cfg.model.lr == 1e-4 and cfg.model.scheduler is None and cfg.seed == 3
    assert cfg.data.extent == pytest.approx(sdf_repro.extent(sdf_repro.SHAPES / "armadillo.off", "finer"), abs=1e-6)
    assert cfg.data.extent == pytest.approx(0.9 * sdf_repro.extent(sdf_repro.SHAPES / "armadillo.off", "siren"))
    assert rows[1]["reference"]["args"] == ("finer", 200, "own") and rows[1]["first_omega"] == 0.5
    # each protocol's objective and optimiser: SIREN's loss, unclipped; FINER's, BACON's loss, amsgrad, clipped at 1
    assert (seen[0].task.loss, seen[0].data.near, seen[0].model.grad_clip, seen[0].model.amsgrad) == (
        "siren", 64, None, False)  # fmt: skip
    assert (cfg.task.loss, cfg.data.near, cfg.model.grad_clip, cfg.model.amsgrad) == ("bacon", 100_000, 1, True)


def row(net: str, ours: float, theirs: float, iou: tuple[float, float] | None = None) -> dict:
    side = {"fscore": 0.5, "normal_consistency": 0.9, "steps_per_s": 1.0}
    a, b = {**side, "chamfer_l1": ours}, {**side, "chamfer_l1": theirs}
    if iou is not None:
        a["iou"], b["iou"] = iou
    return {"protocol": "finer", "shape": "x.off", "net": net, "w0": 30.0, "seed": 0, "nfields": a, "reference": b}


def test_verdicts_apply_the_tolerances() -> None:
    """5 % relative in Chamfer-L1 and 0.01 in IoU, means over seeds; FINER >= SIREN read from each side."""
    ok = sdf_repro.verdicts([row("finer", 0.0104, 0.0100, (0.900, 0.905)), row("siren", 0.0200, 0.0210)])
    assert sum("within" in line for line in ok) == 2
    assert "FINER >= SIREN on x.off (nfields): yes" in ok[2] and "(reference): yes" in ok[3]
    far = sdf_repro.verdicts([row("finer", 0.0106, 0.0100), row("siren", 0.0100, 0.0100, (0.90, 0.92))])
    assert [line.endswith("OUTSIDE the tolerance") for line in far[:2]] == [True, True]
    assert "FINER >= SIREN on x.off (nfields): no" in far[2]


@pytest.mark.slow
@REPRO
def test_reduced_comparison_matches_reference(tmp_path) -> None:
    """scripts/sdf_repro.py's reduced mode: every case within the tolerances (means over its seeds)."""
    if not sdf_repro.SHAPES.exists():
        pytest.skip(f"{sdf_repro.SHAPES} is absent")
    rows = sdf_repro.compare(sdf_repro.REDUCED, tmp_path, None, None)
    lines = sdf_repro.verdicts(rows)
    assert not [line for line in lines if "OUTSIDE" in line], lines
