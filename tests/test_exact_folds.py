"""The exact constant-chain fold ``(x * c1) * c2 -> x * (c1 * c2)`` (rule ``mul-const-exact``)
and the exact square derivative: bit-identical results on random doubles, subnormals, infinities,
NaN and signed zeros included, and the counterexamples that the rule's conditions exclude."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradgen as gg
from gradgen import SX, Function
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import Op
from gradgen.passes.simplify import SimplifyPass
from tests.test_passes import bits

x = SX.sym("x")

_TINY = 5e-324  # the smallest subnormal
SPECIAL_X = [
    0.0,
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    _TINY,
    -_TINY,
    3 * _TINY,
    2.2250738585072009e-308,  # the largest subnormal
    2.2250738585072014e-308,  # the smallest normal
    1e-310,
    -7.5e-309,
    1.0,
    -1.5,
    1e308,
    -1.7976931348623157e308,
    8.98846567431158e307,  # 2^1023
]

#: constants of every kind: powers of two on both sides of 1, integers (small, huge), fractions,
#: subnormals, huge values, negatives
CONSTANTS = [
    2.0,
    -2.0,
    4.0,
    1024.0,
    2.0**52,
    2.0**1000,
    0.5,
    0.25,
    -0.125,
    2.0**-1000,
    3.0,
    -200.0,
    100.0,
    7.0,
    2.0**53 + 2.0,
    1e300,
    0.1,
    1.5,
    -0.75,
    100.5,
    1e-300,
    _TINY,
    1e308,
    -9.81,
]


def _samples(rng: random.Random, n: int = 120) -> list[float]:
    """Random doubles from the whole range (random bit patterns: subnormals, NaNs, infinities
    and every exponent), scaled values near the under- and overflow thresholds, and the specials."""
    out = list(SPECIAL_X)
    for _ in range(n):
        out.append(_from_bits(rng.getrandbits(64)))
        out.append(rng.uniform(-1.0, 1.0) * 2.0 ** rng.randint(-1074, 1023))
    return out


def _from_bits(b: int) -> float:
    import struct

    return float(struct.unpack("<d", struct.pack("<Q", b))[0])


def _chain(c1: float, c2: float) -> Function:
    return Function("chain", [x], [(x * c1) * c2], output_names=["out"])


def _simplified(f: Function) -> tuple[Kernel, dict[str, int]]:
    k = SimplifyPass(1, rounds=2).run(f.kernel)
    return k, k.note("rules_fired", {})


def _value(k: Kernel, v: float) -> float:
    return run(k, [[v]])[0][0]


def _assert_bit_identical(before: Kernel, after: Kernel, xs: list[float], what: str) -> None:
    for v in xs:
        want, got = _value(before, v), _value(after, v)
        assert bits(want) == bits(got), (what, v, want, got)


def test_every_constant_pair_folds_only_when_bit_identical() -> None:
    """Every pair of CONSTANTS: where the rule fires, the fold is bit-identical on random doubles
    of every magnitude; and it does fire on the power-of-two chains that autodiff produces."""
    rng = random.Random(1)
    xs = _samples(rng)
    folded = 0
    for c1 in CONSTANTS:
        for c2 in CONSTANTS:
            f = _chain(c1, c2)
            after, fired = _simplified(f)
            if "mul-const-exact" not in fired:
                continue
            folded += 1
            assert after.op_count() == 1, (c1, c2)
            _assert_bit_identical(f.kernel, after, xs, f"({c1}, {c2})")
    assert folded >= 60, folded  # the rule is not vacuous


@settings(max_examples=400, deadline=None)
@given(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.integers(-(2**60), 2**60).map(float),
        st.integers(-1074, 1023).map(lambda e: 2.0**e),
    ),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.integers(-1074, 1023).map(lambda e: -(2.0**e)),
        st.integers(0, 1023).map(lambda e: 2.0**e),
    ),
)
def test_fold_is_bit_identical_on_random_doubles(v: float, c1: float, c2: float) -> None:
    f = _chain(c1, c2)
    after, _ = _simplified(f)
    _assert_bit_identical(f.kernel, after, [v, *SPECIAL_X], f"({c1}, {c2})")


@pytest.mark.parametrize(
    ("c1", "c2", "v"),
    [
        (0.5, 0.75, 3 * _TINY),  # x * 0.5 rounds in the subnormal range, then x * 0.375 again
        (1.5, 2.0, _TINY),  # a non-integer c1 rounds in the subnormal range
        (0.1, 2.0, 3 * _TINY),  # likewise (to zero)
        (4.0, 0.25, 1e308),  # x * 4 overflows, x * 1 does not
        (3.0, 0.25, 1e308),  # |c2| < 1 after an overflow
    ],
)
def test_the_conditions_exclude_the_inexact_chains(c1: float, c2: float, v: float) -> None:
    """The chains the rule refuses really differ from the folded form at some input."""
    f = _chain(c1, c2)
    after, fired = _simplified(f)
    assert "mul-const-exact" not in fired
    assert after.op_count() == 2
    direct = Function("direct", [x], [x * (c1 * c2)], output_names=["out"])
    assert bits(_value(f.kernel, v)) != bits(_value(direct.kernel, v))


def test_square_derivative_is_two_times_the_base() -> None:
    """``d(a*a) = 2*a*da``: the gradient of a product square is one multiplication by 2 (not
    ``a + a``), the same kernel as the gradient of ``a**2``, and the right numbers."""
    y = SX.sym("y")
    d = y - x * x
    for square in (d * d, d**2):
        f = Function("sq", [gg.SXVector([x, y])], [square], output_names=["out"])
        g = f.gradient(0)
        hist = g.kernel.histogram()
        assert hist.get("add", 0) == 0, hist
        for px, py in [(0.3, -1.25), (-2.0, 5.0), (1e-3, 1e3)]:
            r = py - px * px
            want = [2 * r * (-2 * px), 2 * r]
            got = run(g.kernel, [[px, py]])[0]
            assert got == pytest.approx(want, rel=1e-15)
    prod = Function("p", [gg.SXVector([x, y])], [d * d], output_names=["out"])
    powr = Function("q", [gg.SXVector([x, y])], [d**2], output_names=["out"])
    for kind in ("gradient", "hessian", "hvp"):
        a = getattr(prod, kind)(0).kernel
        b = getattr(powr, kind)(0).kernel
        assert a.op_count() == b.op_count(), kind
    assert Op.MUL in prod.gradient(0).kernel.ops


def test_a_term_added_to_itself_doubles_its_coefficient() -> None:
    """``s + s`` sends its cotangent ``3*y`` to ``s`` twice; the sweep merges both terms into the
    coefficient (``6``) instead of emitting ``3*y`` and then adding it to itself: the gradient of
    ``((s + s) * y) * 3`` with ``s = sin(x)`` is ``(y * cos(x)) * 6``, two multiplications."""
    y = SX.sym("y")
    f = Function("twice", [x, y], [((gg.sin(x) + gg.sin(x)) * y) * 3.0], output_names=["out"])
    g = f.gradient(0).kernel
    assert g.histogram() == {"input": 2, "cos": 1, "const": 1, "mul": 2}, g.histogram()
    for v, w in ((0.0, 1.0), (0.3, -2.0), (-2.5, 0.1), (1e-300, 3.0), (100.0, 7.0)):
        assert run(g, [[v], [w]])[0][0] == pytest.approx(6.0 * w * math.cos(v), rel=1e-15)
