"""The bounded, regularised blendshape solver.

Given a basis B (targets x shapes: what each shape adds to the target curves or
vertex offsets) and target frames Y, find weights W for every frame:

    minimise  sum_t ||B w_t - y_t||^2               fit
            + l2 * ||w_t||^2                        small weights
            + l1 * sum(w_t)                         few weights (L1; weights are >= 0)
            + symmetry * sum_pairs (w_a - w_b)^2    left and right alike
            + temporal * ||w_t - w_{t-1}||^2        no frame-to-frame chatter
    subject to lower <= w <= upper                  (0..1 for blendshape weights)

The inverse maps (MetaHuman -> ARKit, Unified -> ARKit) and the FLAME mesh
solve share it. Why not scipy.optimize.lsq_linear: it solves one frame at a
time, cannot express the L1 term or the coupling between frames, and is slow
per frame; a take has thousands. This is projected coordinate descent on the
normal equations (exact per coordinate), vectorised over frames; the temporal
chain is handled with a red-black (even/odd frame) sweep so every update uses
its neighbours' newest values and the iteration stays a convergent
Gauss-Seidel scheme. `prev` is the frame before the first one, for streaming.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SolverSettings:
    l2: float = 1e-6
    l1: float = 0.0
    symmetry: float = 0.0
    temporal: float = 0.0
    max_sweeps: int = 300
    tolerance: float = 1e-7  # stop when no weight moved more than this in a sweep


class BlendshapeSolver:
    def __init__(self, basis, lower=0.0, upper=1.0, pairs=(), settings: SolverSettings | None = None):
        basis = np.asarray(basis, dtype=np.float64)
        if basis.ndim != 2:
            raise ValueError("basis must be targets x shapes")
        self.basis = basis
        self._setup(basis.T @ basis, lower, upper, pairs, settings)

    @classmethod
    def from_gram(cls, gram, lower=0.0, upper=1.0, pairs=(), settings: SolverSettings | None = None):
        """A solver that only knows B^T B; call solve_rhs with B^T y. For bases with many
        rows (mesh vertices) whose products with the targets are cheaper to precompute."""
        self = cls.__new__(cls)
        self.basis = None
        self._setup(np.asarray(gram, dtype=np.float64), lower, upper, pairs, settings)
        return self

    def _setup(self, gram, lower, upper, pairs, settings) -> None:
        self.settings = s = settings or SolverSettings()
        k = gram.shape[0]
        self.lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (k,)).copy()
        self.upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (k,)).copy()
        q = gram + s.l2 * np.eye(k)
        for a, b in pairs:  # symmetry: (w_a - w_b)^2 adds a graph Laplacian
            q[a, a] += s.symmetry
            q[b, b] += s.symmetry
            q[a, b] -= s.symmetry
            q[b, a] -= s.symmetry
        self.q = q
        if np.any(np.diag(q) <= 0):
            raise ValueError("a shape has no effect on any target and no L2 weight: it cannot be solved")

    def solve(self, targets, prev=None, init=None) -> np.ndarray:
        """Weights [frames x shapes] for targets [frames x basis rows]."""
        y = np.atleast_2d(np.asarray(targets, dtype=np.float64))
        return self.solve_rhs(y @ self.basis, prev=prev, init=init)

    def solve_rhs(self, rhs, prev=None, init=None) -> np.ndarray:
        """Weights for right-hand sides B^T y_t [frames x shapes]."""
        s, q = self.settings, self.q
        c = np.atleast_2d(np.asarray(rhs, dtype=np.float64)) - 0.5 * s.l1  # linear term per frame
        t, k = c.shape[0], q.shape[0]
        if t == 0:
            return np.zeros((0, k))
        if init is None:
            # Warm start: the unconstrained solution, clipped into the box.
            w = np.clip(np.linalg.solve(q, c.T).T, self.lower, self.upper)
        else:
            w = np.array(init, dtype=np.float64, copy=True)
        lam = s.temporal
        if lam > 0:
            neighbours = np.full(t, 2.0)
            neighbours[-1] = 1.0
            if prev is None:
                neighbours[0] -= 1.0
            prev = None if prev is None else np.asarray(prev, dtype=np.float64)
            groups = [np.arange(0, t, 2), np.arange(1, t, 2)]
        else:
            groups = [slice(None)]
        g = w @ q  # g[t, j] = sum_k w[t, k] q[k, j], kept current as w changes
        diag = np.diag(q)
        for _ in range(s.max_sweeps):
            moved = 0.0
            for j in range(k):
                for rows in groups:
                    wj = w[rows, j]
                    num = c[rows, j] - g[rows, j] + diag[j] * wj
                    den = diag[j]
                    if lam > 0:
                        nb = np.zeros(t)
                        nb[1:] += w[:-1, j]
                        nb[:-1] += w[1:, j]
                        if prev is not None:
                            nb[0] += prev[j]
                        num = num + lam * nb[rows]
                        den = den + lam * neighbours[rows]
                    new = np.clip(num / den, self.lower[j], self.upper[j])
                    delta = new - wj
                    if delta.size:
                        moved = max(moved, float(np.abs(delta).max()))
                        w[rows, j] = new
                        g[rows] += delta[:, None] * q[j]
            if moved < s.tolerance:
                break
        return w
