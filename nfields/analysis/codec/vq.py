"""Residual vector quantisation of a (G, C) attribute, as GaussianImage quantises its Gaussians' colours.

GaussianImage (Zhang et al. 2024, Xinjie-Q/GaussianImage quantize.py and gaussianimage_cholesky.py) codes each
Gaussian's RGB colour as the sum of one codeword from each of 2 codebooks of 8 (vector_quantize_pytorch's
ResidualVQ, k-means initialised): 2 indices of 3 bits per Gaussian instead of 3 numbers. Here each stage's
codebook is fitted by Lloyd's k-means (k-means++ seeding from a fixed seed, so encoding is deterministic) to
what the stages before it left, and stored as fp16; the decoder only looks the indices up. GaussianImage
refines its codebooks by EMA during its quantisation-aware training; qat.py refits them every step instead.
"""

from __future__ import annotations

import numpy as np

ITERS = 20  # Lloyd iterations per stage (GaussianImage's k-means init: 5, then EMA updates while it trains)


def kmeans(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(k, C) centroids of x (N, C): k-means++ seeding, then Lloyd's iterations; empty clusters keep theirs."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min([np.square(x - c).sum(-1) for c in centres], axis=0)  # (N,) squared distance to the nearest
        centres.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
    c = np.stack(centres)  # (k, C)
    for _ in range(ITERS):
        idx = nearest(x, c)
        for j in range(k):
            if (idx == j).any():
                c[j] = x[idx == j].mean(0)
    return c


def nearest(x: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """(N,) index of each row of x (N, C) in codebook (K, C)."""
    return np.square(x[:, None, :] - codebook[None]).sum(-1).argmin(-1)


def rvq(x: np.ndarray, stages: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """x (G, C) float64 -> (codebooks (S, K, C) fp16-representable float64, indices (S, G)): each stage codes the
    residual the stages before it left, with codewords rounded to fp16 before the residual is taken (what the
    file stores is what the next stage sees)."""
    residual, books, idx = x.copy(), [], []
    for s in range(stages):
        book = kmeans(residual, min(size, len(residual)), seed=s).astype(np.float16).astype(np.float64)
        book = np.concatenate([book, np.repeat(book[-1:], size - len(book), 0)])  # fewer points than codewords
        i = nearest(residual, book)
        books.append(book)
        idx.append(i)
        residual = residual - book[i]
    return np.stack(books), np.stack(idx)


def rvq_values(books: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(S, K, C) codebooks and (S, G) indices -> (G, C) float64: the sum of each stage's codeword."""
    return sum(books[s][idx[s]] for s in range(len(books)))
