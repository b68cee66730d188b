"""Automatic differentiation: the rule table, the sweeps, derivative kernels and Functions.

References are independent of the code under test: central finite differences with the IEEE
evaluation functions of ``ir.ops``, closed forms (Rosenbrock, log-sum-exp with numpy) and the
``math`` module.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen as gg
from gradgen import SX, Function, SXVector
from gradgen.errors import DifferentiationError
from gradgen.ir.custom import CustomCall, ElementaryDefinition
from gradgen.ir.interp import run
from gradgen.ir.kernel import KernelBuilder, Port
from gradgen.ir.ops import OP_INFO, VARIADIC, Op, evaluate
from gradgen.ir.printer import format_kernel
from gradgen.ir.verify import verify
from gradgen.passes import autodiff as ad
from gradgen.passes.autodiff_rules import RULES
from gradgen.passes.manager import PassManager

# ---- every op: forward and reverse against central finite differences ---------------------------

#: op -> samples ``(args, attr, fixed)``: points in the op's smooth domain; ``fixed`` lists
#: argument indices that are not perturbed (their derivative must be exactly 0 by convention)
DOMAIN: dict[Op, list[tuple[tuple[float, ...], object, frozenset[int]]]] = {}


def _s(
    op: Op, points: list[tuple[float, ...]], attr: object = None, fixed: frozenset[int] = frozenset()
) -> None:
    DOMAIN.setdefault(op, []).extend((p, attr, fixed) for p in points)


_BIN = [(0.7, -1.3), (2.5, 0.4), (-1.1, -2.2)]
for _op in (Op.ADD, Op.SUB, Op.MUL, Op.ATAN2, Op.HYPOT, Op.MAX, Op.MIN):
    _s(_op, _BIN)
for _op in (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE):
    _s(_op, _BIN)
_s(Op.DIV, [(0.7, -1.3), (2.5, 0.4), (-3.0, 7.0)])
_s(Op.POW, [(0.7, 1.3), (2.5, -0.4), (1.5, 3.0)])
_s(Op.NEG, [(0.3,), (-2.0,)])
_s(Op.ABS, [(0.3,), (-2.0,)])
for _op in (
    Op.SIN,
    Op.COS,
    Op.ATAN,
    Op.SINH,
    Op.COSH,
    Op.TANH,
    Op.ASINH,
    Op.EXP,
    Op.EXPM1,
    Op.CBRT,
    Op.ERF,
    Op.ERFC,
):
    _s(_op, [(0.3,), (-1.7,), (2.2,)])
_s(Op.TAN, [(0.3,), (-1.2,), (2.0,)])
for _op in (Op.ASIN, Op.ACOS, Op.ATANH):
    _s(_op, [(0.3,), (-0.8,), (0.05,)])
_s(Op.ACOSH, [(1.3,), (4.0,)])
for _op in (Op.LOG, Op.LOG10, Op.SQRT):
    _s(_op, [(0.3,), (2.0,), (17.0,)])
_s(Op.LOG1P, [(-0.5,), (0.3,), (9.0,)])
for _op in (Op.FLOOR, Op.CEIL, Op.ROUND, Op.TRUNC, Op.SIGNUM, Op.FRACT):
    _s(_op, [(0.3,), (-1.7,), (2.2,)])
for _n in (-3, -1, 2, 3, 5):
    _s(Op.POWI, [(0.7,), (-1.3,)], _n)
_s(Op.SELECT, [(2.0, 0.7, -1.3), (-0.5, 1.5, 3.0)])
_s(Op.SELECT, [(0.0, 0.7, -1.3)], fixed=frozenset({0}))
_VEC = [(0.7, -1.3, 2.1), (-0.2, 0.5, 0.45)]
for _op in (Op.NORM2, Op.NORM2SQ, Op.NORM1, Op.NORM_INF):
    _s(_op, _VEC)
for _p in (3.0, 1.5, 2.5):
    _s(Op.NORM_P, _VEC, _p)
    _s(Op.NORM_P_TO_P, _VEC, _p)
#: a user function f(x) = x0 x1^2 + x0 sin(x2): the value and its Jacobian entries (whose
#: derivatives are the Hessian entries) are checked like every other op
_CUBIC = ElementaryDefinition(
    name="cubic",
    input_dimension=3,
    parameter_dimension=0,
    parameter_defaults=(),
    eval_python=lambda x: x[0] * x[1] ** 2 + x[0] * math.sin(x[2]),
    jacobian=lambda x: [x[1] ** 2 + math.sin(x[2]), 2 * x[0] * x[1], x[0] * math.cos(x[2])],
    hessian=lambda x: [
        [0.0, 2 * x[1], math.cos(x[2])],
        [2 * x[1], 2 * x[0], 0.0],
        [math.cos(x[2]), 0.0, -x[0] * math.sin(x[2])],
    ],
)
for _part in ((), (0,), (1,), (2,)):
    _s(Op.CUSTOM, _VEC, CustomCall(_CUBIC, _part))

COMPUTED_OPS = [op for op in Op if OP_INFO[op].arity != 0]


def test_rule_table_covers_every_op() -> None:
    assert set(RULES) == set(Op)
    assert RULES[Op.CONST] is None and RULES[Op.INPUT] is None
    for op in COMPUTED_OPS:
        assert callable(RULES[op]), op


def _op_kernel(op: Op, nargs: int, attr: object):
    b = KernelBuilder()
    xs = [b.input(0, j) for j in range(nargs)]
    y = b.emit_raw(op, tuple(xs), attr)
    return b.finish(f"op_{OP_INFO[op].name}", [Port("x", nargs)], [Port("y", 1, True)], [[y]])


def _fd(op: Op, attr: object, point: tuple[float, ...], j: int) -> float:
    h = 1e-6 * max(1.0, abs(point[j]))
    up = list(point)
    dn = list(point)
    up[j] += h
    dn[j] -= h
    return (evaluate(op, attr, up) - evaluate(op, attr, dn)) / (2 * h)


@pytest.mark.parametrize("op", COMPUTED_OPS, ids=lambda op: OP_INFO[op].name)
def test_op_derivatives_match_finite_differences(op: Op) -> None:
    assert op in DOMAIN, f"no sample points for {OP_INFO[op].name}: add them to DOMAIN"
    for point, attr, fixed in DOMAIN[op]:
        n = len(point)
        assert OP_INFO[op].arity in (n, VARIADIC)
        k = _op_kernel(op, n, attr)
        grad = run(ad.gradient(k), [list(point)])[0]
        for j in range(n):
            fwd = run(ad.jvp(k, 0, [[1.0 if i == j else 0.0 for i in range(n)]]), [list(point)])[0][0]
            ref = 0.0 if j in fixed else _fd(op, attr, point, j)
            tol = 1e-6 * max(1.0, abs(ref))
            assert abs(grad[j] - ref) <= tol, (op, point, attr, j, grad[j], ref)
            assert abs(fwd - ref) <= tol, (op, point, attr, j, fwd, ref)
            assert fwd == pytest.approx(grad[j], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "op", [op for op in COMPUTED_OPS if OP_INFO[op].arity == 1], ids=lambda op: OP_INFO[op].name
)
def test_unary_second_derivatives_match_finite_differences(op: Op) -> None:
    """Hessian (reverse-over-reverse) and HVP (forward-over-reverse) of each unary op."""
    for point, attr, _ in DOMAIN[op]:
        k = _op_kernel(op, 1, attr)
        x = point[0]
        h = 1e-5 * max(1.0, abs(x))
        gk = ad.gradient(k)
        ref = (run(gk, [[x + h]])[0][0] - run(gk, [[x - h]])[0][0]) / (2 * h)
        hess = run(ad.hessian(k), [[x]])[0][0]
        hv = run(ad.hvp(k), [[x], [1.0]])[0][0]
        assert hess == pytest.approx(ref, rel=1e-5, abs=1e-6), (op, x)
        assert hv == pytest.approx(hess, rel=1e-12, abs=1e-15)


# ---- conventions at non-smooth points ------------------------------------------------------------


def _grad(expr: SX, xs: list[SX], point: list[float]) -> list[float]:
    f = Function("g", [SXVector(xs)], [expr])
    return f.gradient(0)(point)


def test_abs_and_signum_conventions() -> None:
    x = SX.sym("x")
    assert _grad(abs(x), [x], [0.0]) == [0.0]
    assert _grad(abs(x), [x], [-2.0]) == [-1.0]
    assert _grad(gg.signum(x) * 3.0, [x], [0.0]) == [0.0]


@pytest.mark.parametrize("fn", [gg.floor, gg.ceil, gg.round, gg.trunc, gg.signum])
def test_piecewise_constant_ops_have_zero_derivative_even_at_jumps(fn) -> None:
    x = SX.sym("x")
    for v in (1.0, 0.5, 0.0, -2.0):
        assert _grad(fn(x) + 2.0 * x, [x], [v]) == [2.0]


def test_comparisons_have_zero_derivative() -> None:
    x, y = SX.sym("x"), SX.sym("y")
    for e in (x < y, x <= y, x > y, x >= y, gg.eq(x, y), gg.ne(x, y)):
        assert _grad(e * 1.0 + x, [x, y], [1.0, 1.0]) == [1.0, 0.0]


def test_max_min_tie_splits_evenly_and_follows_selected_argument() -> None:
    x, y = SX.sym("x"), SX.sym("y")
    for fn in (gg.maximum, gg.minimum):
        assert _grad(fn(x, y), [x, y], [1.5, 1.5]) == [0.5, 0.5]
        assert _grad(fn(y, x), [x, y], [1.5, 1.5]) == [0.5, 0.5]
    assert _grad(gg.maximum(x, y), [x, y], [2.0, 1.0]) == [1.0, 0.0]
    assert _grad(gg.minimum(x, y), [x, y], [2.0, 1.0]) == [0.0, 1.0]
    relu = gg.maximum(x, 0.0)
    assert [_grad(relu, [x], [v])[0] for v in (-1.0, 0.0, 2.0)] == [0.0, 0.5, 1.0]
    # a NaN operand is ignored by max/min, so the other argument receives the derivative
    assert _grad(gg.maximum(x, y), [x, y], [2.0, math.nan])[0] == 1.0


def test_if_else_differentiates_the_chosen_branch_without_leaking_nan() -> None:
    x = SX.sym("x")
    e = gg.if_else(gg.sqrt(x), -x, x > 0)
    assert _grad(e, [x], [4.0]) == [0.25]
    assert _grad(e, [x], [-1.0]) == [-1.0]
    # the untaken branch sqrt(x) has an inf/NaN derivative at x <= 0: it must not leak
    f = Function("branch", [x], [gg.if_else(gg.sqrt(x) * gg.log(x), 0.0, x > 0)])
    assert f.gradient(0)(-1.0) == 0.0
    assert f.gradient(0)(0.0) == 0.0
    assert f.hessian(0)(-1.0) == 0.0
    assert f.hvp(0)(-1.0, 1.0) == 0.0
    assert f.jvp(1.0)(-1.0) == 0.0
    # the condition has derivative 0
    c = SX.sym("c")
    assert _grad(gg.if_else(x, 2.0 * x, c), [x, c], [3.0, 1.0]) == [1.0, 0.0]


def test_norm_conventions_at_the_origin_and_at_ties() -> None:
    x = SXVector.sym("x", 3)
    xs = list(x)
    assert _grad(x.norm2(), xs, [0.0, 0.0, 0.0]) == [0.0, 0.0, 0.0]
    assert _grad(x.norm1(), xs, [0.0, 0.0, 0.0]) == [0.0, 0.0, 0.0]
    assert _grad(x.norm1(), xs, [1.0, 0.0, -2.0]) == [1.0, 0.0, -1.0]
    assert _grad(x.norm_inf(), xs, [0.0, 0.0, 0.0]) == [0.0, 0.0, 0.0]
    assert _grad(x.norm_inf(), xs, [3.0, -3.0, 1.0]) == [0.5, -0.5, 0.0]
    assert _grad(x.norm_inf(), xs, [1.0, -4.0, 1.0]) == [0.0, -1.0, 0.0]
    assert _grad(x.norm_p(3.0), xs, [0.0, 0.0, 0.0]) == [0.0, 0.0, 0.0]
    a, b = SX.sym("a"), SX.sym("b")
    assert _grad(gg.hypot(a, b), [a, b], [0.0, 0.0]) == [0.0, 0.0]
    assert _grad(gg.hypot(a, b), [a, b], [3.0, 4.0]) == pytest.approx([0.6, 0.8], rel=1e-15)


def test_integer_powers_are_finite_at_zero_and_singular_ops_follow_mathematics() -> None:
    x = SX.sym("x")
    assert _grad(x**3, [x], [0.0]) == [0.0]
    assert _grad(x**2, [x], [0.0]) == [0.0]
    assert _grad(x**1.0 * x**4, [x], [0.0]) == [0.0]
    f3 = Function("cube", [x], [x**3])
    assert f3.hessian(0)(0.0) == 0.0
    assert _grad(x ** (-1), [x], [0.0]) == [-math.inf]
    assert _grad(gg.sqrt(x), [x], [0.0]) == [math.inf]
    assert _grad(gg.log(x), [x], [0.0]) == [math.inf]
    assert _grad(gg.acos(x), [x], [1.0]) == [-math.inf]
    assert _grad(gg.asin(x), [x], [1.0]) == [math.inf]
    assert math.isnan(_grad(gg.sqrt(x), [x], [-1.0])[0])
    y = SX.sym("y")
    assert _grad(gg.pow(x, y), [x, y], [2.0, 3.0]) == pytest.approx([12.0, 8.0 * math.log(2.0)])


# ---- structure: zero contributions, cones, linear work ----------------------------------------------


def test_zero_contributions_create_no_nodes() -> None:
    x, y = SX.sym("x"), SX.sym("y")
    f = Function("f", [x, y], [x * y + gg.sin(y) + gg.floor(gg.exp(x))])
    g = ad.gradient(f.kernel, 0)
    assert "cos" not in g.histogram() and "exp" not in g.histogram()
    assert format_kernel(g).splitlines()[1:] == ["  v0 = input y[0]", "  grad_x[0] = v0"]
    # only the cone of the seeded output is differentiated
    h = ad.hessian(f.kernel, 0)
    assert h.op_count() == 0 and run(h, [[1.0], [2.0]]) == [[0.0]]


def rosenbrock(n: int) -> Function:
    x = SXVector.sym("x", n)
    terms = [100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2 for i in range(n - 1)]
    return Function("rosenbrock", [x], [SXVector(terms).sum()], input_names=["x"], output_names=["f"])


def rosen_grad(x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def rosen_hess(x: np.ndarray) -> np.ndarray:
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i + 1, i + 1] += 200.0
        H[i, i + 1] = H[i + 1, i] = -400.0 * x[i]
    return H


def test_rosenbrock_hessian_is_sparse_linear_and_mirrored() -> None:
    n = 1000
    f = rosenbrock(n)
    stats: dict[str, int] = {}
    H = ad.hessian(f.kernel, 0, stats)
    verify(H)
    assert H.op_count() < 40 * n
    res = H.results[0]
    zero = [v for v in res if H.ops[v] is Op.CONST and H.attrs[v] == 0.0]
    assert len(res) - len(zero) == 3 * n - 2  # tridiagonal
    for i in range(n - 1):
        assert res[i * n + i + 1] == res[(i + 1) * n + i]  # the same value id, computed once
    small: dict[str, int] = {}
    ad.hessian(rosenbrock(n // 2).kernel, 0, small)
    assert stats["visits"] <= 2.2 * small["visits"]
    assert stats["visits"] < 100 * n
    g = ad.gradient(f.kernel)
    assert g.op_count() < 20 * n


def test_rosenbrock_derivatives_match_closed_forms() -> None:
    rng = np.random.default_rng(3)
    n = 6
    f = rosenbrock(n)
    for _ in range(3):
        x = rng.uniform(-2, 2, n)
        v = rng.uniform(-1, 1, n)
        np.testing.assert_allclose(f.gradient(0)(list(x)), rosen_grad(x), rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(f.jacobian(0)(list(x)), rosen_grad(x), rtol=1e-13, atol=1e-12)
        H = rosen_hess(x)
        np.testing.assert_allclose(f.hessian(0)(list(x)), H.ravel(), rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(f.hvp(0)(list(x), list(v)), H @ v, rtol=1e-12, atol=1e-11)
        np.testing.assert_allclose(f.vjp(2.5)(list(x)), 2.5 * rosen_grad(x), rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(
            f.vjp(wrt_index=0)(list(x), -1.5), -1.5 * rosen_grad(x), rtol=1e-13, atol=1e-12
        )
        np.testing.assert_allclose(f.jvp(list(v))(list(x)), rosen_grad(x) @ v, rtol=1e-12)
        np.testing.assert_allclose(f.jvp()(list(x), list(v)), rosen_grad(x) @ v, rtol=1e-12)


A_LSE = [[1.0, -0.5, 0.25], [0.0, 2.0, -1.0], [-1.5, 0.5, 0.0], [0.3, 0.3, 0.3]]


def log_sum_exp() -> Function:
    x = SXVector.sym("x", 3)
    z = gg.matvec(A_LSE, x)
    return Function("lse", [x], [gg.log(gg.exp(z).sum())], input_names=["x"], output_names=["f"])


def test_log_sum_exp_derivatives_match_closed_forms() -> None:
    f = log_sum_exp()
    A = np.array(A_LSE)
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = rng.uniform(-1, 1, 3)
        v = rng.uniform(-1, 1, 3)
        z = A @ x
        s = np.exp(z - z.max())
        s /= s.sum()
        g = A.T @ s
        H = A.T @ (np.diag(s) - np.outer(s, s)) @ A
        np.testing.assert_allclose(f.gradient(0)(list(x)), g, rtol=1e-12)
        np.testing.assert_allclose(f.hessian(0)(list(x)), H.ravel(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(f.hvp(0)(list(x), list(v)), H @ v, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(f.joint(("f", "grad", "hessian"))(list(x))[1], g, rtol=1e-12)


def pendulum(steps: int = 20, dt: float = 0.05) -> Function:
    """Single-shooting cost of a damped pendulum integrated with RK4: inputs u (controls), s0."""
    u = SXVector.sym("u", steps)
    s0 = SXVector.sym("s0", 2)

    def rhs(th, om, uk):
        return om, -9.81 * gg.sin(th) - 0.1 * om + uk

    th, om = s0[0], s0[1]
    cost = SX.const(0.0)
    for k in range(steps):
        uk = u[k]
        k1 = rhs(th, om, uk)
        k2 = rhs(th + 0.5 * dt * k1[0], om + 0.5 * dt * k1[1], uk)
        k3 = rhs(th + 0.5 * dt * k2[0], om + 0.5 * dt * k2[1], uk)
        k4 = rhs(th + dt * k3[0], om + dt * k3[1], uk)
        th = th + dt / 6.0 * (k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0])
        om = om + dt / 6.0 * (k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1])
        cost = cost + th * th + 0.1 * om * om + 0.01 * uk * uk
    return Function("pendulum", [u, s0], [cost], input_names=["u", "s0"], output_names=["cost"])


def _fd_grad(fn, args: list[list[float]], wrt: int, h: float = 1e-6) -> np.ndarray:
    base = args[wrt]
    out = []
    for j in range(len(base)):
        up = [list(a) for a in args]
        dn = [list(a) for a in args]
        up[wrt][j] += h
        dn[wrt][j] -= h
        out.append((np.asarray(fn(*up)) - np.asarray(fn(*dn))) / (2 * h))
    return np.array(out)


def test_pendulum_rk4_derivatives_match_finite_differences() -> None:
    f = pendulum()
    rng = np.random.default_rng(11)
    u = list(rng.uniform(-1, 1, 20))
    s0 = [0.8, -0.3]
    g = np.array(f.gradient(0)(u, s0))
    np.testing.assert_allclose(g, _fd_grad(f, [u, s0], 0), rtol=1e-6, atol=1e-7)
    g0 = np.array(f.gradient(1)(u, s0))
    np.testing.assert_allclose(g0, _fd_grad(f, [u, s0], 1), rtol=1e-6, atol=1e-7)
    H = np.array(f.hessian(0)(u, s0)).reshape(20, 20)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=0)
    Hfd = _fd_grad(lambda a, b: f.gradient(0)(a, b), [u, s0], 0, h=1e-5)
    np.testing.assert_allclose(H, Hfd, rtol=1e-5, atol=1e-6)
    v = list(rng.uniform(-1, 1, 20))
    np.testing.assert_allclose(f.hvp(0)(u, s0, v), H @ np.array(v), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(f.vjp(3.0, wrt_index=1)(u, s0), 3.0 * g0, rtol=1e-12)
    J = f.jacobian(1)(u, s0)
    np.testing.assert_allclose(J, g0, rtol=1e-12)


def test_pendulum_100_steps_gradient_and_hvp_are_linear_in_graph_size() -> None:
    f = pendulum(100)
    n_primal = f.kernel.op_count()
    g = ad.gradient(f.kernel, 0)
    hv = ad.hvp(f.kernel, 0)
    assert g.op_count() < 6 * n_primal
    assert hv.op_count() < 15 * n_primal
    u = [0.1] * 100
    ref = _fd_grad(f, [u, [0.5, 0.0]], 0)
    np.testing.assert_allclose(run(g, [u, [0.5, 0.0]])[0], ref, rtol=1e-5, atol=1e-7)


def test_deep_chains_do_not_recurse() -> None:
    x = SX.sym("x")
    e = x
    for _ in range(5000):
        e = gg.sin(e) * 0.5 + x
    f = Function("deep", [x], [e])
    g = f.gradient(0)(0.3)
    h = 1e-6
    assert g == pytest.approx((f(0.3 + h) - f(0.3 - h)) / (2 * h), rel=1e-6)
    assert f.hvp(0)(0.3, 1.0) == pytest.approx(f.hessian(0)(0.3), rel=1e-12)


def test_vector_jacobian_is_row_major() -> None:
    x = SXVector.sym("x", 2)
    y = SX.sym("y")
    f = Function(
        "vf",
        [x, y],
        [SXVector([x[0] * x[1], gg.sin(x[0]), x[1] * y])],
        input_names=["x", "y"],
        output_names=["z"],
    )
    J = f.jacobian(0)([2.0, 3.0], 5.0)
    assert [3.0, 2.0, math.cos(2.0), 0.0, 0.0, 5.0] == J
    assert f.jacobian(1)([2.0, 3.0], 5.0) == [0.0, 0.0, 3.0]
    assert f.vjp([1.0, 0.0, 2.0], wrt_index=0)([2.0, 3.0], 5.0) == [3.0, 12.0]
    assert f.vjp([1.0, 0.0, 2.0])([2.0, 3.0], 5.0) == ([3.0, 12.0], 6.0)


# ---- Functions: names, joint, seeds, pass manager ----------------------------------------------------


def energy() -> Function:
    x = SXVector.sym("x", 3)
    u = SX.sym("u")
    return Function(
        "energy",
        [x, u],
        [x.norm2sq() + u * gg.sin(x[0]) + x[1] * x[2]],
        input_names=["x", "u"],
        output_names=["e"],
    )


def test_derivative_function_names_and_ports() -> None:
    f = energy()
    cases = {
        f.gradient(0): ("energy_gradient_x", ["x", "u"], ["grad_x"]),
        f.gradient(1): ("energy_gradient_u", ["x", "u"], ["grad_u"]),
        f.jacobian(0): ("energy_jacobian_x", ["x", "u"], ["jacobian_e_x"]),
        f.hessian(0): ("energy_hessian_x", ["x", "u"], ["hessian_x"]),
        f.hvp(0): ("energy_hvp_x", ["x", "u", "v_x"], ["hvp_x"]),
        f.jvp(): ("energy_jvp_x_u", ["x", "u", "tangent_x", "tangent_u"], ["jvp_e"]),
        f.jvp([1.0, 0.0, 0.0], wrt_index=0): ("energy_jvp_x", ["x", "u"], ["jvp_e"]),
        f.vjp(wrt_index=1): ("energy_vjp_u", ["x", "u", "cotangent_e"], ["vjp_u"]),
        f.joint(("f", "jf", "hvp"), [0, 1]): (
            "energy_f_jf_hvp_x_u",
            ["x", "u", "v_x", "v_u"],
            ["e", "jacobian_e_x", "jacobian_e_u", "hvp_x", "hvp_u"],
        ),
    }
    for d, (name, ins, outs) in cases.items():
        assert (d.name, list(d.input_names), list(d.output_names)) == (name, ins, outs)
    assert f.hessian(0).output_sizes == (9,)
    assert f.gradient(1).output_sizes == (1,)


def test_generated_names_avoid_collisions() -> None:
    x = SXVector.sym("x", 2)
    v = SXVector.sym("v_x", 2)
    f = Function("c", [x, v], [x.dot(v)], input_names=["x", "v_x"], output_names=["y"])
    hv = f.hvp(0)
    assert hv.input_names == ("x", "v_x", "v_x_1")
    assert hv([1.0, 2.0], [3.0, 4.0], [1.0, 0.0]) == [0.0, 0.0]
    g = Function("c", [x, v], [x.dot(v)], input_names=["x", "grad_x"], output_names=["y"]).gradient(0)
    assert g.output_names == ("grad_x_1",)
    assert g([1.0, 2.0], [3.0, 4.0]) == [3.0, 4.0]


def test_joint_shares_one_graph_and_matches_separate_kernels() -> None:
    f = pendulum(10)
    u = [0.3] * 10
    s0 = [0.5, 0.1]
    v = [float(k) / 10 for k in range(10)]
    j = f.joint(("f", "grad", "hvp"), 0)
    cost, grad, hv = j(u, s0, v)
    assert cost == f(u, s0)
    assert grad == f.gradient(0)(u, s0)
    assert hv == pytest.approx(f.hvp(0)(u, s0, v), rel=1e-14)
    separate = f.kernel.op_count() + f.gradient(0).kernel.op_count() + f.hvp(0).kernel.op_count()
    assert j.kernel.op_count() < 0.7 * separate
    both = f.joint(("jf", "hessian"), [0, 1])
    assert both.output_names == ("jacobian_cost_u", "jacobian_cost_s0", "hessian_u", "hessian_s0")
    assert both(u, s0)[3] == pytest.approx(f.hessian(1)(u, s0), rel=1e-14)


def test_constant_and_runtime_seeds() -> None:
    x = SXVector.sym("x", 2)
    y = SX.sym("y")
    f = Function("two", [x, y], [x * y, x.sum() + y], input_names=["x", "y"], output_names=["a", "b"])
    args = ([2.0, 3.0], 5.0)
    # vjp with constant cotangents for both outputs, w.r.t. both inputs
    vx, vy = f.vjp([[1.0, -1.0], 2.0])(*args)
    assert vx == [5.0 + 2.0, -5.0 + 2.0] and vy == 2.0 - 3.0 + 2.0
    vx2, vy2 = f.vjp()(*args, [1.0, -1.0], 2.0)
    assert (vx2, vy2) == (vx, vy)
    # jvp with constant tangents for both inputs
    ja, jb = f.jvp([[1.0, 0.0], 1.0])(*args)
    assert ja == [5.0 + 2.0, 3.0] and jb == 2.0
    assert f.jvp()(*args, [1.0, 0.0], 1.0) == (ja, jb)


def test_autodiff_pass_runs_in_the_pass_manager() -> None:
    f = energy()
    events = []
    out = PassManager([ad.AutodiffPass("hessian", 0)], callback=events.append).run(f.kernel)
    assert [e.name for e in events] == ["autodiff"]
    assert out.name == "energy_hessian_x"
    assert ad.AutodiffPass(("f", "grad")).run(f.kernel).name == "energy_f_grad_x"
    assert ad.AutodiffPass("vjp", None).run(f.kernel).inputs[-1].name == "cotangent_e"


# ---- errors ----------------------------------------------------------------------------------------


def test_errors_are_differentiation_errors_with_clear_messages() -> None:
    f = energy()
    with pytest.raises(
        DifferentiationError, match=r"wrt index 2 is out of range: 'energy' has 2 input\(s\) \('x', 'u'\)"
    ):
        f.gradient(2)
    with pytest.raises(DifferentiationError, match=r"wrt must be an input index of 'energy'.*got 'x'"):
        f.hessian("x")
    with pytest.raises(DifferentiationError, match=r"got True"):
        f.jacobian(True)
    x = SXVector.sym("x", 2)
    vec = Function("vec", [x], [x * 2.0], output_names=["z"])
    with pytest.raises(
        DifferentiationError, match=r"gradient of 'vec' needs exactly one scalar output.*'z' of size 2"
    ):
        vec.gradient(0)
    with pytest.raises(DifferentiationError, match=r"hessian of 'vec' needs exactly one scalar output"):
        vec.hessian(0)
    with pytest.raises(DifferentiationError, match=r"Hessian-vector product of 'vec'"):
        vec.hvp(0)
    with pytest.raises(DifferentiationError, match=r"unknown joint kind 'gradient'"):
        f.joint(("f", "gradient"))
    with pytest.raises(DifferentiationError, match=r"repeat a kind"):
        f.joint(("f", "f"))
    with pytest.raises(DifferentiationError, match=r"lists an input more than once"):
        f.joint(("grad",), [0, 0])
    with pytest.raises(DifferentiationError, match=r"the tangent for 'x' has 2 element\(s\), expected 3"):
        f.jvp([[1.0, 2.0], 1.0])
    with pytest.raises(DifferentiationError, match=r"the cotangent for 'e' has 2 element\(s\), expected 1"):
        f.vjp([1.0, 2.0])
    with pytest.raises(
        DifferentiationError, match=r"the tangent has 3 entries but there are 2 port\(s\) \('x', 'u'\)"
    ):
        f.jvp([[1.0, 0.0, 0.0], 1.0, 2.0])
    with pytest.raises(DifferentiationError, match=r"the tangent for 'u' must be numbers, got 'a'"):
        f.jvp([[1.0, 0.0, 0.0], "a"])
    with pytest.raises(DifferentiationError, match=r"unknown autodiff kind 'grad'"):
        ad.AutodiffPass("grad")
    with pytest.raises(DifferentiationError, match=r"constant seeds apply to jvp and vjp only"):
        ad.AutodiffPass("gradient", 0, [1.0])


# ---- symbolic API ----------------------------------------------------------------------------------


def _val(e: SX, env: dict[str, float]) -> float:
    syms = [n for n in e.nodes() if n.is_symbol]
    f = Function("ev", [SXVector(syms)] if syms else [SX.sym("unused_")], [e])
    return f([env[s.name] for s in syms]) if syms else f(0.0)


def test_symbolic_api() -> None:
    x, y = SX.sym("x"), SX.sym("y")
    env = {"x": 0.7, "y": -1.2}
    d = gg.derivative(gg.sin(x) * y, x)
    assert isinstance(d, SX) and _val(d, env) == pytest.approx(math.cos(0.7) * -1.2)
    dv = gg.derivative(SXVector([x * x, x * y]), x)
    assert [_val(e, env) for e in dv] == pytest.approx([1.4, -1.2])
    v = SXVector([x, y])
    g = gg.gradient(x * x * y, v)
    assert [_val(e, env) for e in g] == pytest.approx([2 * 0.7 * -1.2, 0.49])
    J = gg.jacobian(SXVector([x * y, x + y, gg.exp(x)]), v)
    assert len(J) == 6
    assert [_val(e, env) for e in J] == pytest.approx([-1.2, 0.7, 1.0, 1.0, math.exp(0.7), 0.0])
    H = gg.hessian(x * x * y, v)
    assert [_val(e, env) for e in H] == pytest.approx([-2.4, 1.4, 1.4, 0.0])
    assert H[1] is H[2]
    t = SX.sym("t")
    jv = gg.jvp(SXVector([x * y, gg.sin(x)]), v, [t, 1.0])
    assert [_val(e, {**env, "t": 2.0}) for e in jv] == pytest.approx([2.0 * -1.2 + 0.7, math.cos(0.7) * 2.0])
    vj = gg.vjp(SXVector([x * y, gg.sin(x)]), v, [1.0, t])
    assert [_val(e, {**env, "t": 2.0}) for e in vj] == pytest.approx([-1.2 + 2.0 * math.cos(0.7), 0.7])
    hv = gg.hvp(x * x * y, v, [1.0, t])
    assert [_val(e, {**env, "t": 2.0}) for e in hv] == pytest.approx([-2.4 + 2.8, 1.4])
    assert str(gg.jvp(x * y, [x, y], [1.0, 0.0])) == "y"
    # a parameter (free symbol that is not a variable) stays symbolic
    assert str(gg.derivative(x * y, x)) == "y"
    assert str(gg.derivative(3.0, x)) == "0"


def test_symbolic_api_errors() -> None:
    x, y = SX.sym("x"), SX.sym("y")
    with pytest.raises(
        DifferentiationError, match=r"only differentiate with respect to symbols, got the expression x \* y"
    ):
        gg.gradient(x * y, [x * y])
    with pytest.raises(DifferentiationError, match=r"symbol 'x' appears more than once"):
        gg.gradient(x * y, [x, x])
    with pytest.raises(
        DifferentiationError, match=r"gradient needs a scalar expression, got a vector of length 2"
    ):
        gg.gradient(SXVector([x, y]), [x, y])
    with pytest.raises(DifferentiationError, match=r"derivative needs a scalar symbol"):
        gg.derivative(x, SXVector([x, y]))
    with pytest.raises(DifferentiationError, match=r"the tangent has 1 element\(s\), expected 2"):
        gg.jvp(x * y, [x, y], [1.0])


# ---- IR snapshots after the autodiff pass ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["gradient", "jacobian", "hessian", "hvp", "jvp", "vjp", "joint"])
def test_ir_snapshot_energy(kind: str, ir_snapshot) -> None:
    p = (
        ad.AutodiffPass(("f", "grad", "hvp"))
        if kind == "joint"
        else ad.AutodiffPass(kind, None if kind in ("jvp", "vjp") else 0)
    )
    out = PassManager([p]).run(energy().kernel)
    assert format_kernel(out) == ir_snapshot


@pytest.mark.parametrize("kind", ["gradient", "hessian", "hvp"])
def test_ir_snapshot_rosenbrock(kind: str, ir_snapshot) -> None:
    out = PassManager([ad.AutodiffPass(kind, 0)]).run(rosenbrock(3).kernel)
    assert format_kernel(out) == ir_snapshot


def test_ir_snapshot_if_else_gradient(ir_snapshot) -> None:
    x = SX.sym("x")
    f = Function("branch", [x], [gg.if_else(gg.sqrt(x), gg.maximum(x, 0.5) * x, x > 0)])
    out = PassManager([ad.AutodiffPass("gradient", 0)]).run(f.kernel)
    assert format_kernel(out) == ir_snapshot
