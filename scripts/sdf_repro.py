"""SIREN's and FINER's signed distance protocols: nfields (data=shape task=sdf, trained by train() as `python
train.py` runs it) against the hand-written reference (scripts/baselines/sdf_reference.py) with the same settings,
on the same points at every step, both scored by nfields' metric code. Writes <out>/sdf_repro.md and .json.

    python scripts/sdf_repro.py                                  # the reduced CPU mode (REDUCED below)
    python scripts/sdf_repro.py --full --out sdf_repro_full      # the papers' sizes and steps (a GPU: hours)

Cases (CASES): SIREN's protocol (4 sine layers x 256, omega 30) on kitten.xyz and on points sampled from
bunny00.off; FINER's settings (3 layers x 256, FINER omega 60 beside SIREN omega 30) on armadillo.off and
bunny00.off. SIREN's protocol with SIREN's objective (task.loss=siren), Adam at a constant 1e-4, `batch` surface
points and as many uniform ones a step; FINER's with the objective FINER's code trains, BACON's (task.loss=bacon:
`batch` points a step, pairs of a coarse and a fine Laplace offset, drawn from a pool of `pool` of them with
their estimated distances, where FINER draws fresh ones every step), Adam with amsgrad at a constant 1e-4, the
gradient's norm clipped at 1 (model.amsgrad, model.grad_clip), as FINER's training.py.

Same settings: the shape is normalised by nfields (its bounding box at the cube's centre) to the protocol's scale
(`extent`: SIREN's dataio.PointCloud fills [-1, 1] by one min and max over all coordinates; BACON's MeshSDF 0.9 of
its cube); the reference is given nfields' batches (ShapeModule.sample from a generator seeded as train() seeds
it), takes the gradient in nfields' cube units, clips as nfields is told to (SIREN's cases: no clipping, where
SIREN's code clips at norm 1; FINER's: at 1), and starts from the weights nfields' run starts from (`--init own`:
its own draw for the seed): the two sides differ only by their code. SIREN's cases: data.near=64, as SIREN's
objective reads no near-surface points but model=shape draws from a pool of them every step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts" / "baselines")]
import sdf_reference as ref  # noqa: E402

from nfields.core.geometry import face_areas_normals, sample_surface  # noqa: E402
from nfields.core.sdf_mesh import extract_surface  # noqa: E402
from nfields.core.shape_metrics import iou, surface_scores  # noqa: E402
from nfields.data.shape import ShapeDataModule  # noqa: E402
from nfields.data.shape_io import read_mesh, read_xyz  # noqa: E402
from nfields.run.build import build_datamodule, build_module  # noqa: E402
from nfields.run.compose import compose_run_config  # noqa: E402
from nfields.run.train import train  # noqa: E402

# NFIELDS_SHARED_DATA: the shared data folder (default ../shared/data beside the checkout), as the tests read it
SHAPES = Path(os.environ.get("NFIELDS_SHARED_DATA", ROOT.parent / "shared" / "data")) / "shapes"
CHAMFER_TOL, IOU_TOL = 0.05, 0.01  # relative Chamfer-L1, absolute IoU: nfields against the reference


@dataclass(frozen=True)
class Case:
    protocol: str  # siren | finer
    shape: str  # a file in SHAPES
    net: str  # siren | finer
    w0: float
    layers: int  # sine layers (nfields' network.n_hidden_layers)


CASES = (
    Case("siren", "kitten.xyz", "siren", 30.0, 4),
    Case("siren", "bunny00.off", "siren", 30.0, 4),
    Case("finer", "armadillo.off", "finer", 60.0, 3),
    Case("finer", "armadillo.off", "siren", 30.0, 3),
    Case("finer", "bunny00.off", "finer", 60.0, 3),
    Case("finer", "bunny00.off", "siren", 30.0, 3),
)
FULL = {"width": 256, "steps": {"siren": 10_000, "finer": 200_000}, "batch": {"siren": 250_000, "finer": 10_000},
        "pool": 1_000_000, "size": 64, "seeds": (0,)}  # fmt: skip
REDUCED = {"width": 64, "steps": {"siren": 200, "finer": 200}, "batch": {"siren": 512, "finer": 512},
           "pool": 100_000, "size": 32, "seeds": (0, 1, 2)}  # fmt: skip
# each protocol's objective and optimiser options (model.grad_clip, model.amsgrad); the reference is told the same
OBJECTIVE = {
    "siren": ["task.loss=siren", "data.near=64"],
    "finer": ["task.loss=bacon", "model.grad_clip=1", "model.amsgrad=true"],
}


def extent(path: Path, protocol: str) -> float:
    """data.extent giving the protocol's scale: the longest side over the range of one min and max over all
    coordinates of the mean-centred points (dataio.PointCloud, MeshSDF.normalize), x 0.9 for BACON's MeshSDF."""
    p = read_xyz(path)[0] if path.suffix == ".xyz" else read_mesh(path)[0]
    p = p - p.mean(0)
    return float(np.ptp(p, axis=0).max() / (p.max() - p.min())) * (0.9 if protocol == "finer" else 1.0)


def overrides(case: Case, mode: dict, seed: int, first: float = 1.0) -> list[str]:
    """The nfields run's config; `first` scales the first layer's omega (network.w0_initial = first x w0)."""
    path = SHAPES / case.shape
    steps = mode["steps"][case.protocol]
    pool = [f"data.near={mode['pool']}"] if case.protocol == "finer" else []  # BACON's pairs of points
    return [
        "data=shape", f"data.path={path}", f"data.extent={extent(path, case.protocol):.6f}", *OBJECTIVE[case.protocol],
        *pool,
        f"data.size={mode['size']}", f"data.batch_size={mode['batch'][case.protocol]}", f"network={case.net}",
        f"network.n_neurons={mode['width']}", f"network.n_hidden_layers={case.layers}",
        f"network.w0={case.w0}", f"network.w0_initial={first * case.w0}", "model.lr=1e-4", "model.scheduler=null",
        f"trainer.max_steps={steps}", f"log.val_every_n_steps={steps}", f"log.gif_every_n_steps={steps}",
        "model.views=1", "model.view_size=16", "logger=none", f"seed={seed}",
    ]  # fmt: skip


def score(fn, data: ShapeDataModule) -> dict[str, float]:
    """ShapeModule.evaluate's scores of a field fn (points in the cube -> values): the zero level at data.size^3,
    data.eval_points samples of it against the truth's, and the IoU of the cells' insides."""
    n = data.size
    inside = np.zeros((n, n, n), bool) if data.gt_inside is not None else None
    verts, faces = extract_surface(fn, n, slab=8, inside=inside)
    pts, normals = np.zeros((0, 3)), np.zeros((0, 3))
    if len(faces) and face_areas_normals(verts.astype(np.float64), faces)[0].sum() > 0:
        pts, normals = sample_surface(verts.astype(np.float64), faces, len(data.gt_points), np.random.default_rng(0))
    metrics = surface_scores(pts, normals, data.gt_points, data.gt_normals, data.shape.longest_side())
    if inside is not None:
        metrics["iou"] = iou(inside, data.gt_inside)
    return metrics


def run_reference(cfg, net_kind: str, seed: int, steps: int, init: str = "nfields") -> dict[str, float]:
    """The reference on nfields' batches for this config (points c = 2u - 1), scored on nfields' ground truth.
    init "nfields": it starts from the weights nfields' run starts from (built after the same seed_everything as
    train()), so the two differ only by their code; "own": from its own draw for the seed."""
    pl.seed_everything(seed, workers=True, verbose=False)  # what train() does before it builds
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)  # its field: nfields' initial weights; its sample(): nfields' pools and draws
    g = torch.Generator().manual_seed(seed)  # as ShapeModule.on_fit_start seeds it after seed_everything(seed)

    bacon = cfg.task.loss == "bacon"

    def batches():
        while True:
            b = module.sample(g)
            yield (2 * b.near - 1, b.near_sdf) if bacon else (2 * b.surface - 1, b.normals, 2 * b.free - 1)

    net_cfg = cfg.network
    torch.manual_seed(seed)
    net = ref.build(net_kind, net_cfg.n_neurons, net_cfg.n_hidden_layers, net_cfg.w0, net_cfg.w0_initial)
    if init == "nfields":
        with torch.no_grad():  # nfields' hidden layers and head, in order, are the reference's
            for ours, theirs in zip(module.field.network.layers, [*net.layers, net.head], strict=True):
                theirs.weight.copy_(ours.weight)
                theirs.bias.copy_(ours.bias)
    t = time.perf_counter()
    device = ref.pick_device(None)  # CUDA when there is one, as nfields' trainer.accelerator=auto
    clip = None if cfg.model.grad_clip is None else float(cfg.model.grad_clip)
    losses = ref.fit(net, batches(), steps, float(cfg.model.lr), clip, bool(cfg.model.amsgrad), "cube", device,
                     str(cfg.task.loss), float(cfg.task.coarse_weight))  # fmt: skip
    seconds = time.perf_counter() - t
    fn = ref.sdf_fn(net)
    metrics = score(lambda u: fn(2 * u - 1), dm)
    return {**metrics, "loss_first": losses[0], "loss": losses[-1], "steps_per_s": steps / seconds}


def run_nfields(cfg) -> dict[str, float]:
    train(cfg)
    m = json.loads((Path(cfg.run_dir) / "metrics.json").read_text())
    keys = ("chamfer_l1", "chamfer_l2", "fscore", "normal_consistency", "iou")
    return {**{k: m[f"test/{k}"] for k in keys if f"test/{k}" in m}, "steps_per_s": m.get("perf/steps_per_s")}


def table(rows: list[dict]) -> str:
    head = "| protocol | shape | network | seed | side | Chamfer-L1 | IoU | F-score | normal cons. | steps/s |"
    out = [head, "|" + "---|" * 10]
    for r in rows:
        for side in ("nfields", "reference"):
            m = r[side]
            iou_cell = f"{m['iou']:.4f}" if "iou" in m else "n/a"  # a point cloud has no inside
            w0 = f"{r['w0']:g}" if r.get("first_omega", 1.0) == 1.0 else f"{r['first_omega'] * r['w0']:g}/{r['w0']:g}"
            out.append(f"| {r['protocol']} | {r['shape']} | {r['net']} w0 {w0} | {r['seed']} | {side} | "
                       f"{m['chamfer_l1']:.5f} | {iou_cell} | {m['fscore']:.3f} | "
                       f"{m['normal_consistency']:.3f} | {m['steps_per_s']:.2f} |")  # fmt: skip
    return "\n".join(out)


def verdicts(rows: list[dict]) -> list[str]:
    """nfields against the reference per case (mean over seeds), and FINER >= SIREN per shape (each side)."""
    lines, by_case = [], {}
    for r in rows:
        by_case.setdefault((r["protocol"], r["shape"], r["net"]), []).append(r)
    for (protocol, shape, net), rs in by_case.items():
        ours = np.mean([r["nfields"]["chamfer_l1"] for r in rs])
        theirs = np.mean([r["reference"]["chamfer_l1"] for r in rs])
        ok = abs(ours / theirs - 1) <= CHAMFER_TOL
        line = f"{protocol} {shape} {net}: Chamfer-L1 {ours:.5f} vs {theirs:.5f} ({100 * (ours / theirs - 1):+.1f} %)"
        if "iou" in rs[0]["nfields"]:
            a, b = (np.mean([r[s]["iou"] for r in rs]) for s in ("nfields", "reference"))
            ok &= abs(a - b) <= IOU_TOL
            line += f", IoU {a:.4f} vs {b:.4f} ({a - b:+.4f})"
        lines.append(f"{line}: {'within' if ok else 'OUTSIDE'} the tolerance")
    for shape in sorted({k[1] for k in by_case if k[0] == "finer"}):
        if not {("finer", shape, "finer"), ("finer", shape, "siren")} <= set(by_case):
            continue
        for side in ("nfields", "reference"):
            c = {
                net: np.mean([r[side]["chamfer_l1"] for r in by_case[("finer", shape, net)]])
                for net in ("finer", "siren")
            }
            lines.append(f"FINER >= SIREN on {shape} ({side}): {'yes' if c['finer'] <= c['siren'] else 'no'} "
                         f"(Chamfer-L1 {c['finer']:.5f} vs {c['siren']:.5f})")  # fmt: skip
    return lines


def compare(
    mode: dict,
    out: Path,
    seeds: list[int] | None = None,
    cases: list[int] | None = None,
    init: str = "nfields",
    first: float = 1.0,
) -> list[dict]:
    """Each case (CASES[i] for i in `cases`, default all) at each seed: nfields and the reference -> the rows."""
    rows = []
    for i, case in enumerate(CASES):
        if cases is not None and i not in cases:
            continue
        for seed in seeds or mode["seeds"]:
            cfg = compose_run_config(
                overrides(case, mode, seed, first), out / f"{case.protocol}_{Path(case.shape).stem}_{case.net}_{seed}"
            )
            row = {**asdict(case), "seed": seed, "init": init, "first_omega": first, "nfields": run_nfields(cfg)}
            row["reference"] = run_reference(cfg, case.net, seed, int(cfg.trainer.max_steps), init)
            rows.append(row)
            print("\n".join(table([row]).splitlines()[-2:]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the papers' sizes (GPU); default: the reduced CPU mode")
    ap.add_argument("--out", type=Path, default=Path("sdf_repro"))
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--cases", type=int, nargs="+", default=None, help="indices into CASES (default: all)")
    ap.add_argument(
        "--init",
        choices=("nfields", "own"),
        default="nfields",
        help="the reference's initial weights: nfields' (default) or its own draw for the seed",
    )
    ap.add_argument("--steps", type=int, default=None, help="training steps of every case (default: the mode's)")
    ap.add_argument(
        "--first-omega",
        type=float,
        default=1.0,
        help="the first layer's omega over the cases' (0.5: FINER's phases over the shape, whose "
        "coordinates span [-0.5, 0.5] where nfields' span [-1, 1])",
    )
    a = ap.parse_args()
    if not SHAPES.is_dir():
        raise SystemExit(f"{SHAPES}: not found; set NFIELDS_SHARED_DATA to the data folder that holds shapes/")
    mode = dict(FULL if a.full else REDUCED)
    if a.steps is not None:
        mode["steps"] = dict.fromkeys(mode["steps"], a.steps)
    rows = compare(mode, a.out, a.seeds, a.cases, a.init, a.first_omega)
    md = "\n".join([table(rows), "", *verdicts(rows)])
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "sdf_repro.md").write_text(md + "\n")
    (a.out / "sdf_repro.json").write_text(json.dumps({"mode": mode, "rows": rows}, indent=1, default=str))
    print(md)


if __name__ == "__main__":
    main()
