"""Constants that do not survive conversion to the scalar type: a log warning and a note in
the generation result (``f32`` crates turn ``1e300`` into infinity and ``1e-300`` into 0)."""

from __future__ import annotations

import logging
import pathlib

import pytest

import gradgen as gg
from gradgen import SX, Function, SXVector

X = SX.sym("x")
F32 = gg.RustBackendConfig().with_scalar_type("f32")


def test_lost_f32_constants_are_noted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    f = Function("f", [X], [X * 1e300 + X * 1e-300 - 1e-40 * X + 2.5 * X + 1e300])
    with caplog.at_level(logging.WARNING, logger="gradgen"):
        result = gg.codegen.generate_rust(f, F32)
    assert result.notes == (
        "the constant 1e+300 in 'f' is f32::INFINITY (beyond the f32 range)",
        "the constant 1e-300 in 'f' is 0.0 (below the smallest f32)",
        "the constant 1e-40 in 'f' is the subnormal 9.99994610111476e-41 (precision lost)",
    )
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "gradgen.codegen"]
    assert [r.getMessage() for r in warnings] == list(result.notes)
    assert "f32::INFINITY" in result.source  # the code is still generated


def test_constants_that_survive_give_no_note(caplog: pytest.LogCaptureFixture) -> None:
    smallest_normal = 1.1754943508222875e-38
    f = Function("g", [X], [X * 0.1 + X * 3.4e38 + smallest_normal * X - 1e-30 + X * 1e300])
    with caplog.at_level(logging.WARNING, logger="gradgen"):
        f64 = gg.codegen.generate_rust(f)  # f64 keeps every constant
        g = Function("g", [X], [X * 0.1 + X * 3.4e38 + smallest_normal * X - 1e-30])
        f32 = gg.codegen.generate_rust(g, F32)
    assert f64.notes == () and f32.notes == ()
    assert not [r for r in caplog.records if r.name == "gradgen.codegen"]


def test_builder_crates_and_norm_orders_are_checked(tmp_path: pathlib.Path) -> None:
    v = SXVector.sym("v", 2)
    f = Function("h", [v], [v.norm_p(1e39) + 1e-50])
    built = (
        gg.CodeGenerationBuilder()
        .with_backend_config(F32)
        .for_function(f)
        .add_primal()
        .done()
        .build(tmp_path / "c")
    )
    assert built.notes == (
        "the constant 1e+39 in 'c_h_f' is f32::INFINITY (beyond the f32 range)",
        "the constant 1e-50 in 'c_h_f' is 0.0 (below the smallest f32)",
    )
