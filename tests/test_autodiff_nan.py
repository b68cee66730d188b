"""At the exact simplification levels a derivative is NaN where the function is NaN, also when
terms cancel (``1/x - 1/x``, ``erf + erfc``); only the inexact levels (``medium`` and above,
opt-in) fold ``0 * p`` and ``x - x`` to 0."""

from __future__ import annotations

import math
import pathlib

import pytest

import gradgen as gg
from gradgen import SX, Function

X = SX.sym("x")
CANCEL = Function("cancel", [X], [1 / X - 1 / X])
ERFSUM = Function("erfsum", [X], [gg.erf(X) + gg.erfc(X)])


def _nan(v: object) -> bool:
    flat = v if isinstance(v, list) else [v]
    return all(isinstance(e, float) and math.isnan(e) for e in flat)


def test_cancelling_terms_keep_nan_in_gradient_hessian_and_hvp() -> None:
    assert _nan(CANCEL(0.0))
    assert _nan(CANCEL.gradient(0)(0.0))
    assert _nan(CANCEL.hessian(0)(0.0))
    assert _nan(CANCEL.hvp(0)(0.0, 1.0))
    assert _nan(CANCEL.jvp([1.0])(0.0))
    # elsewhere the derivatives are zero, as before
    assert CANCEL.gradient(0)(2.0) == 0.0
    assert CANCEL.hessian(0)(2.0) == 0.0


def test_hessian_of_erf_plus_erfc_is_nan_at_nan() -> None:
    assert _nan(ERFSUM(math.nan))
    assert _nan(ERFSUM.gradient(0)(math.nan))
    assert _nan(ERFSUM.hessian(0)(math.nan))
    assert ERFSUM.hessian(0)(0.3) == 0.0
    assert ERFSUM.gradient(0)(0.3) == pytest.approx(0.0, abs=1e-15)


def test_a_zero_factor_keeps_nan_of_what_it_multiplies() -> None:
    f = Function("zero_times", [X], [gg.sin(X) * 0.0])
    assert _nan(f(math.inf))
    assert _nan(f.gradient(0)(math.inf))
    assert f.gradient(0)(1.0) == 0.0


def test_the_symbolic_api_agrees() -> None:
    (g,) = gg.gradient(1 / X - 1 / X, X)
    assert _nan(Function("g", [X], [g])(0.0))


def test_inexact_levels_fold_the_cancellation() -> None:
    """``medium`` (opt-in) may differ for inf/NaN operands: there the cancelled derivative is 0."""
    g = gg.simplify(CANCEL.gradient(0), "medium")
    assert g(0.0) == 0.0 and g(2.0) == 0.0
    exact = gg.simplify(CANCEL.gradient(0), "basic")
    assert _nan(exact(0.0))


def test_generated_rust_keeps_nan_at_the_default_level(tmp_path: pathlib.Path) -> None:
    from tests.cargo import cargo_env

    builder = (
        gg.CodeGenerationBuilder()
        .for_function(CANCEL)
        .add_gradient()
        .add_hessian()
        .done()
        .for_function(ERFSUM)
        .add_hessian()
        .done()
    )
    crate = gg.compile(builder, build_dir=tmp_path, env=cargo_env())
    by_name = dict(crate)
    assert sorted(by_name) == ["kernels_cancel_grad", "kernels_cancel_hessian", "kernels_erfsum_hessian"], (
        sorted(by_name)
    )
    assert _nan(by_name["kernels_cancel_grad"](0.0))
    assert _nan(by_name["kernels_cancel_hessian"](0.0))
    assert _nan(by_name["kernels_erfsum_hessian"](math.nan))
    assert by_name["kernels_cancel_grad"](2.0) == 0.0
