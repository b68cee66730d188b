"""Derivative kernels compiled to Rust and run: the results must match Python evaluation (f64
tight) and the closed forms / finite differences of ``tests/test_autodiff.py`` (f32 loose).

All derivative kernels go into one crate per scalar type (f64 ``std`` and f32 ``no_std``); a
small ``src/main.rs`` calls every kernel on fixed arguments and prints the outputs, which the
test parses. The f64 crate also holds the snapshotted derivative modules so that every
snapshot is compiled.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import gradgen as gg
from gradgen import SX, Function, SXVector
from gradgen.backends.crate import write_crate
from gradgen.backends.rust_literals import shortest_f32, to_f32
from gradgen.backends.rust_module import emit_module
from gradgen.codegen import compile_kernel, generate_rust
from gradgen.config import RustBackendConfig
from tests.cargo import build_and_lint, cargo, rustfmt_check
from tests.test_autodiff import (
    energy,
    log_sum_exp,
    pendulum,
    rosen_grad,
    rosen_hess,
    rosenbrock,
)


def _special() -> Function:
    """A scalar function touching most smooth ops, for gradients/Hessians through every rule."""
    x = SXVector.sym("x", 3)
    a, b, c = x[0], x[1], x[2]
    terms = [
        gg.sin(a) * gg.cos(b),
        gg.tan(0.3 * c),
        gg.asin(0.4 * a),
        gg.acos(0.3 * b),
        gg.atan(c),
        gg.sinh(0.5 * a),
        gg.cosh(0.2 * b),
        gg.tanh(c),
        gg.asinh(a * b),
        gg.acosh(2.0 + c * c),
        gg.atanh(0.3 * c),
        gg.exp(0.1 * a),
        gg.expm1(0.2 * b),
        gg.log(2.0 + a * a),
        gg.log1p(b * b),
        gg.log10(3.0 + c * c),
        gg.sqrt(4.0 + a * a),
        gg.cbrt(2.0 + b),
        gg.erf(c),
        gg.erfc(0.5 * a),
        gg.atan2(a, 2.0 + b * b),
        gg.hypot(a, c),
        gg.pow(2.0 + b * b, c),
        a**3,
        b ** (-2),
        gg.maximum(a, c) * gg.minimum(b, c),
        abs(a - b),
        x.norm2() + x.norm_p(3.0),
        x.norm_p_to_p(2.5) + x.norm1() + x.norm_inf() + x.norm2sq(),
        gg.if_else(gg.sqrt(a), gg.log(-a + 1e-3), a > 0),
    ]
    return Function("special", [x], [SXVector(terms).sum()], input_names=["x"], output_names=["s"])


def _vector_fn() -> Function:
    x = SXVector.sym("x", 3)
    p = SX.sym("p")
    y = SXVector([x[0] * x[1] * p, gg.sin(x[2]) + x[0], gg.exp(x[1] * p)])
    return Function("vf", [x, p], [y], input_names=["x", "p"], output_names=["y"])


RNG = np.random.default_rng(5)
U20 = list(RNG.uniform(-1, 1, 20))
V20 = list(RNG.uniform(-1, 1, 20))
X6 = list(RNG.uniform(-1.5, 1.5, 6))
V6 = list(RNG.uniform(-1, 1, 6))
X3 = [0.4, -0.7, 0.9]
V3 = [0.3, 1.0, -0.5]


def _cases() -> list[tuple[str, Function, list[list[float]]]]:
    """``(rust function name, derivative Function, arguments)``."""
    ros, lse, pen, en, sp, vf = rosenbrock(6), log_sum_exp(), pendulum(20), energy(), _special(), _vector_fn()
    s0 = [0.8, -0.3]
    return [
        ("ros_grad", ros.gradient(0), [X6]),
        ("ros_hess", ros.hessian(0), [X6]),
        ("ros_hvp", ros.hvp(0), [X6, V6]),
        ("ros_jac", ros.jacobian(0), [X6]),
        ("lse_grad", lse.gradient(0), [X3]),
        ("lse_hess", lse.hessian(0), [X3]),
        ("lse_hvp", lse.hvp(0), [X3, V3]),
        ("pen_grad", pen.gradient(0), [U20, s0]),
        ("pen_hvp", pen.hvp(0), [U20, s0, V20]),
        ("pen_vjp", pen.vjp(wrt_index=1), [U20, s0, [2.0]]),
        ("pen_jac_s0", pen.jacobian(1), [U20, s0]),
        ("energy_joint", en.joint(("f", "grad", "hvp"), [0, 1]), [X3, [1.5], V3, [0.5]]),
        ("special_grad", sp.gradient(0), [X3]),
        ("special_hess", sp.hessian(0), [X3]),
        ("vf_jac", vf.jacobian(0), [X3, [0.7]]),
        ("vf_jvp", vf.jvp(wrt_index=0), [X3, [0.7], V3]),
        ("vf_vjp", vf.vjp(), [X3, [0.7], V3]),
    ]


SNAPSHOT_CASES = {
    "energy_gradient": lambda: energy().gradient(0),
    "energy_hessian": lambda: energy().hessian(0),
    "energy_hvp": lambda: energy().hvp(0),
    "rosenbrock3_hessian": lambda: rosenbrock(3).hessian(0),
}


def _literal(v: float, scalar: str) -> str:
    if scalar == "f32":
        return shortest_f32(v)
    text = repr(float(v))
    return text if ("." in text or "e" in text) else text + ".0"


def _main_rs(crate: str, compiled: list[tuple[str, object, list[list[float]]]], scalar: str) -> str:
    lines = [
        f"use {crate}::*;",
        "",
        f"fn show(label: &str, values: &[{scalar}]) {{",
        '    let text: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();',
        '    println!("{label} {}", text.join(" "));',
        "}",
        "",
        "fn main() {",
    ]
    for name, kernel, args in compiled:
        lines.append("    {")
        call = []
        for k, a in enumerate(args):
            lines.append(
                f"        let a{k}: [{scalar}; {len(a)}] = [{', '.join(_literal(v, scalar) for v in a)}];"
            )
            call.append(f"&a{k}")
        for k, p in enumerate(kernel.outputs):
            lines.append(f"        let mut o{k} = [0.0; {p.size}];")
            call.append(f"&mut o{k}")
        lines.append(f"        let mut work = [0.0; {max(1, kernel.allocation.workspace_size)}];")
        call.append("&mut work")
        lines.append(f"        {name}({', '.join(call)}).unwrap();")
        for k in range(len(kernel.outputs)):
            lines.append(f'        show("{name}.{k}", &o{k});')
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _build_and_run(
    root: pathlib.Path, scalar: str, mode: str, extra_modules: dict[str, str]
) -> dict[str, list[float]]:
    config = RustBackendConfig().with_scalar_type(scalar).with_backend_mode(mode)
    cases = _cases()
    compiled = []
    names: list[str] = []
    for name, fn, args in cases:
        if scalar == "f32":
            args = [[to_f32(v) for v in a] for a in args]
        kernel = compile_kernel(fn.kernel, config, name, other_kernels=tuple(names))
        names.append(name)
        compiled.append((name, kernel, args))
    source = emit_module([k for _, k, _ in compiled], config)
    assert rustfmt_check(source) is None
    crate = f"autodiff_{scalar}"
    for mod_name in extra_modules:
        source += f'\n#[path = "{mod_name}.rs"]\npub mod {mod_name};\n'
    write_crate(root, crate, source, names, config.no_std)
    for mod_name, text in extra_modules.items():
        (root / "src" / f"{mod_name}.rs").write_text(text)
    (root / "src" / "main.rs").write_text(_main_rs(crate, compiled, scalar))
    build_and_lint(root)
    out = cargo(["run", "-q", "--bin", crate], root).stdout
    results: dict[str, list[float]] = {}
    for line in out.splitlines():
        label, *vals = line.split(" ")
        results[label] = [float(v) for v in vals]
    python = {}
    for name, _kernel, args in compiled:
        fn = next(f for n, f, _ in cases if n == name)
        outs = fn(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        for k, o in enumerate(outs):
            python[f"{name}.{k}"] = [o] if isinstance(o, float) else list(o)
    assert set(results) == set(python)
    return {"rust": results, "python": python}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def rust_f64(tmp_path_factory, cargo_available) -> dict[str, dict[str, list[float]]]:
    modules = {name: generate_rust(make()).source for name, make in SNAPSHOT_CASES.items()}
    return _build_and_run(tmp_path_factory.mktemp("autodiff_f64"), "f64", "std", modules)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def rust_f32(tmp_path_factory, cargo_available) -> dict[str, dict[str, list[float]]]:
    return _build_and_run(tmp_path_factory.mktemp("autodiff_f32"), "f32", "no_std", {})  # type: ignore[return-value]


def test_f64_rust_matches_python_evaluation_tightly(rust_f64) -> None:
    rust, python = rust_f64["rust"], rust_f64["python"]
    for label, ref in python.items():
        got = rust[label]
        assert len(got) == len(ref), label
        for g, r in zip(got, ref, strict=True):
            assert g == pytest.approx(r, rel=1e-12, abs=1e-12), (label, got, ref)


def test_f64_rust_matches_closed_forms(rust_f64) -> None:
    rust = rust_f64["rust"]
    x = np.array(X6)
    np.testing.assert_allclose(rust["ros_grad.0"], rosen_grad(x), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(rust["ros_jac.0"], rosen_grad(x), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(rust["ros_hess.0"], rosen_hess(x).ravel(), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(rust["ros_hvp.0"], rosen_hess(x) @ np.array(V6), rtol=1e-12, atol=1e-11)
    H = np.array(rust["special_hess.0"]).reshape(3, 3)
    assert np.array_equal(H, H.T)
    assert all(math.isfinite(v) for v in rust["special_grad.0"])


def test_f32_no_std_rust_matches_loosely(rust_f32) -> None:
    rust, python = rust_f32["rust"], rust_f32["python"]
    for label, ref in python.items():
        got = rust[label]
        scale = max(1.0, max(abs(v) for v in ref))
        for g, r in zip(got, ref, strict=True):
            assert abs(g - r) <= 2e-3 * scale, (label, got, ref)


@pytest.mark.parametrize("name", sorted(SNAPSHOT_CASES))
def test_derivative_rust_snapshots(name: str, rust_snapshot, rust_f64) -> None:
    source = generate_rust(SNAPSHOT_CASES[name]()).source
    assert rustfmt_check(source) is None
    assert source == rust_snapshot
