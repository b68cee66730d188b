"""Independent numpy references and the benchmark inputs.

Rosenbrock and logsumexp use closed forms of the value, gradient and Hessian. The pendulum's
value is a plain numpy RK4 simulation; its gradient is the complex-step derivative of that
simulation (exact to rounding); its Hessian-vector product is a central difference of the
complex-step gradient (accurate to about 1e-9 relative, the floor of that column).
"""

from __future__ import annotations

import numpy as np

from . import problems


def inputs(problem: str, n: int, kernel: str) -> list[np.ndarray]:
    """Deterministic inputs in ABI order (primal inputs, then the HVP direction)."""
    problem = problems.base_problem(problem)
    if problem == "rosenbrock":
        blocks = [1.0 + 0.5 * np.sin(1.3 * np.arange(n) + 0.1)]
    elif problem == "logsumexp":
        blocks = [0.3 * np.cos(0.7 * np.arange(n))]
    elif problem == "pendulum":
        blocks = [0.5 * np.sin(0.37 * np.arange(n)), np.array([0.3, -0.2])]
    elif problem == "pendulum_staged":
        blocks = [
            np.array([0.3, -0.2]),
            0.5 * np.sin(0.37 * np.arange(n)),
            np.array(problems.PENDULUM_PARAMS),
        ]
    elif problem == "shooting":
        blocks = [0.4 * np.cos(0.37 * np.arange(3 * n + 2))]
    elif problem == "large":
        blocks = [0.5 + 0.4 * np.cos(0.11 * np.arange(1000))]
    else:
        raise ValueError(problem)
    if kernel == "hvp":
        wrt = problems.WRT.get(problem, 0)
        blocks.append(np.cos(0.9 * np.arange(len(blocks[wrt])) + 0.2))
    return blocks


def _rosenbrock(x: np.ndarray, kernel: str, v: np.ndarray | None) -> np.ndarray:
    a, b = x[:-1], x[1:]
    r = b - a * a
    if kernel == "f":
        return np.array([np.sum(100 * r * r + (1 - a) ** 2)])
    g = np.zeros_like(x)
    g[:-1] += -400 * a * r - 2 * (1 - a)
    g[1:] += 200 * r
    if kernel == "grad":
        return g
    d = np.zeros_like(x)
    d[:-1] += -400 * r + 800 * a * a + 2
    d[1:] += 200
    off = -400 * a
    if kernel == "hess":
        H = np.diag(d) + np.diag(off, 1) + np.diag(off, -1)
        return H.reshape(-1)
    assert v is not None
    hv = d * v
    hv[:-1] += off * v[1:]
    hv[1:] += off * v[:-1]
    return hv


def _logsumexp(x: np.ndarray, kernel: str) -> np.ndarray:
    A = np.array(problems.logsumexp_matrix(len(x)))
    z = A @ x
    m = z.max()
    if kernel == "f":
        return np.array([m + np.log(np.sum(np.exp(z - m)))])
    p = np.exp(z - m)
    p /= p.sum()
    if kernel == "grad":
        return A.T @ p
    return (A.T @ (np.diag(p) - np.outer(p, p)) @ A).reshape(-1)


def _pendulum_cost(
    u: np.ndarray, x0: np.ndarray, p: tuple[float, float] = problems.PENDULUM_PARAMS
) -> np.ndarray:
    """Cost for a batch of controls ``u`` (shape (B, N)), complex-safe; ``p = (g, c)``."""
    dt = problems.PENDULUM_DT
    th = np.full(u.shape[0], x0[0], dtype=u.dtype)
    om = np.full(u.shape[0], x0[1], dtype=u.dtype)
    cost = np.zeros(u.shape[0], dtype=u.dtype)

    def rhs(t: np.ndarray, o: np.ndarray, uk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return o, -p[0] * np.sin(t) - p[1] * o + uk

    for k in range(u.shape[1]):
        uk = u[:, k]
        cost = cost + th**2 + 0.1 * om**2 + 0.01 * uk**2
        k1 = rhs(th, om, uk)
        k2 = rhs(th + dt / 2 * k1[0], om + dt / 2 * k1[1], uk)
        k3 = rhs(th + dt / 2 * k2[0], om + dt / 2 * k2[1], uk)
        k4 = rhs(th + dt * k3[0], om + dt * k3[1], uk)
        th = th + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        om = om + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return cost + 10 * (th**2 + om**2)


def _pendulum_grad(
    u: np.ndarray, x0: np.ndarray, p: tuple[float, float] = problems.PENDULUM_PARAMS
) -> np.ndarray:
    h = 1e-30
    n = len(u)
    batch = np.tile(u.astype(complex), (n, 1)) + 1j * h * np.eye(n)
    return _pendulum_cost(batch, x0, p).imag / h


def _shooting_jacobian(w: np.ndarray, N: int) -> np.ndarray:
    """The dense ``2N x (3N + 2)`` defect Jacobian: each stage's ``dF/d(theta, omega, u)`` by
    complex steps of a plain RK4 step (vectorized over the stages), minus it, plus the identity
    on the next state."""
    dt = problems.PENDULUM_DT
    st = w[: 3 * N].reshape(N, 3)
    J = np.zeros((2 * N, 3 * N + 2))
    h = 1e-30
    for c in range(3):
        z = st.astype(complex)
        z[:, c] += 1j * h
        th, om, u = z[:, 0], z[:, 1], z[:, 2]

        def rhs(t: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return o, -9.81 * np.sin(t) - 0.1 * o + u  # noqa: B023 (u of this column)

        k1 = rhs(th, om)
        k2 = rhs(th + dt / 2 * k1[0], om + dt / 2 * k1[1])
        k3 = rhs(th + dt / 2 * k2[0], om + dt / 2 * k2[1])
        k4 = rhs(th + dt * k3[0], om + dt * k3[1])
        nth = th + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        nom = om + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        rows = 2 * np.arange(N)
        J[rows, 3 * np.arange(N) + c] = -nth.imag / h
        J[rows + 1, 3 * np.arange(N) + c] = -nom.imag / h
    J[2 * np.arange(N), 3 * np.arange(N) + 3] = 1.0
    J[2 * np.arange(N) + 1, 3 * np.arange(N) + 4] = 1.0
    return J


def reference(problem: str, n: int, kernel: str, blocks: list[np.ndarray]) -> np.ndarray:
    """The exact (or documented-accuracy) output, flattened in the kernel's output order."""
    if kernel == "hess_dense":
        kernel = "hess"  # sparse Hessians are densified before the comparison, so both are n x n
    problem = problems.base_problem(problem)
    if problem == "rosenbrock":
        return _rosenbrock(blocks[0], kernel, blocks[-1] if kernel == "hvp" else None)
    if problem == "logsumexp":
        return _logsumexp(blocks[0], kernel)
    if problem == "shooting":
        return _shooting_jacobian(blocks[0], n).reshape(-1)
    if problem in ("pendulum", "pendulum_staged"):
        if problem == "pendulum":
            u, x0, p = blocks[0], blocks[1], problems.PENDULUM_PARAMS
        else:
            x0, u, p = blocks[0], blocks[1], (float(blocks[2][0]), float(blocks[2][1]))
        if kernel == "f":
            return _pendulum_cost(u[None, :], x0, p)
        if kernel == "grad":
            return _pendulum_grad(u, x0, p)
        v = blocks[-1]
        eps = 1e-4 / max(1.0, float(np.abs(v).max()))
        return (_pendulum_grad(u + eps * v, x0, p) - _pendulum_grad(u - eps * v, x0, p)) / (2 * eps)
    raise ValueError(problem)


def max_rel_error(got: np.ndarray, ref: np.ndarray) -> float:
    """||got - ref||_inf / ||ref||_inf (inf when any value is not finite)."""
    if got.shape != ref.shape or not np.all(np.isfinite(got)):
        return float("inf")
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(got - ref).max() / scale)
