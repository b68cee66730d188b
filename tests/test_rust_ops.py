"""Every operation compiled to Rust (std/no_std x f64/f32) and compared with Python.

One crate per configuration holds a kernel per operation (and per interesting attribute) plus a
binary that evaluates each kernel at fixed points and prints the raw output bits; the test parses
them and compares with ``Function.__call__`` (``ir.ieee`` semantics) at the same points.
"""

from __future__ import annotations

import ast
import math
import pathlib
import struct
from collections.abc import Sequence

import attrs
import pytest

from gradgen import Function, SXVector
from gradgen.backends.crate import write_crate
from gradgen.backends.names import rust_names
from gradgen.backends.rust_literals import float_literal, to_f32
from gradgen.backends.rust_module import emit_module
from gradgen.backends.rust_ops import RUST_OPS
from gradgen.codegen import compile_kernel
from gradgen.config import RustBackendConfig
from gradgen.ir.custom import CustomCall, ElementaryDefinition
from gradgen.ir.expr import SX
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import LEAVES, OP_INFO, VARIADIC, Op
from tests.cargo import build_and_lint, cargo

NAN, INF = math.nan, math.inf
CONFIGS = [(m, t) for m in ("std", "no_std") for t in ("f64", "f32")]

UNIT = [-0.7, 0.3, 0.9, -0.0, NAN, 1.5]  # 1.5 outside [-1, 1]
GENERAL = [-2.3, -0.4, 0.0, 0.7, 2.5, NAN, INF, -INF]
POSITIVE = [0.3, 1.0, 2.5, 10.0, 0.0, -1.0, INF, NAN]
ROUNDING = [-2.5, -1.5, -0.3, 0.5, 1.5, 2.7, 2.5, NAN]

UNARY_POINTS: dict[Op, list[float]] = {
    Op.NEG: GENERAL,
    Op.ABS: GENERAL,
    Op.SIN: [-2.3, -0.4, 0.0, 0.7, 2.5, NAN, INF],
    Op.COS: [-2.3, -0.4, 0.0, 0.7, 2.5, NAN, INF],
    Op.TAN: [-1.2, -0.4, 0.0, 0.7, 1.1, NAN],
    Op.ASIN: UNIT,
    Op.ACOS: UNIT,
    Op.ATAN: GENERAL,
    Op.SINH: [-2.3, -0.4, 0.0, 0.7, 2.5, NAN, 1000.0],
    Op.COSH: [-2.3, -0.4, 0.0, 0.7, 2.5, NAN, 1000.0],
    Op.TANH: GENERAL,
    Op.ASINH: GENERAL,
    Op.ACOSH: [1.0, 1.5, 3.0, 100.0, 0.5, NAN, INF],
    Op.ATANH: [-0.7, 0.3, 0.9, 1.0, -1.0, 1.5, NAN],
    Op.EXP: [-2.3, -0.4, 0.0, 0.7, 2.5, NAN, 1000.0, -INF],
    Op.EXPM1: [-2.3, -0.4, 1e-10, 0.7, 2.5, NAN, 1000.0],
    Op.LOG: POSITIVE,
    Op.LOG1P: [-0.5, 0.3, 2.0, 1e-10, -1.0, -2.0, NAN],
    Op.LOG10: POSITIVE,
    Op.SQRT: POSITIVE,
    Op.CBRT: [-8.0, -0.4, 0.0, 0.7, 27.0, NAN, INF],
    Op.ERF: [-3.0, -0.4, 0.0, 0.7, 2.5, 6.0, NAN, INF],
    Op.ERFC: [-3.0, -0.4, 0.0, 0.7, 2.5, 6.0, 26.0, NAN],
    Op.FLOOR: ROUNDING,
    Op.CEIL: ROUNDING,
    Op.ROUND: ROUNDING,
    Op.TRUNC: ROUNDING,
    Op.SIGNUM: [-2.5, 0.0, -0.0, 3.0, NAN, -INF],
    Op.FRACT: [*ROUNDING, INF, -INF, NAN, 1e300],
}
PAIRS = [(1.5, -2.25), (0.3, 7.0), (-4.0, 0.0), (2.0, 2.0), (NAN, 1.0), (INF, 2.0)]
BINARY_POINTS: dict[Op, list[tuple[float, ...]]] = {
    Op.ADD: PAIRS,
    Op.SUB: PAIRS,
    Op.MUL: PAIRS,
    Op.DIV: [*PAIRS, (0.0, 0.0)],
    Op.POW: [(2.0, 0.5), (0.5, -3.3), (-2.0, 3.0), (-2.0, 0.5), (0.0, -1.0), (NAN, 0.0)],
    Op.ATAN2: [(1.0, -1.0), (-0.5, 2.0), (0.0, -1.0), (0.0, 0.0), (NAN, 1.0)],
    Op.HYPOT: [(3.0, 4.0), (-1e-3, 2.0), (INF, NAN), (0.0, 0.0)],
    Op.MAX: [(1.0, 2.0), (NAN, 2.0), (-1.0, NAN), (-1.0, -3.0)],
    Op.MIN: [(1.0, 2.0), (NAN, 2.0), (-1.0, NAN), (-1.0, -3.0)],
    **{
        op: [(1.0, 2.0), (2.0, 2.0), (3.0, 2.0), (NAN, 1.0), (1.0, NAN)]
        for op in (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)
    },
}
SELECT_POINTS = [(1.0, 2.0, 3.0), (0.0, 2.0, 3.0), (NAN, 2.0, 3.0), (-0.0, 2.0, 3.0)]
NORM_POINTS = [(1.0, -2.0, 3.0), (0.5, 0.0, -0.25), (1.0, NAN, 2.0), (1.0, -INF, 2.0)]
POWI_EXPONENTS = (2, 3, 4, -1, -2, -3, 5, 7, -9, 16)
POWI_POINTS = [1.3, -0.7, 0.0, -0.0, 2.0, NAN, INF]
NORM_ORDERS = (3.0, 1.5)


@attrs.frozen
class Case:
    """One kernel of the ops crate and the points it is evaluated at."""

    function: Function
    points: tuple[tuple[float, ...], ...]


_T = "{{ scalar_type }}"
#: a user function ``x0 * x1 + w0 * x2`` whose snippets compute exactly what Python computes
AFFINE = ElementaryDefinition(
    name="affine",
    input_dimension=3,
    parameter_dimension=1,
    parameter_defaults=(2.5,),
    eval_python=lambda x, w: x[0] * x[1] + w[0] * x[2],
    jacobian=lambda x, w: [x[1], x[0], w[0]],
    code=(
        ("rust_primal", f"fn affine(x: &[{_T}], w: &[{_T}]) -> {_T} {{\n    x[0] * x[1] + w[0] * x[2]\n}}"),
        (
            "rust_jacobian",
            f"fn affine_jacobian(x: &[{_T}], w: &[{_T}], out: &mut [{_T}]) {{\n"
            "    out[0] = x[1];\n    out[1] = x[0];\n    out[2] = w[0];\n}",
        ),
    ),
    code_orders=frozenset({0, 1}),
)


def _function(name: str, arity: int, build) -> Function:  # type: ignore[no-untyped-def]
    x = SXVector.sym("x", arity)
    return Function(name, [x], [build(list(x))], input_names=["x"], output_names=["y"])


def op_cases() -> list[Case]:
    cases: list[Case] = []
    for op, info in OP_INFO.items():
        if op in LEAVES:
            continue
        if op is Op.POWI:
            for n in POWI_EXPONENTS:
                tag = f"m{-n}" if n < 0 else str(n)
                f = _function(f"op_powi_{tag}", 1, lambda a, n=n: SX.make(Op.POWI, (a[0],), n))
                cases.append(Case(f, tuple((p,) for p in POWI_POINTS)))
        elif op in (Op.NORM_P, Op.NORM_P_TO_P):
            for p in NORM_ORDERS:
                f = _function(
                    f"op_{info.name}_{int(p * 10)}", 3, lambda a, op=op, p=p: SX.make(op, tuple(a), p)
                )
                cases.append(Case(f, tuple(NORM_POINTS)))
        elif op is Op.CUSTOM:
            # a user function with Rust snippets: its value, and a Jacobian entry read from the
            # array of the `_jacobian_values` wrapper
            for part in ((), (1,)):
                tag = "".join(map(str, part))
                f = _function(
                    f"op_custom{tag}",
                    3,
                    lambda a, part=part: SX.make(Op.CUSTOM, (*a, SX.const(2.5)), CustomCall(AFFINE, part)),
                )
                cases.append(Case(f, tuple(NORM_POINTS)))
        elif info.arity == VARIADIC:
            f = _function(f"op_{info.name}", 3, lambda a, op=op: SX.make(op, tuple(a)))
            cases.append(Case(f, tuple(NORM_POINTS)))
            # not a whole input slice: printed as an array literal
            f = _function(
                f"op_{info.name}_mixed", 3, lambda a, op=op: SX.make(op, (a[2], a[0], a[1] * 2.0, a[0]))
            )
            cases.append(Case(f, tuple(NORM_POINTS)))
        elif op is Op.SELECT:
            f = _function("op_select", 3, lambda a: SX.make(Op.SELECT, tuple(a)))
            cases.append(Case(f, tuple(SELECT_POINTS)))
        elif info.arity == 2:
            f = _function(f"op_{info.name}", 2, lambda a, op=op: SX.make(op, tuple(a)))
            cases.append(Case(f, tuple(BINARY_POINTS[op])))
            # a constant first operand (method receivers become `f64::name(c, x)`)
            f = _function(f"op_{info.name}_c", 1, lambda a, op=op: SX.make(op, (SX.const(0.75), a[0])))
            cases.append(Case(f, tuple((p[1],) for p in BINARY_POINTS[op])))
        else:
            f = _function(f"op_{info.name}", 1, lambda a, op=op: SX.make(op, (a[0],)))
            cases.append(Case(f, tuple((p,) for p in UNARY_POINTS[op])))
    return cases


# ---- a crate with a runner binary -------------------------------------------------------------
def compile_functions(functions: Sequence[Function], config: RustBackendConfig) -> list[Kernel]:
    names = [f.name for f in functions]
    return [
        compile_kernel(f.kernel, config, other_kernels=tuple(n for n in names if n != f.name))
        for f in functions
    ]


def runner_source(
    crate: str, kernels: Sequence[Kernel], points: Sequence[Sequence[Sequence[float]]], scalar: str
) -> str:
    """A ``main`` calling every kernel at its points (each point: one list per input port) and
    printing ``name index [bits, ...]`` per output port."""
    work = max([k.allocation.workspace_size for k in kernels] + [1])
    lines = [
        "//! Evaluates every generated kernel at fixed points and prints the output bits.",
        f"use {crate}::*;",
        "",
        "fn main() {",
        f"    let mut work = vec![0.0{scalar}; {work}];",
    ]
    for k, pts in zip(kernels, points, strict=True):
        fn = rust_names(k).function
        for i, point in enumerate(pts):
            lines.append("    {")
            outs = []
            for port, name in zip(k.outputs, rust_names(k).outputs, strict=True):
                lines.append(f"        let mut {name} = [0.0{scalar}; {port.size}];")
                outs.append(name)
            args = ["&[" + ", ".join(float_literal(v, scalar) for v in vals) + "]" for vals in point]
            args += [f"&mut {o}" for o in outs] + ["&mut work"]
            lines.append(f"        {fn}({', '.join(args)}).unwrap();")
            shown = ", ".join(f"{o}.map({scalar}::to_bits)" for o in outs)
            lines.append(f'        println!("{fn} {i} {{:?}}", [{shown}]);')
            lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def build_and_run(
    path: pathlib.Path,
    crate: str,
    kernels: Sequence[Kernel],
    config: RustBackendConfig,
    points: Sequence[Sequence[Sequence[float]]],
    release: bool = False,
) -> dict[tuple[str, int], list[list[float]]]:
    """Write the crate with a runner, build it (warnings are errors, clippy clean), run it and
    return ``{(function, point index): outputs}``."""
    source = emit_module(kernels, config)
    write_crate(path, crate, source, [rust_names(k).function for k in kernels], config.no_std)
    (path / "src" / "main.rs").write_text(runner_source(crate, kernels, points, config.scalar_type))
    build_and_lint(path, release=release)
    proc = cargo(["run", "-q", *(["--release"] if release else [])], path)
    fmt = "<d" if config.scalar_type == "f64" else "<f"
    ifmt = "<Q" if config.scalar_type == "f64" else "<I"
    results: dict[tuple[str, int], list[list[float]]] = {}
    for line in proc.stdout.splitlines():
        name, idx, rest = line.split(" ", 2)
        bits = ast.literal_eval(rest)
        results[(name, int(idx))] = [
            [struct.unpack(fmt, struct.pack(ifmt, b))[0] for b in port] for port in bits
        ]
    return results


def close(rust: float, ref: float, scalar: str) -> bool:
    if scalar == "f32":
        ref = to_f32(ref)
    if math.isnan(ref):
        return math.isnan(rust)
    if math.isinf(ref) or ref == 0.0:
        # exact, including the sign of a zero
        return rust == ref and math.copysign(1.0, rust) == math.copysign(1.0, ref)
    if scalar == "f64":
        return abs(rust - ref) <= 4e-15 * max(abs(ref), 1e-300)
    return abs(rust - ref) <= 3e-6 * max(abs(ref), 1.2e-38)


def reference(f: Function, point: Sequence[Sequence[float]], scalar: str) -> list[list[float]]:
    """Python's value at ``point`` (inputs rounded to f32 first for f32 crates)."""
    if scalar == "f32":
        point = [[to_f32(v) for v in vals] for vals in point]
    out = f(*[list(v) for v in point])
    outs = out if isinstance(out, tuple) else (out,)
    return [[o] if isinstance(o, float) else list(o) for o in outs]


CASES = op_cases()


def test_every_op_has_a_rust_entry_and_a_case() -> None:
    assert set(RUST_OPS) == set(Op)
    covered = {op for c in CASES for op in c.function.kernel.ops}
    assert covered >= set(Op) - LEAVES


@pytest.fixture(scope="module", params=CONFIGS, ids=[f"{m}-{t}" for m, t in CONFIGS])
def ops_run(request, tmp_path_factory, cargo_available):  # type: ignore[no-untyped-def]
    mode, scalar = request.param
    config = RustBackendConfig().with_backend_mode(mode).with_scalar_type(scalar)
    kernels = compile_functions([c.function for c in CASES], config)
    crate = f"gg_ops_{mode}_{scalar}"
    path = tmp_path_factory.mktemp(crate)
    points = [[[list(p)] for p in c.points] for c in CASES]
    return config, kernels, build_and_run(path, crate, kernels, config, points)


def test_every_op_matches_python(ops_run) -> None:  # type: ignore[no-untyped-def]
    config, kernels, results = ops_run
    scalar = config.scalar_type
    failures = []
    for case, k in zip(CASES, kernels, strict=True):
        for i, p in enumerate(case.points):
            got = results[(rust_names(k).function, i)]
            want = reference(case.function, [list(p)], scalar)
            if not all(
                close(g, w, scalar)
                for gp, wp in zip(got, want, strict=True)
                for g, w in zip(gp, wp, strict=True)
            ):
                failures.append(f"{rust_names(k).function}{p}: rust {got} python {want}")
    assert not failures, "\n".join(failures)


def test_signum_of_zero_is_positive_zero(ops_run) -> None:  # type: ignore[no-untyped-def]
    _, _, results = ops_run
    for i in (1, 2):  # signum(0.0), signum(-0.0)
        (value,) = results[("op_signum", i)][0]
        assert value == 0.0 and math.copysign(1.0, value) == 1.0
