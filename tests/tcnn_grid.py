"""An independent numpy port of tiny-cuda-nn's grid lookup (include/tiny-cuda-nn/encodings/grid.h), the oracle
for tests/test_hashgrid.py: GridEncodingTemplated's level sizes and kernel_grid's forward pass for
interpolation=Linear, type=Hash, one point and one level at a time, in tcnn's fp32 / uint32 arithmetic, for
any d up to the number of primes here (1-D: audio, 2-D: images, 3-D: video and volumes). tcnn's corner loop
takes bit `dim` of the corner index as the offset along coordinate dim, and its dense index is coordinate 0
fastest (stride 1, then resolution, resolution^2, ...)."""

from __future__ import annotations

import numpy as np

PRIMES = (1, 2654435761, 805459861)
U32 = 0xFFFFFFFF


def level_scale(level: int, base_resolution: int, per_level_scale: float) -> np.float32:
    """exp2f(level * log2(per_level_scale)) * base_resolution - 1.0f, in fp32."""
    f = np.float32
    return f(np.exp2(f(level) * np.log2(f(per_level_scale)))) * f(base_resolution) - f(1.0)


def level_sizes(n_levels: int, log2_hashmap_size: int, base_resolution: int, per_level_scale: float, d: int) -> list:
    """(resolution, params_in_level) per level: dense params rounded up to a multiple of 8, capped at 2^log2."""
    out = []
    for level in range(n_levels):
        resolution = int(np.ceil(level_scale(level, base_resolution, per_level_scale))) + 1
        params = -(-(resolution**d) // 8) * 8
        out.append((resolution, min(params, 1 << log2_hashmap_size)))
    return out


def grid_index(pos_grid: list[int], hashmap_size: int, resolution: int) -> int:
    stride, index = 1, 0
    for p in pos_grid:
        if stride > hashmap_size:
            break
        index = (index + p * stride) & U32
        stride *= resolution
    if hashmap_size < stride:
        index = 0
        for p, prime in zip(pos_grid, PRIMES, strict=False):
            index ^= (p * prime) & U32
    return index % hashmap_size


def tcnn_encode(
    x: np.ndarray,
    table: np.ndarray,
    n_levels: int,
    log2_hashmap_size: int,
    base_resolution: int,
    per_level_scale: float,
) -> np.ndarray:
    """x (N, d) in [0, 1], table (sum of params_in_level, F) -> features (N, n_levels * F), level-major."""
    n, d = x.shape
    assert 1 <= d <= len(PRIMES), d  # tcnn has a prime per dimension it hashes
    feats = table.shape[1]
    sizes = level_sizes(n_levels, log2_hashmap_size, base_resolution, per_level_scale, d)
    assert table.shape[0] == sum(s for _, s in sizes), (table.shape, sizes)
    out = np.zeros((n, n_levels * feats), np.float32)
    offset = 0
    for level, (resolution, size) in enumerate(sizes):
        scale = level_scale(level, base_resolution, per_level_scale)
        for i in range(n):
            pos = x[i].astype(np.float32) * scale + np.float32(0.5)  # pos_fract
            cell = np.floor(pos)
            frac = pos - cell
            for corner in range(1 << d):
                weight, local = np.float32(1.0), []
                for dim in range(d):
                    bit = (corner >> dim) & 1
                    weight *= frac[dim] if bit else 1 - frac[dim]
                    local.append(int(cell[dim]) + bit)
                row = offset + grid_index(local, size, resolution)
                out[i, level * feats : (level + 1) * feats] += weight * table[row]
        offset += size
    return out
