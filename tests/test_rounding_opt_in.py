"""The opt-in for rewrites that change rounding: the ``high`` level (and ``max`` above it).

Code generation defaults to ``basic`` (bit-identical); reassociating constants, combining like
terms and dividing by a rounded reciprocal happen only when a caller asks for ``high``. These
tests bound the error of each such rewrite against the exact (rational) value of the original
expression: ``u = 2^-53`` is the unit roundoff, and each bound is the classical one for the two
roundings of the rewritten form.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction

import pytest

import gradgen as gg
from gradgen import SX, Function, RustBackendConfig
from gradgen.ir.interp import run
from gradgen.passes.simplify import SimplifyPass
from tests.benchmarks.counting import count_ops

U = Fraction(1, 2**53)
x = SX.sym("x")


def _points(rng: random.Random, n: int = 300) -> list[float]:
    """Finite doubles of moderate magnitude (no intermediate over- or underflows)."""
    return [rng.uniform(-1.0, 1.0) * 2.0 ** rng.randint(-60, 60) for _ in range(n)]


def _consts(rng: random.Random) -> float:
    return rng.choice([-1.0, 1.0]) * rng.uniform(0.01, 100.0)


#: rule -> (expression of x and two constants, exact value, error bound given the constants)
Case = tuple[
    Callable[[SX, float, float], SX],
    Callable[[Fraction, Fraction, Fraction], Fraction],
    Callable[[Fraction, Fraction, Fraction, Fraction], Fraction],
]

CASES: dict[str, Case] = {
    # x * fl(c1 c2): two roundings of a product
    "mul-const-assoc": (
        lambda v, a, b: (v * a) * b,
        lambda v, a, b: v * a * b,
        lambda v, a, b, exact: (2 * U + U * U) * abs(exact),
    ),
    # fl(x + fl(c1 + c2)) = (x + s)(1 + d2), s = (c1 + c2)(1 + d1)
    "add-const-assoc": (
        lambda v, a, b: (v + a) + b,
        lambda v, a, b: v + a + b,
        lambda v, a, b, exact: U * abs(a + b) * (1 + U) + U * (abs(exact) + U * abs(a + b)),
    ),
    # x * fl(c1 + c2)
    "add-like-terms": (
        lambda v, a, b: v * a + v * b,
        lambda v, a, b: v * (a + b),
        lambda v, a, b, exact: (2 * U + U * U) * abs(exact),
    ),
    # x * fl(1 / c1)
    "div-const": (
        lambda v, a, b: v / a,
        lambda v, a, b: v / a,
        lambda v, a, b, exact: (2 * U + U * U) * abs(exact),
    ),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rounding_rewrite_error_is_bounded_against_the_exact_value(rule: str) -> None:
    expr, exact_of, bound_of = CASES[rule]
    rng = random.Random(rule)
    changed = 0
    for _ in range(12):
        a, b = _consts(rng), _consts(rng)
        f = Function("r", [x], [expr(x, a, b)], output_names=["out"])
        k = SimplifyPass(3, rounds=2).run(f.kernel)
        assert rule in k.note("rules_fired", {}), (rule, a, b)
        # fewer instructions, or (x / c -> x * (1/c)) a cheaper one
        assert k.op_count() < f.kernel.op_count() or rule == "div-const"
        for v in _points(rng, 60):
            got = run(k, [[v]])[0][0]
            before = run(f.kernel, [[v]])[0][0]
            exact = exact_of(Fraction(v), Fraction(a), Fraction(b))
            assert abs(Fraction(got) - exact) <= bound_of(Fraction(v), Fraction(a), Fraction(b), exact), (
                rule,
                v,
                a,
                b,
            )
            changed += got != before
    # the rewrite does change some results: it is not exact, so it is rightly opt-in
    assert changed > 0, rule


@pytest.mark.parametrize("level", ["none", "basic", "medium"])
def test_rounding_rewrites_are_off_below_high(level: str) -> None:
    """The default level (``basic``) and ``medium`` keep ``(x * 3) * 5`` as two multiplications
    and ``x / 3`` as a division: no rounding-changing rewrite runs unless asked for."""
    f = Function("r", [x], [gg.SXVector([(x * 3.0) * 5.0, x / 3.0, (x + 0.1) + 0.2])], output_names=["out"])
    assert RustBackendConfig().simplification == "basic"
    src = f.generate_rust(config=RustBackendConfig().with_simplification(level)).source
    high = f.generate_rust(config=RustBackendConfig().with_simplification("high")).source
    assert count_ops(src)[0] == 5
    assert count_ops(high)[0] == 3
    assert "x / 3.0" in src or "/ 3.0" in src
    for v in (1.0, 3.0, 0.7, -12.5):
        want = [(v * 3.0) * 5.0, v / 3.0, (v + 0.1) + 0.2]
        got = run(SimplifyPass(["none", "basic", "medium"].index(level)).run(f.kernel), [[v]])[0]
        assert got == want


def test_factoring_a_constant_out_of_a_sum_is_bounded_against_the_exact_value() -> None:
    """``(a + x*c) + y*c -> a + (x + y)*c`` rounds three times from the exact sum: the error is at
    most ``3u (1 + u)^2`` times the sum of the magnitudes of the three terms (and ``x*c + y*c ->
    (x + y)*c`` likewise with two)."""
    a, y = SX.sym("a"), SX.sym("y")
    rng = random.Random("add-factor-const")
    changed = 0
    for _ in range(12):
        c, d = _consts(rng), _consts(rng)
        f = Function(
            "r", [a, x, y], [gg.SXVector([(a + x * c) + y * c, x * d - y * -d])], output_names=["out"]
        )
        k = SimplifyPass(3, rounds=2).run(f.kernel)
        assert k.note("rules_fired", {}).get("add-factor-const") == 2
        assert k.op_count() <= f.kernel.op_count() - 2  # (the two share x + y: one less again)
        fc, fd = Fraction(c), Fraction(d)
        for _ in range(60):
            va, vx, vy = _points(rng, 3)
            got = run(k, [[va], [vx], [vy]])[0]
            before = run(f.kernel, [[va], [vx], [vy]])[0]
            fa, fx, fy = Fraction(va), Fraction(vx), Fraction(vy)
            bound = 3 * U * (1 + U) ** 2 * (abs(fa) + abs(fc) * (abs(fx) + abs(fy)))
            assert abs(Fraction(got[0]) - (fa + fx * fc + fy * fc)) <= bound, (va, vx, vy, c)
            bound = 2 * U * (1 + U) * abs(fd) * (abs(fx) + abs(fy))
            assert abs(Fraction(got[1]) - (fx * fd + fy * fd)) <= bound, (vx, vy, d)
            changed += got != before
    assert changed > 0  # it does change results: rightly opt-in
