"""The benchmark problems, written once and shared by every system.

Each problem is a plain Python function of a small *math adapter* ``M`` that supplies the
system's symbols and elementary functions: ``M.vec(name, n)`` (a list of ``n`` scalar symbols),
``M.sin``, ``M.exp`` and ``M.log``. Everything else is ordinary Python arithmetic on the
system's scalar expressions, so the three systems receive exactly the same operations in the
same order. This module imports nothing from any of the systems: it runs in each system's own
interpreter (the import name ``gradgen`` is shared by this project and the PyPI package).
"""

from __future__ import annotations

import math
from typing import Any

# (problem, size) -> kernels; the kernels every system generates for it.
KERNELS = {
    "rosenbrock": ("f", "grad", "hess", "hvp"),
    "rosenbrock_product": ("f", "grad", "hess", "hvp"),
    "logsumexp": ("f", "grad", "hess"),
    "pendulum": ("f", "grad", "hvp"),
    "shooting": ("jac",),
    "pendulum_product": ("f", "grad", "hvp"),
    "pendulum_staged": ("f", "grad", "hvp"),
}

# problems only some systems are measured on: gradgen 0.5.2 has no sparse Jacobian (its dense
# one of the 1,000-stage defects has 6 million entries); it builds the staged problem with its
# own SingleShootingProblem
SYSTEMS_OF = {
    "shooting": ("ours", "casadi"),
    "pendulum_staged": ("ours", "casadi", "casadi_loop", "gradgen052"),
}

#: the systems of a problem not in SYSTEMS_OF (``casadi_loop`` exists for staged problems only)
UNROLLED_SYSTEMS = ("ours", "casadi", "casadi_cse", "gradgen052")

#: staged problems: ours builds them with ``SingleShootingProblem`` (loops in Rust), CasADi as
#: the unrolled graph (``casadi``) and as a ``mapaccum`` over one stage (``casadi_loop``)
STAGED = frozenset({"pendulum_staged"})

#: the input the derivatives are taken with respect to (default 0)
WRT = {"pendulum_staged": 1}

#: a ``*_product`` problem is its base problem with every square written as a product ``d * d``
#: (as users often write it) instead of ``d ** 2``; it computes the same function
PRODUCT_SUFFIX = "_product"

#: system -> {kernel of KERNELS: the kernel that system builds instead}: gradgen 0.5.2 has no
#: sparse Hessian, its row is its dense row-major Hessian, beside ours (``hess_dense``)
SYSTEM_KERNELS = {"gradgen052": {"hess": "hess_dense"}}

# ours only: an extra kernel measured next to one of KERNELS (our dense row-major Hessian next
# to the sparse one that is compared with CasADi's sparse Hessian)
OURS_EXTRA = {"hess": "hess_dense"}

PENDULUM_DT = 0.05


def _power_square(a: Any) -> Any:
    return a**2


def _product_square(a: Any) -> Any:
    return a * a


def rosenbrock(M: Any, n: int, sq: Any = _power_square) -> tuple[list[list[Any]], Any]:
    """sum_{i<n-1} 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2; inputs [x]."""
    x = M.vec("x", n)
    acc = None
    for i in range(n - 1):
        term = 100 * sq(x[i + 1] - sq(x[i])) + sq(1 - x[i])
        acc = term if acc is None else acc + term
    return [x], acc


def rosenbrock_product(M: Any, n: int) -> tuple[list[list[Any]], Any]:
    """:func:`rosenbrock` with its squares written as products ``d * d``."""
    return rosenbrock(M, n, _product_square)


def logsumexp_matrix(n: int) -> list[list[float]]:
    """A[j][i] = sin(20 i + j), an n x n matrix of constants."""
    return [[math.sin(20 * i + j) for i in range(n)] for j in range(n)]


def logsumexp(M: Any, n: int) -> tuple[list[list[Any]], Any]:
    """log(sum_j exp(sum_i A[j][i] x[i])); inputs [x]."""
    x = M.vec("x", n)
    A = logsumexp_matrix(n)
    total = None
    for j in range(n):
        z = None
        for i in range(n):
            t = A[j][i] * x[i]
            z = t if z is None else z + t
        e = M.exp(z)
        total = e if total is None else total + e
    return [x], M.log(total)


def _pendulum_rhs(M: Any, th: Any, om: Any, u: Any) -> tuple[Any, Any]:
    return om, -9.81 * M.sin(th) - 0.1 * om + u


def pendulum(M: Any, N: int, sq: Any = _power_square) -> tuple[list[list[Any]], Any]:
    """RK4 single shooting of a damped pendulum; inputs [u (N), x0 (2)], differentiated wrt u."""
    u = M.vec("u", N)
    x0 = M.vec("x0", 2)
    dt = PENDULUM_DT
    th, om = x0[0], x0[1]
    cost = None
    for k in range(N):
        stage = sq(th) + 0.1 * sq(om) + 0.01 * sq(u[k])
        cost = stage if cost is None else cost + stage
        k1t, k1o = _pendulum_rhs(M, th, om, u[k])
        k2t, k2o = _pendulum_rhs(M, th + dt / 2 * k1t, om + dt / 2 * k1o, u[k])
        k3t, k3o = _pendulum_rhs(M, th + dt / 2 * k2t, om + dt / 2 * k2o, u[k])
        k4t, k4o = _pendulum_rhs(M, th + dt * k3t, om + dt * k3o, u[k])
        th = th + dt / 6 * (k1t + 2 * k2t + 2 * k3t + k4t)
        om = om + dt / 6 * (k1o + 2 * k2o + 2 * k3o + k4o)
    return [u, x0], cost + 10 * (sq(th) + sq(om))


SHOOTING_NX, SHOOTING_NU = 2, 1


def shooting(M: Any, N: int) -> tuple[list[list[Any]], list[Any]]:
    """Multiple-shooting defects of the damped pendulum, ``d_k = x_{k+1} - F(x_k, u_k)`` with
    ``F`` one RK4 step; inputs [w = (x_0, u_0, x_1, u_1, ..., x_N)], ``2N`` outputs. Its
    Jacobian w.r.t. ``w`` (kernel ``jac``) is banded: ``2N x (3N + 2)``, 8 nonzeros per stage."""
    w = M.vec("w", (N + 1) * SHOOTING_NX + N * SHOOTING_NU)
    dt = PENDULUM_DT
    out = []
    for k in range(N):
        o = k * (SHOOTING_NX + SHOOTING_NU)
        th, om, u = w[o], w[o + 1], w[o + 2]
        k1t, k1o = _pendulum_rhs(M, th, om, u)
        k2t, k2o = _pendulum_rhs(M, th + dt / 2 * k1t, om + dt / 2 * k1o, u)
        k3t, k3o = _pendulum_rhs(M, th + dt / 2 * k2t, om + dt / 2 * k2o, u)
        k4t, k4o = _pendulum_rhs(M, th + dt * k3t, om + dt * k3o, u)
        out.append(w[o + 3] - (th + dt / 6 * (k1t + 2 * k2t + 2 * k3t + k4t)))
        out.append(w[o + 4] - (om + dt / 6 * (k1o + 2 * k2o + 2 * k3o + k4o)))
    return [w], out


PENDULUM_PARAMS = (9.81, 0.1)


def pendulum_stage(M: Any, x: Any, u: Any, p: Any) -> tuple[list[Any], Any]:
    """One stage of the staged pendulum: the RK4 step ``x_next`` of the damped pendulum with
    parameters ``p = (g, c)`` (gravity over length, damping) and the stage cost of ``(x, u)``."""
    g, c = p[0], p[1]
    dt = PENDULUM_DT

    def rhs(th: Any, om: Any) -> tuple[Any, Any]:
        return om, -g * M.sin(th) - c * om + u

    th, om = x[0], x[1]
    cost = th**2 + 0.1 * om**2 + 0.01 * u**2
    k1t, k1o = rhs(th, om)
    k2t, k2o = rhs(th + dt / 2 * k1t, om + dt / 2 * k1o)
    k3t, k3o = rhs(th + dt / 2 * k2t, om + dt / 2 * k2o)
    k4t, k4o = rhs(th + dt * k3t, om + dt * k3o)
    nth = th + dt / 6 * (k1t + 2 * k2t + 2 * k3t + k4t)
    nom = om + dt / 6 * (k1o + 2 * k2o + 2 * k3o + k4o)
    return [nth, nom], cost


def pendulum_terminal(x: Any) -> Any:
    """The terminal cost of the staged pendulum."""
    return 10 * (x[0] ** 2 + x[1] ** 2)


def pendulum_staged(M: Any, N: int) -> tuple[list[list[Any]], Any]:
    """Single shooting of the damped pendulum as one unrolled graph: inputs [x0 (2), u (N),
    p (2)], cost ``sum_k ell(x_k, u_k) + Vf(x_N)`` (:func:`pendulum_stage`), differentiated wrt
    ``u``. With ``p = PENDULUM_PARAMS`` it computes :func:`pendulum`'s cost."""
    x0, u, p = M.vec("x0", 2), M.vec("u", N), M.vec("p", 2)
    x, cost = list(x0), None
    for k in range(N):
        x, ell = pendulum_stage(M, x, u[k], p)
        cost = ell if cost is None else cost + ell
    return [x0, u, p], cost + pendulum_terminal(x)


def pendulum_stage_functions(M: Any) -> tuple[Any, Any, Any]:
    """Ours and gradgen 0.5.2 (``M.g`` is the ``gradgen`` module): the dynamics, stage cost and
    terminal cost of the staged pendulum as Functions of :func:`pendulum_stage` and
    :func:`pendulum_terminal`."""
    g = M.g
    x, u, p = M.vec("x", 2), M.vec("u", 1), M.vec("p", 2)
    nxt, ell = pendulum_stage(M, x, u[0], p)
    names = ["x", "u", "p"]
    f = g.Function("dynamics", [x, u, p], [g.SXVector(nxt)], names, ["x_next"])
    stage = g.Function("ell", [x, u, p], [ell], names, ["l"])
    terminal = g.Function("vf", [x, p], [pendulum_terminal(x)], ["x", "p"], ["v"])
    return f, stage, terminal


def pendulum_staged_ours(M: Any, N: int, kernel: str, functions: Any = None) -> Any:
    """Ours and gradgen 0.5.2 (the same spellings): the staged kernel ``kernel`` of the staged
    pendulum, a ``SingleShootingProblem`` over ``functions`` (default :func:`pendulum_stage_functions`),
    simplified at ``medium`` (the bench's level)."""
    f, stage, terminal = functions or pendulum_stage_functions(M)
    problem = (
        M.g.SingleShootingProblem("bench")
        .with_horizon(N)
        .with_dynamics(f)
        .with_costs(stage, terminal)
        .with_simplification("medium")
    )
    return {"f": problem.primal, "grad": problem.gradient, "hvp": problem.hvp}[kernel]()


def pendulum_product(M: Any, N: int) -> tuple[list[list[Any]], Any]:
    """:func:`pendulum` with its squares written as products ``d * d``."""
    return pendulum(M, N, _product_square)


PROBLEMS = {
    "rosenbrock": rosenbrock,
    "rosenbrock_product": rosenbrock_product,
    "logsumexp": logsumexp,
    "pendulum": pendulum,
    "pendulum_product": pendulum_product,
    "shooting": shooting,
    "pendulum_staged": pendulum_staged,
}


def base_problem(problem: str) -> str:
    """The problem a ``*_product`` formulation rewrites (its inputs and reference values)."""
    return problem.removesuffix(PRODUCT_SUFFIX)


def large_primal(M: Any, nodes: int) -> tuple[list[list[Any]], Any]:
    """A deterministic primal expression of about ``nodes`` operations over 1000 inputs.

    Each step adds three operations (a multiply, a sine and an add) and mixes a different
    input into a running value, so the graph is deep and has little sharing.
    """
    x = M.vec("x", 1000)
    acc = x[0]
    for k in range(nodes // 3):
        acc = acc + M.sin(acc * x[(7 * k + 1) % 1000])
    return [x], acc
