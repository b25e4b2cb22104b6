"""Shaded pictures of a 3-D field's surface from fixed views, with no OpenGL: a ray per pixel through a pinhole
camera, traced to the surface, lit by Lambertian shading of the surface's normal.

The field is a value function of points (N, 3) in the cube (0, 1)^3 -> values (N,), negative inside and zero on
the surface (a signed distance as it is; an occupancy logit negated: tasks/shape.py's ShapeTask.sign). Two tracers:

  sphere tracing (distance=True)   a distance is a safe step (Hart 1996): each ray advances by `step` x f until
                                   f < eps; a learned distance's |grad f| strays from 1, hence a step below 1
  marching + bisection (False)     a logit is no distance: each ray samples the cube at `march` even steps of its
                                   diagonal until f first falls below 0, then halves that interval `bisect` times

Rays start where they enter the cube and end where they leave it; a ray that finds no surface is background
(white). Normals are the gradient of f at the hit, from autograd (fields/gradients.py; no graph kept), or any
given normal function (a ground truth's, by finite differences). Rays are traced `chunk` at a time, so memory is
that of `chunk` points whatever the image size. Views look at the cube's centre from `distance`, at `elevation`
degrees, evenly spaced in azimuth, z up; images are (size, size, 3), row 0 at the top.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nfields.fields.gradients import input_gradient

ValueFn = Callable[[torch.Tensor], torch.Tensor]  # points (N, 3) -> values (N,), negative inside
NormalFn = Callable[[torch.Tensor], torch.Tensor]  # points (N, 3) on the surface -> unit outward normals (N, 3)

COLOUR = (0.80, 0.70, 0.56)  # the surface's albedo (clay)
AMBIENT = 0.25  # the light every visible point gets; the rest is Lambertian


@dataclass(frozen=True)
class View:
    """A pinhole camera at `eye` looking at `target`, `up` upward in the picture, `fov` degrees across."""

    eye: tuple[float, float, float]
    target: tuple[float, float, float] = (0.5, 0.5, 0.5)
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    fov: float = 40.0


def orbit(n: int = 3, elevation: float = 25.0, distance: float = 1.6, fov: float = 40.0) -> list[View]:
    """`n` views of the cube's centre from `distance`, `elevation` degrees up, azimuths 30 + 360 k / n degrees."""
    e = math.radians(elevation)
    views = []
    for k in range(n):
        a = math.radians(30.0 + 360.0 * k / n)
        eye = (math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e))
        views.append(View(tuple(0.5 + distance * c for c in eye), fov=fov))
    return views


def camera_frame(view: View, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """The camera's forward, right and up unit vectors (3,) each."""
    eye, target = torch.tensor(view.eye, dtype=dtype), torch.tensor(view.target, dtype=dtype)
    forward = F.normalize(target - eye, dim=0)
    right = F.normalize(torch.linalg.cross(forward, torch.tensor(view.up, dtype=dtype)), dim=0)
    return forward, right, torch.linalg.cross(right, forward)


def camera_rays(
    view: View, size: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ray through each pixel's centre -> origins (size^2, 3) and unit directions (size^2, 3), row-major."""
    forward, right, up = camera_frame(view, dtype)
    half = math.tan(math.radians(view.fov) / 2)
    c = ((torch.arange(size, dtype=dtype) + 0.5) / size * 2 - 1) * half  # (S,) image plane at distance 1
    v, u = torch.meshgrid(-c, c, indexing="ij")  # (S, S): rows from the top, columns from the left
    d = forward + u[..., None] * right + v[..., None] * up  # (S, S, 3)
    d = F.normalize(d.reshape(-1, 3), dim=-1)
    o = torch.tensor(view.eye, dtype=dtype).expand_as(d)
    return o.to(device), d.to(device)


def cube_span(o: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where rays (N, 3), (N, 3) enter and leave the cube (0, 1)^3 -> t0, t1 (N,); t0 >= 0, a miss has t0 >= t1."""
    safe = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)  # parallel to a face: crosses it at infinity
    a, b = (0 - o) / safe, (1 - o) / safe  # (N, 3): where each pair of faces is crossed
    t0 = torch.minimum(a, b).amax(-1).clamp(min=0)
    return t0, torch.maximum(a, b).amin(-1)


@torch.no_grad()
def sphere_trace(
    fn: ValueFn,
    o: torch.Tensor,
    d: torch.Tensor,
    eps: float = 1e-3,
    steps: int = 128,
    step: float = 0.9,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays (N, 3), (N, 3) -> t (N,) and hit (N,) bool: f(o + t d) < eps within `steps` steps inside the cube."""
    t, t1 = cube_span(o, d)
    hit = torch.zeros_like(t, dtype=torch.bool)
    alive = torch.nonzero(t < t1)[:, 0]  # (A,): the rays still marching
    for _ in range(steps):
        if not len(alive):
            break
        f = fn(o[alive] + t[alive, None] * d[alive]).to(t.dtype)  # (A,)
        done = f < eps
        hit[alive[done]] = True
        t[alive] = torch.where(done, t[alive], t[alive] + step * f)
        alive = alive[~done & (t[alive] < t1[alive])]
    return t, hit


@torch.no_grad()
def march_bisect(
    fn: ValueFn, o: torch.Tensor, d: torch.Tensor, march: int = 128, bisect: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays (N, 3), (N, 3) -> t (N,) and hit (N,) bool: the first sign change of f from >= 0 to < 0 along each ray,
    found at steps of sqrt(3) / `march` (the cube's diagonal) and narrowed `bisect` times (to 2^-bisect of one)."""
    t0, t1 = cube_span(o, d)
    dt = math.sqrt(3) / march
    lo, hi = t0.clone(), t0.clone()  # the bracket of the first crossing, once found
    hit = torch.zeros_like(t0, dtype=torch.bool)
    alive = torch.nonzero(t0 < t1)[:, 0]
    for k in range(march + 1):
        if not len(alive):
            break
        t = torch.minimum(t0[alive] + k * dt, t1[alive])  # (A,)
        inside = fn(o[alive] + t[:, None] * d[alive]).to(t.dtype) < 0
        found = alive[inside]
        hit[found], hi[found] = True, t[inside]
        lo[found] = torch.maximum(t0[found] + (k - 1) * dt, t0[found])  # the last sample outside
        alive = alive[~inside & (t < t1[alive])]
    idx = torch.nonzero(hit)[:, 0]
    a, b = lo[idx], hi[idx]
    for _ in range(bisect if len(idx) else 0):
        mid = (a + b) / 2
        inside = fn(o[idx] + mid[:, None] * d[idx]).to(mid.dtype) < 0
        a, b = torch.where(inside, a, mid), torch.where(inside, mid, b)
    hi[idx] = (a + b) / 2
    return hi, hit


def autograd_normals(fn: ValueFn) -> NormalFn:
    """The unit gradient of f, from autograd without a graph kept: the outward normal of its zero level. Also
    under inference mode (Lightning's validation): the points are copied out of it for the gradient."""

    def normals(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(False):
            g = input_gradient(lambda p: fn(p)[..., None], x.clone(), create_graph=False)  # (N, 3)
        return F.normalize(g.detach(), dim=-1)

    return normals


def difference_normals(fn: ValueFn, h: float = 1e-4) -> NormalFn:
    """The unit gradient of f by central differences of step h: for a function autograd cannot follow."""

    def normals(x: torch.Tensor) -> torch.Tensor:
        e = torch.eye(3, dtype=x.dtype, device=x.device) * h
        g = torch.stack([fn(x + e[i]) - fn(x - e[i]) for i in range(3)], -1)  # (N, 3)
        return F.normalize(g.to(x.dtype), dim=-1)

    return normals


def lambert(normals: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """Unit normals (N, 3) lit from the unit direction `light` (3,) -> colours (N, 3) in [0, 1]."""
    diffuse = (normals @ light).clamp(min=0)[:, None]  # (N, 1): the cosine of the light's incidence
    return torch.tensor(COLOUR, dtype=normals.dtype, device=normals.device) * (AMBIENT + (1 - AMBIENT) * diffuse)


def render_view(
    fn: ValueFn,
    view: View,
    size: int,
    distance: bool = True,
    normals: NormalFn | None = None,
    chunk: int = 16384,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    eps: float = 1e-3,
) -> torch.Tensor:
    """The surface of f seen from `view` -> (size, size, 3) float in [0, 1] on the host (module docstring)."""
    normals = normals or autograd_normals(fn)
    o, d = camera_rays(view, size, device, dtype)
    forward, right, up = (v.to(device) for v in camera_frame(view, dtype))
    light = F.normalize(-forward + 0.7 * up - 0.4 * right, dim=0)  # from above and left of the camera
    image = torch.ones(size * size, 3, dtype=dtype, device=device)
    for s in range(0, size * size, chunk):
        oc, dc = o[s : s + chunk], d[s : s + chunk]  # (n, 3) each
        t, hit = sphere_trace(fn, oc, dc, eps) if distance else march_bisect(fn, oc, dc)
        if hit.any():
            x = oc[hit] + t[hit, None] * dc[hit]  # (h, 3) on the surface
            image[s : s + chunk][hit] = lambert(normals(x), light)
    return image.reshape(size, size, 3).float().cpu()


def render_views(fn: ValueFn, views: Sequence[View], size: int, **kwargs: object) -> torch.Tensor:
    """render_view from each of `views` -> (V, size, size, 3)."""
    return torch.stack([render_view(fn, v, size, **kwargs) for v in views])
