"""The floor: the same work written by hand in NumPy, from the chapter's equations.

The chapter's network, one example per row of ``x`` (N x d), no bias::

    z = x W1^T        h = phi(z) = max(z, 0)        o = h W2^T
    L = mean_i [ log sum_k exp(o_ik) - o_i,y_i ]    s = lambda/2 (||W1||^2 + ||W2||^2)
    J = L + s

and its backward pass, in the order the chapter computes it::

    dJ/do  = (softmax(o) - onehot(y)) / N
    dJ/dW2 = dJ/do^T h + lambda W2
    dJ/dh  = dJ/do W2
    dJ/dz  = dJ/dh * phi'(z)                       (phi'(z) = [z > 0])
    dJ/dW1 = dJ/dz^T x + lambda W1

The code is written the way a careful person writes it the first time: no ``out=`` buffers, no
fusing; this is the "naive hand code" of the issue's targets.  Every function works in the dtype
of its arrays (float32 for the chapter's step).
"""

from __future__ import annotations

import numpy as np

__all__ = ["step", "forward", "objective", "hvp", "chain_forward", "chain_backward",
           "gemm_shapes", "gemm_operands", "gemms", "gemm_flops"]


def _softmax_rows(o: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(softmax(o), o - max, sum exp(o - max))``, one stable pass over the rows."""
    shifted = o - o.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    sums = e.sum(axis=1, keepdims=True)
    return e / sums, shifted, sums


def objective(W1, W2, x, y, lam: float, shifted, sums):
    """``J = L + s`` from the shifted logits and their exp-sums (see :func:`_softmax_rows`)."""
    n = x.shape[0]
    L = (np.log(sums[:, 0]) - shifted[np.arange(n), y]).mean()
    s = lam / 2 * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return L + s


def step(W1: np.ndarray, W2: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float,
         lam: float):
    """One SGD step of the chapter's network, in place on ``W1`` and ``W2``; returns J."""
    n = x.shape[0]
    z = x @ W1.T
    h = np.maximum(z, 0)
    o = h @ W2.T
    p, shifted, sums = _softmax_rows(o)
    J = objective(W1, W2, x, y, lam, shifted, sums)
    d_o = p
    d_o[np.arange(n), y] -= 1
    d_o /= n
    d_W2 = d_o.T @ h + lam * W2
    d_h = d_o @ W2
    d_z = d_h * (z > 0)
    d_W1 = d_z.T @ x + lam * W1
    W1 -= lr * d_W1
    W2 -= lr * d_W2
    return J


def forward(W1: np.ndarray, W2: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The logits ``o`` for a batch (a prediction: nothing is kept)."""
    z = x @ W1.T
    h = np.maximum(z, 0)
    return h @ W2.T


def hvp(W1: np.ndarray, W2: np.ndarray, x: np.ndarray, y: np.ndarray, V: np.ndarray,
        lam: float):
    """``(J, H V)``: the Hessian of J with respect to W1 applied to ``V``, by a hand R-op.

    Forward over reverse, written out: the R-operator ``R{.}`` is the directional derivative
    along ``R{W1} = V`` of every quantity of the gradient computation.  With ``m = [z > 0]``
    (ReLU's derivative, whose own derivative is zero almost everywhere)::

        R{z} = x V^T            R{h} = R{z} * m              R{o} = R{h} W2^T
        R{p} = p * (R{o} - rowsum(p * R{o}))                 R{dJ/do} = R{p} / N
        R{dJ/dh} = R{dJ/do} W2  R{dJ/dz} = R{dJ/dh} * m
        H V = R{dJ/dW1} = R{dJ/dz}^T x + lambda V

    The gradient itself (``dJ/dz^T x``) is not needed for ``H V``, so it is not computed.
    """
    n = x.shape[0]
    z = x @ W1.T
    mask = z > 0
    h = z * mask
    o = h @ W2.T
    p, shifted, sums = _softmax_rows(o)
    J = objective(W1, W2, x, y, lam, shifted, sums)
    r_z = x @ V.T
    r_h = r_z * mask
    r_o = r_h @ W2.T
    r_p = p * (r_o - (p * r_o).sum(axis=1, keepdims=True))
    r_dh = (r_p / n) @ W2
    r_dz = r_dh * mask
    return J, r_dz.T @ x + lam * V


# ------------------------------------------------------------------------------ per operator
def chain_forward(x: np.ndarray, c_mul: np.ndarray, c_add: np.ndarray, triples: int):
    """``triples`` rounds of ``y * c_mul``, ``+ c_add``, ``tanh``; the output and tanh's saves."""
    saved = []
    y = x
    for _ in range(triples):
        y = y * c_mul
        y = y + c_add
        y = np.tanh(y)
        saved.append(y)
    return y, saved


def chain_backward(g: np.ndarray, c_mul: np.ndarray, saved: list) -> np.ndarray:
    """The backward arithmetic of :func:`chain_forward`: tanh' = 1 - t^2, add passes g on."""
    for t in reversed(saved):
        g = g * (1 - t * t)
        g = g * c_mul
    return g


# ------------------------------------------------------------------------------ GEMMs alone
def gemm_shapes(n: int, d: int, hidden: int, classes: int) -> list[tuple[str, int, int, int]]:
    """The step's matrix products as ``(what, m, k, n)``: an (m x k) by (k x n) product."""
    return [("z = x W1^T", n, d, hidden), ("o = h W2^T", n, hidden, classes),
            ("dW2 = do^T h", classes, n, hidden), ("dh = do W2", n, classes, hidden),
            ("dW1 = dz^T x", hidden, n, d)]


def gemm_operands(n: int, d: int, hidden: int, classes: int, dtype=np.float32,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Random arrays shaped like the step's operands: x, W1, h, W2, do, dz."""
    rng = np.random.default_rng(seed)
    shapes = {"x": (n, d), "W1": (hidden, d), "h": (n, hidden), "W2": (classes, hidden),
              "do": (n, classes), "dz": (n, hidden)}
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in shapes.items()}


def gemms(a: dict[str, np.ndarray], which: int | None = None) -> None:
    """The step's five products alone, in the step's layouts (or only product ``which``)."""
    products = (lambda: a["x"] @ a["W1"].T, lambda: a["h"] @ a["W2"].T,
                lambda: a["do"].T @ a["h"], lambda: a["do"] @ a["W2"],
                lambda: a["dz"].T @ a["x"])
    if which is not None:
        products[which]()
        return
    for product in products:
        product()


def gemm_flops(n: int, d: int, hidden: int, classes: int) -> float:
    """Floating-point operations of the step's products: 2 m k n each."""
    return float(sum(2 * m * k * p for _, m, k, p in gemm_shapes(n, d, hidden, classes)))
