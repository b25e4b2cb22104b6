"""SIREN's signed distance fit to an oriented point cloud (Sitzmann et al. 2020), by hand, with SIREN's or FINER's
network (Liu et al. 2024): the reference of nfields' data=shape task=sdf (task.loss=siren). Plain PyTorch; no
nfields import.

SIREN's protocol, read from vsitzmann/siren (commit fbd1d51):
  experiment_scripts/train_sdf.py: SingleBVPNet(type='sine', in_features=3) -> modules.py FCBlock, 256 features,
      num_hidden_layers=3: a first sine layer and 3 more (4 sine layers: nfields' network.n_hidden_layers=4), a
      linear head; sin(30 x) on every layer, sine_init / first_layer_sine_init (siren_net.Siren);
      training.train(lr=1e-4, clip_grad=True): Adam at a constant 1e-4, the gradient's norm clipped at 1.
  dataio.py PointCloud: points mean-centred, then (p - min) / (max - min) * 2 - 1 with one min and max over all
      coordinates (the aspect kept): the cloud inside [-1, 1]^3 (`siren_normalise`). Each step: `batch_size`
      random points with their normals and as many uniform in [-1, 1]^3 (`siren_batches`). README: batch_size
      250,000 on a 12 GB GPU.
  loss_functions.sdf: over the 2B points, |f| on the surface x 3e3, exp(-100 |f|) off it x 1e2,
      1 - cos(grad f, n) on the surface x 1e2, | |grad f| - 1 | everywhere x 5e1; each a mean over all 2B points,
      zero where a term does not apply (`sdf_terms`). grad f is taken with respect to the coordinates in [-1, 1].
FINER's SDF settings, liuzhen0212/FINER (commit eea4ce3) sdf/bacon/experiments/config/sdf/finer_armadillo.ini and
  siren_armadillo.ini: hidden_layers=2 (FinerB, FCBlock: a first layer and 2 more, 3 sine layers), 256 wide,
  omega 60 (FINER) or 30 (SIREN) on every layer, lr 1e-4, 200,000 steps, 10,000 points a step; training.py: Adam
  with amsgrad, the gradient's norm clipped at 1. Its objective is BACON's, not SIREN's (FINER's sdf/bacon,
  commit 51a9254): experiments/train_sdf.py trains loss_functions.overfit_sdf (coarse_loss_weight 1e-2) on
  dataio.MeshSDF's points: 10,000 cloud points a step, the even ones moved by Laplace offsets of scale 0.1
  (coarse), the odd ones by 0.001 (fine), wrapped into [-0.5, 0.5]; each point's distance estimated as
  (x - p1) . mean(n1, n2, n3) over its 3 nearest cloud points; the loss sum((f - s)^2) over the fine points +
  1e-2 x the same sum over the coarse ones (`bacon_terms`). nfields' task.loss=bacon; scripts/sdf_repro.py hands
  this reference nfields' pairs of points (data/shape.py laplace_samples, a port of MeshSDF's sampler).

Settings that differ from nfields, to run nfields' side exactly (scripts/sdf_repro.py):
  units="cube"  grad f with respect to nfields' coordinates u = (c + 1) / 2 in the cube (0, 1)^3, in which nfields
                applies the formulas (docs/shapes.md): twice the gradient with respect to c
  clip          nfields' model.grad_clip (None: none), amsgrad its model.amsgrad
  batches       nfields' own (its pools and its generator), handed in by the caller: both sides train on the same
                points at every step

    python scripts/baselines/sdf_reference.py ../shared/data/shapes/kitten.xyz --steps 500 --batch 2048
    python scripts/baselines/sdf_reference.py ../shared/data/shapes/armadillo.off --net finer --layers 3 --w0 60
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from siren_net import Siren, pick_device

# siren: surface (B, 3), normals (B, 3), free (B', 3) in [-1, 1]; bacon: points (N, 3) in [-1, 1], distances (N,)
Batch = tuple[torch.Tensor, ...]
WEIGHTS = {"sdf": 3e3, "inter": 1e2, "normal": 1e2, "eikonal": 5e1}  # loss_functions.sdf


class Finer(Siren):
    """FinerB: sin(w (|x| + 1) x) of x = W h + b on every layer, |x| + 1 held constant in backpropagation
    (FinerLayer.generate_scale under no_grad), SIREN's initialisation, a linear head."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for lin, w in zip(self.layers, self.omegas, strict=False):
            z = lin(h)  # (N, width)
            h = torch.sin(w * (z.detach().abs() + 1) * z)
        return self.head(h)  # (N, 1)


def build(
    net: str = "siren", width: int = 256, n_sine: int = 4, w0: float = 30.0, w0_first: float | None = None
) -> torch.nn.Module:
    """SIREN or FINER, 3 -> n_sine sine layers of `width` -> 1; w0_first: the first layer's omega (default w0)."""
    cls = {"siren": Siren, "finer": Finer}[net]
    return cls(3, width, n_sine, 1, w0 if w0_first is None else w0_first, w0)


def siren_normalise(points: np.ndarray) -> np.ndarray:
    """dataio.PointCloud: (N, 3) -> mean-centred, (p - min) / (max - min) * 2 - 1 over all coordinates at once."""
    p = points - points.mean(0, keepdims=True)
    lo, hi = p.min(), p.max()
    return (p - lo) / (hi - lo) * 2 - 1


def siren_batches(points: np.ndarray, normals: np.ndarray, batch: int, seed: int = 0) -> Iterator[Batch]:
    """dataio.PointCloud.__getitem__, forever: `batch` random points (with replacement) and their normals, and as
    many uniform in [-1, 1]^3."""
    rng = np.random.default_rng(seed)
    while True:
        i = rng.choice(len(points), size=batch)
        free = rng.uniform(-1, 1, size=(batch, 3))
        yield tuple(torch.from_numpy(a).float() for a in (points[i], normals[i], free))


def sdf_terms(net: torch.nn.Module, surface: torch.Tensor, normals: torch.Tensor, free: torch.Tensor,
              units: str = "paper") -> dict[str, torch.Tensor]:  # fmt: skip
    """loss_functions.sdf's weighted terms on one batch (points in [-1, 1]); units "cube": grad f with respect to
    u = (c + 1) / 2, twice that with respect to c (module docstring)."""
    c = torch.cat([surface, free]).requires_grad_(True)  # (N, 3), N = B + B'
    f = net(c)[:, 0]  # (N,)
    (g,) = torch.autograd.grad(f.sum(), c, create_graph=True)  # (N, 3): df/dc, kept for the double backward
    if units == "cube":
        g = 2 * g
    b, n = surface.shape[0], c.shape[0]
    cos = F.cosine_similarity(g[:b], normals, dim=-1)  # (B,)
    return {  # each a mean over all N points, zero where the term does not apply (torch.where in the original)
        "sdf": f[:b].abs().sum() / n * WEIGHTS["sdf"],
        "inter": torch.exp(-1e2 * f[b:].abs()).sum() / n * WEIGHTS["inter"],
        "normal": (1 - cos).sum() / n * WEIGHTS["normal"],
        "eikonal": (g.norm(dim=-1) - 1).abs().mean() * WEIGHTS["eikonal"],
    }


def bacon_terms(net: torch.nn.Module, x: torch.Tensor, sdf: torch.Tensor, coarse_weight: float = 1e-2
                ) -> dict[str, torch.Tensor]:  # fmt: skip
    """loss_functions.overfit_sdf on one batch of points x (N, 3) with their estimated distances sdf (N,), coarse
    points at even positions and fine ones at odd (MeshSDF's layout): sums of squared errors, the coarse x
    coarse_weight. No gradient with respect to the input: the same in any coordinates whose distances are sdf's."""
    se = (net(x)[:, 0] - sdf) ** 2  # (N,)
    return {"sdf_fine": se[1::2].sum(), "sdf_coarse": coarse_weight * se[::2].sum()}


def fit(net: torch.nn.Module, batches: Iterator[Batch], steps: int, lr: float = 1e-4, clip: float | None = 1.0,
        amsgrad: bool = False, units: str = "paper", device: torch.device | None = None, loss: str = "siren",
        coarse_weight: float = 1e-2) -> list[float]:  # fmt: skip
    """Adam on the objective's terms' sum for `steps` batches -> the loss before each step. loss "siren": sdf_terms
    on batches (surface, normals, free); "bacon": bacon_terms on batches (points, distances). clip: the gradient's
    norm bound (SIREN's and FINER's 1; None: none); amsgrad: FINER's training.py."""
    device = device or torch.device("cpu")
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr, amsgrad=amsgrad)
    losses = []
    for _ in range(steps):
        batch = [t.to(device) for t in next(batches)]
        if loss == "bacon":
            total = sum(bacon_terms(net, *batch, coarse_weight).values())
        else:
            total = sum(sdf_terms(net, *batch, units).values())
        opt.zero_grad(set_to_none=True)
        total.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=clip)
        opt.step()
        losses.append(float(total.detach()))
    return losses


def sdf_fn(net: torch.nn.Module, chunk: int = 65536) -> Callable[[np.ndarray], np.ndarray]:
    """The trained field as a function of points (M, 3) in [-1, 1] -> values (M,), no gradients, `chunk` a pass."""
    device = next(net.parameters()).device

    @torch.no_grad()
    def fn(points: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(points, dtype=np.float32))
        out = [net(x[i : i + chunk].to(device))[:, 0].cpu() for i in range(0, len(x), chunk)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    return fn


def read_cloud(path: str, n_from_mesh: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An .xyz file (x y z nx ny nz) or `n_from_mesh` points sampled by area from a mesh (trimesh) with their faces'
    normals -> points (N, 3), unit normals (N, 3)."""
    if Path(path).suffix == ".xyz":
        a = np.loadtxt(path)
        return a[:, :3], a[:, 3:] / np.linalg.norm(a[:, 3:], axis=1, keepdims=True)
    import trimesh  # only to sample a mesh

    mesh = trimesh.load(path, force="mesh")
    pts, face = trimesh.sample.sample_surface(mesh, n_from_mesh, seed=seed)
    return np.asarray(pts), np.asarray(mesh.face_normals[face])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", help="an oriented point cloud .xyz, or a mesh to sample one from")
    ap.add_argument("--net", choices=("siren", "finer"), default="siren")
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4, help="sine layers (SIREN's SDF: 4; FINER's: 3)")
    ap.add_argument("--w0", type=float, default=30.0)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=10_000, help="surface points a step (as many uniform ones)")
    ap.add_argument("--points", type=int, default=100_000, help="points sampled from a mesh")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--amsgrad", action="store_true", help="FINER's training.py")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--mesh", default=None, help="write the zero level set here (.ply), marching cubes at --size")
    ap.add_argument("--size", type=int, default=256)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    points, normals = read_cloud(a.path, a.points, a.seed)
    net = build(a.net, a.width, a.layers, a.w0)
    t = time.perf_counter()
    losses = fit(net, siren_batches(siren_normalise(points), normals, a.batch, a.seed), a.steps, a.lr,
                 amsgrad=a.amsgrad, device=pick_device(a.device))  # fmt: skip
    print(f"{a.steps} steps in {time.perf_counter() - t:.1f} s, loss {losses[0]:.2f} -> {losses[-1]:.4f}")
    if a.mesh:
        import trimesh
        from skimage.measure import marching_cubes

        g = np.linspace(-1, 1, a.size, dtype=np.float32)  # sdf_meshing.create_mesh: a grid over [-1, 1]^3
        grid = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        values = sdf_fn(net)(grid).reshape((a.size,) * 3)
        if not values.min() < 0 < values.max():
            print(f"no zero level set yet (values {values.min():.3f} to {values.max():.3f}): no mesh written")
            return
        v, f, _, _ = marching_cubes(values, level=0.0)
        trimesh.Trimesh(v * 2 / (a.size - 1) - 1, f).export(a.mesh)
        print(f"wrote {a.mesh}: {len(v)} vertices")


if __name__ == "__main__":
    main()
