"""k-means clustering of global rotations (the paper's K = 200 classes).

Rotations are clustered as 9-vectors (flattened 3x3 matrices), the space in
which the network blends them (``R^g' = C^g p^g``). The centres are stored in
the model (buffer ``cluster_centres``, so in every checkpoint and ONNX file)
and in ``clusters.npz`` beside a training run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def kmeans_rotations(rotations: np.ndarray, k: int = 200, iters: int = 50, seed: int = 0,
                     n_init: int = 4) -> np.ndarray:
    """Cluster rotations (N, 3, 3) into k centres (k, 3, 3).

    k-means++ starts, Lloyd steps, the best of ``n_init`` runs (lowest sum of
    squared distances). Centres are means of matrices (not re-orthonormalised),
    as the network blends them.
    """
    x = np.asarray(rotations, dtype=np.float64).reshape(-1, 9)
    n = len(x)
    if n < k:
        raise ValueError(f"k-means needs at least k = {k} rotations, got {n}")
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(n_init):
        centres = _kmeans_once(x, k, iters, rng)
        cost = ((x - centres[assign_clusters(x, centres)]) ** 2).sum()
        if cost < best_cost:
            best, best_cost = centres, cost
    return best.reshape(k, 3, 3)


def _kmeans_once(x: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    n = len(x)
    centres = np.empty((k, 9))
    centres[0] = x[rng.integers(n)]
    d2 = ((x - centres[0]) ** 2).sum(-1)
    for i in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
        centres[i] = x[rng.choice(n, p=p)]
        d2 = np.minimum(d2, ((x - centres[i]) ** 2).sum(-1))
    for _ in range(iters):
        labels = assign_clusters(x, centres)
        new = centres.copy()
        for c in range(k):
            members = x[labels == c]
            if len(members):
                new[c] = members.mean(0)
            else:  # an empty cluster takes the point farthest from its centre
                far = ((x - centres[labels]) ** 2).sum(-1).argmax()
                new[c] = x[far]
        if np.allclose(new, centres):
            break
        centres = new
    return centres


def assign_clusters(rotations: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (Frobenius distance) for each rotation. (N,3,3),(K,3,3) -> (N,)."""
    x = np.asarray(rotations, dtype=np.float64).reshape(-1, 9)
    c = np.asarray(centres, dtype=np.float64).reshape(-1, 9)
    d = (x * x).sum(-1)[:, None] - 2 * x @ c.T + (c * c).sum(-1)[None, :]
    return d.argmin(-1)


def save_clusters(path: str | Path, centres: np.ndarray) -> None:
    np.savez(path, centres=np.asarray(centres, dtype=np.float32))


def load_clusters(path: str | Path) -> np.ndarray:
    with np.load(path) as f:
        return f["centres"]
