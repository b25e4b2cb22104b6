"""Accumulated blending of 2-D Gaussians at arbitrary points, tiled and chunked (field=gaussians).

    out(x) = sum_i colour_i * w_i(x),  w_i(x) = exp(-s_i(x)) if 2 s_i(x) <= radius^2 else 0,
    s_i(x) = (x - mean_i)^T Sigma_i^-1 (x - mean_i) / 2

GaussianImage's "accumulated blending" (Zhang et al., ECCV 2024): a weighted sum, no alpha compositing,
no depth order. Its CUDA rasteriser drops a pair once the weight is below 1/255, i.e. beyond a
Mahalanobis radius sqrt(2 ln 255) = 3.33; here the radius is an argument and the cut is part of the
field's definition, so the tiles below change only the cost, never the value.

Cost: [0, 1]^2 is cut into tiles x tiles tiles; each Gaussian is listed in the tiles its bounding box
(of the radius ellipse) overlaps, and the points of a tile meet only the Gaussians listed there, as one
dense (points, Gaussians) block: the weights are elementwise over the block's pairs, the sum is a batched
matrix product, and the backward's sums over points are reductions of the block. Blocks of tiles of
similar list length are padded to a common size and evaluated `chunk` padded pairs at a time (a tile is
never split: a batch holds at most max(chunk, one tile's block) pairs).
`Splat` is an autograd Function whose backward recomputes each batch's weights instead of keeping them,
so memory is the points' and Gaussians' own tensors plus one batch, whatever the number of pairs.
Points outside [0, 1]^2 go to the nearest edge tile, whose list holds every box reaching past that edge.

Precision: each pair's offset d = x - mean is taken from the raw fp32 coordinates, once (exact by
Sterbenz's lemma when x and mean are within a factor 2 of each other, as a point and a Gaussian it meets
nearly always are), and s is the quadratic form of d. Expanding s as a polynomial in x about a far origin
(the tile centre) instead would make one matrix product of it, but its terms are ~a |x - origin|^2 and
cancel to s ~ 1: for a Gaussian of sigma 1e-4 with tiles=1 that is 1e7 x fp32's 6e-8, weights off by 0.6.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Plan:
    """The work, tile by tile. Only tiles with points and Gaussians (`active`, sorted by list length, longest
    first) are evaluated: tile a holds the sorted points [pstart[a], pstart[a] + m[a]) (of `order`) and the
    tile-list rows [gstart[a], gstart[a] + n[a]) (of `gids`). Batch (a0, a1, M, N) pads tiles [a0, a1) to
    M points and N Gaussians."""

    tiles: int
    order: torch.Tensor  # (P,) the points grouped by tile
    gids: torch.Tensor  # (E,) Gaussian ids, grouped by tile
    active: torch.Tensor  # (A,) tile ids
    pstart: torch.Tensor  # (A,)
    m: torch.Tensor  # (A,)
    gstart: torch.Tensor  # (A,)
    n: torch.Tensor  # (A,)
    batches: list[tuple[int, int, int, int]]

    @property
    def n_pairs(self) -> int:
        """Padded (point, Gaussian) pairs evaluated in one pass."""
        return sum((a1 - a0) * mm * nn for a0, a1, mm, nn in self.batches)

    def block(self, a0: int, a1: int, mm: int, nn: int) -> tuple[torch.Tensor, ...]:
        """Indices of batch [a0, a1): sorted points (B, M), their validity, tile-list rows (B, N), their
        validity."""
        dev = self.m.device
        i, j = torch.arange(mm, device=dev), torch.arange(nn, device=dev)
        p_ok, g_ok = i < self.m[a0:a1, None], j < self.n[a0:a1, None]  # (B, M), (B, N)
        p = (self.pstart[a0:a1, None] + i).masked_fill_(~p_ok, 0)  # padding reads point 0, then is dropped
        g = (self.gstart[a0:a1, None] + j).masked_fill_(~g_ok, 0)
        return p, p_ok, g, g_ok


def tile_of(x: torch.Tensor, tiles: int) -> torch.Tensor:
    """(..., 2) coordinates -> (..., 2) integer tile indices (u, v), clamped to the grid."""
    return (x * tiles).floor().clamp_(0, tiles - 1).long()


def batch_tiles(m: torch.Tensor, n: torch.Tensor, chunk: int) -> list[tuple[int, int, int, int]]:
    """Consecutive runs of tiles (n descending) whose padded block B * max(m) * n[first] fits in `chunk`
    (at least one tile each) -> [(a0, a1, M, N)]."""
    m, n, out, a0 = m.cpu(), n.cpu(), [], 0
    while a0 < m.shape[0]:
        mm = m[a0 : a0 + chunk].cummax(0).values  # padded points if the batch ended there (a tile costs >= 1)
        cost = torch.arange(1, mm.shape[0] + 1) * mm * n[a0]
        a1 = a0 + max(1, int((cost <= chunk).sum()))  # cost grows along the run: the fitting ones are a prefix
        out.append((a0, a1, int(mm[a1 - a0 - 1]), int(n[a0])))
        a0 = a1
    return out


@torch.no_grad()
def plan(coords: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, tiles: int, chunk: int) -> Plan:
    """coords (P, 2), the Gaussians' boxes lo, hi (G, 2) -> the blocks to evaluate: each point with every
    Gaussian whose box overlaps the point's tile (a superset of the pairs within the radius)."""
    dev, n_tiles = lo.device, tiles * tiles
    t0, t1 = tile_of(lo, tiles), tile_of(hi, tiles)  # (G, 2)
    span = t1 - t0 + 1  # (G, 2) tiles covered per axis
    count = span[:, 0] * span[:, 1]  # (G,)
    gid = torch.repeat_interleave(torch.arange(lo.shape[0], device=dev), count)  # (E,) one per (Gaussian, tile)
    k = torch.arange(gid.shape[0], device=dev) - (torch.cumsum(count, 0) - count)[gid]  # (E,) index in its box
    su = span[gid, 0]
    tid, by_tile = torch.sort((t0[gid, 1] + k // su) * tiles + t0[gid, 0] + k % su, stable=True)  # (E,)
    gcount = torch.bincount(tid, minlength=n_tiles)  # (T*T,)
    pt = tile_of(coords, tiles)
    ptile, order = torch.sort(pt[:, 1] * tiles + pt[:, 0], stable=True)  # (P,)
    pcount = torch.bincount(ptile, minlength=n_tiles)  # (T*T,)
    active = torch.nonzero((pcount > 0) & (gcount > 0)).squeeze(1)  # (A,)
    active = active[torch.argsort(gcount[active], descending=True, stable=True)]
    gfirst, pfirst = torch.cumsum(gcount, 0) - gcount, torch.cumsum(pcount, 0) - pcount
    m, n = pcount[active], gcount[active]
    return Plan(tiles, order, gid[by_tile], active, pfirst[active], m, gfirst[active], n, batch_tiles(m, n, chunk))


def weights(x: torch.Tensor, r: torch.Tensor, r2: float) -> tuple[torch.Tensor, ...]:
    """Points (B, M, 2), Gaussians' rows (mean (2), inverse covariance (a, b, c), ...) (B, N, >= 5) -> the
    weights exp(-s) (B, M, N), 0 beyond the Mahalanobis radius, and the offsets dx, dy (B, M, N) of x - mean
    they come from (the backward's moments). s = (a dx^2 + 2 b dx dy + c dy^2) / 2 of each pair's own
    offset, never a polynomial about a far origin (module docstring: Precision)."""
    dx = x[..., 0, None] - r[:, None, :, 0]  # (B, M, N): one rounding-free subtraction per pair
    dy = x[..., 1, None] - r[:, None, :, 1]
    h = r[:, None, :, 2:5] * r.new_tensor([-0.5, -1.0, -0.5])  # (B, 1, N, 3): the coefficients of -s
    t = torch.addcmul(h[..., 1] * dy, h[..., 0], dx).mul_(dx)  # (B, M, N) -(a dx / 2 + b dy) dx
    t.addcmul_(h[..., 2] * dy, dy).clamp_(max=0)  # -s; the clamp drops rounding above 0 (a needle: no overflow)
    # beyond the radius exp(-inf) = 0; in place, so one (B, M, N) tensor holds -s, then the weights
    return t.masked_fill_(t < -0.5 * r2, -torch.inf).exp_(), dx, dy


class Splat(torch.autograd.Function):
    """out (P, C) = the sum above at coords (P, 2); differentiable in mean (G, 2), conic (G, 3), colour (G, C).

    Each pair's offset is x - mean of the raw coordinates (module docstring: Precision), for the weights
    and for the backward's moment sums alike; each Gaussian is one packed row (mean, conic, colour) per
    tile it is listed in."""

    @staticmethod
    def forward(ctx, coords, mean, conic, colour, plan: Plan, radius: float):  # noqa: ANN001, ANN205
        table = torch.cat([mean, conic, colour], 1).index_select(0, plan.gids)  # (E, 5 + C)
        xs = coords.index_select(0, plan.order)  # (P, 2) grouped by tile
        c = colour.shape[1]
        out = torch.zeros(coords.shape[0], c, dtype=colour.dtype, device=colour.device)  # (P, C) sorted
        for batch in plan.batches:
            x, r, p, p_ok = Splat.load(xs, table, plan, batch)
            w = weights(x, r, radius * radius)[0]  # (B, M, N)
            out[p[p_ok]] = torch.bmm(w, r[..., 5:])[p_ok]  # (B, M, C) -> its points' rows
        ctx.save_for_backward(xs, table)
        ctx.plan, ctx.r2, ctx.n_gaussians = plan, radius * radius, mean.shape[0]
        return torch.empty_like(out).index_copy_(0, plan.order, out)

    @staticmethod
    def load(xs, table, plan: Plan, batch):  # noqa: ANN001, ANN205
        """A batch's points (B, M, 2) and rows (B, N, 5 + C), padded Gaussians' colours 0; with the points'
        indices (B, M) and validity."""
        p, p_ok, g, g_ok = plan.block(*batch)
        r = table[g]  # (B, N, 5 + C)
        r[..., 5:] *= g_ok[..., None]
        return xs[p], r, p, p_ok

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001, ANN205
        xs, table = ctx.saved_tensors
        plan, r2 = ctx.plan, ctx.r2
        go_sorted = grad_out.index_select(0, plan.order)  # (P, C)
        grad_rows = torch.zeros_like(table)  # (E, 5 + C): each row belongs to one tile, so is written once
        for batch in plan.batches:
            x, r, p, p_ok = Splat.load(xs, table, plan, batch)
            g, g_ok = plan.block(*batch)[2:4]
            w, ox, oy = weights(x, r, r2)  # (B, M, N) each: weights, offsets x - mean
            go = go_sorted[p] * p_ok[..., None]  # (B, M, C), padding 0
            ds = torch.bmm(go, r[..., 5:].transpose(1, 2)).mul_(w).neg_()  # (B, M, N) dL/ds
            # moments over points of each pair's own offsets: sum_m ds (dx, dy, dx^2, dx dy, dy^2) (B, N) each
            dsx, dsy = ds * ox, ds * oy  # (B, M, N); a few such temporaries per batch of `chunk` pairs
            dx, dy = dsx.sum(1), dsy.sum(1)
            dxx, dxy, dyy = (dsx * ox).sum(1), (dsx * oy).sum(1), (dsy * oy).sum(1)
            a, b, c = r[..., 2], r[..., 3], r[..., 4]
            # ds/dmean = -Sigma^-1 (dx, dy); ds/d(a, b, c) = (dx^2 / 2, dx dy, dy^2 / 2); dout/dcolour = w
            geo = torch.stack([-(a * dx + b * dy), -(b * dx + c * dy), 0.5 * dxx, dxy, 0.5 * dyy], -1)  # (B, N, 5)
            grads = torch.cat([geo, torch.bmm(w.transpose(1, 2), go)], -1)  # (B, N, 5 + C)
            grad_rows[g[g_ok]] = grads[g_ok]
        grad = torch.zeros(ctx.n_gaussians, table.shape[1], dtype=table.dtype, device=table.device)
        grad.index_add_(0, plan.gids, grad_rows)  # (G, 5 + C): a Gaussian's rows summed over its tiles
        return None, grad[:, :2], grad[:, 2:5], grad[:, 5:], None, None


def splat(
    coords: torch.Tensor, mean: torch.Tensor, conic: torch.Tensor, colour: torch.Tensor, plan: Plan, radius: float
) -> torch.Tensor:
    """The accumulated blend at coords (P, 2) -> (P, C), one batch of tiles at a time (module docstring)."""
    return Splat.apply(coords, mean, conic, colour, plan, radius)
