"""Norms neither overflow nor underflow where the norm itself is representable, and their
gradients at the origin follow the guide (0). Rust agrees: ``tests/test_math_grid.py`` checks
the helpers on huge, tiny and subnormal entries."""

from __future__ import annotations

import math

import pytest

import gradgen as gg
from gradgen import Function, SXVector
from gradgen.ir import ieee

V = SXVector.sym("v", 3)


def _value_and_gradient(expr: gg.SX, point: list[float]) -> tuple[float, list[float]]:
    f = Function("f", [V], [expr])
    return f(point), f.gradient(0)(point)


@pytest.mark.parametrize(
    ("point", "norm"),
    [
        ([1e200, 1e200, 0.0], math.sqrt(2.0) * 1e200),
        ([1e-200, 0.0, 0.0], 1e-200),
        ([3e-320, -4e-320, 0.0], 5e-320),
        ([1e308, 1e308, 1e308], math.sqrt(3.0) * 1e308),
        ([-1e-170, 1e-170, 1e-170], math.sqrt(3.0) * 1e-170),
    ],
)
def test_norm2_is_scaled(point: list[float], norm: float) -> None:
    value, grad = _value_and_gradient(V.norm2(), point)
    assert value == pytest.approx(norm, rel=4e-16)
    reference = [x / norm for x in point]
    assert grad == pytest.approx(reference, rel=4e-16, abs=0.0)


def test_norm2_keeps_inf_and_nan() -> None:
    assert ieee.norm2(1.0, -math.inf, 2.0) == math.inf
    assert math.isnan(ieee.norm2(1e300, math.nan, 1e300))
    assert ieee.norm2(0.0, -0.0, 0.0) == 0.0
    assert ieee.norm2(3.0, 4.0) == 5.0  # the unscaled path: exactly sqrt of the sum


@pytest.mark.parametrize("p", [0.5, 1.5, 3.0])
@pytest.mark.parametrize("point", [[1e200, -1e200, 0.0], [1e-200, 2e-200, 0.0], [1e-310, 0.0, 0.0]])
def test_norm_p_is_scaled(p: float, point: list[float]) -> None:
    value, _ = _value_and_gradient(V.norm_p(p), point)
    m = max(abs(x) for x in point)
    scaled_sum = math.fsum((abs(x) / m) ** p for x in point)
    reference = m * scaled_sum ** (1.0 / p)
    # where the plain sum is finite, its power 1/p (rounded) costs about |ln(sum)| ulp
    ln_sum = p * math.log(m) + math.log(scaled_sum)
    assert value == pytest.approx(reference, rel=2.0**-52 * (4.0 + abs(ln_sum)))
    assert math.isfinite(value) and value > 0.0


@pytest.mark.parametrize("p", [0.5, 1.5, 2.0, 3.0])
def test_norm_p_at_the_origin_is_zero_with_gradient_zero(p: float) -> None:
    value, grad = _value_and_gradient(V.norm_p(p), [0.0, 0.0, 0.0])
    assert value == 0.0
    assert grad == [0.0, 0.0, 0.0]


def test_norm2_gradient_at_the_origin_is_zero() -> None:
    assert _value_and_gradient(V.norm2(), [0.0, -0.0, 0.0]) == (0.0, [0.0, 0.0, 0.0])
