"""Every operation on a grid of special values, in std and no_std crates of f64 and f32, against
the Python evaluator (``ir.ieee``) within a stated ulp bound per operation.

The grid holds zeros of both signs, subnormals, the smallest normal, tiny and huge values, the
largest finite value, values next to the edges of a domain (``1 +- eps``, ``+-1``, the
overflow and underflow thresholds of ``exp``) and ``+-inf`` and NaN. One crate per
(mode, scalar type) holds one kernel per operation and a runner that loops over the grid and
prints the raw result bits; the four crates are built once per test session.

A NaN must be NaN, an infinite or zero reference must be met exactly (the sign of a zero
included), and every other result must be within :data:`ULP_BOUND` units in the last place of
the scalar type. The bounds are the ones documented in GUIDE.md.
"""

from __future__ import annotations

import itertools
import math
import pathlib
import struct
from collections.abc import Callable, Sequence

import attrs
import pytest

from gradgen import Function, SXVector
from gradgen.backends.crate import write_crate
from gradgen.backends.names import rust_names
from gradgen.backends.rust_literals import float_literal, to_f32
from gradgen.backends.rust_module import emit_module
from gradgen.codegen import compile_kernel
from gradgen.config import RustBackendConfig
from gradgen.ir.expr import SX
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import LEAVES, OP_INFO, VARIADIC, Op, evaluate
from tests.cargo import build_and_lint, cargo

NAN, INF = math.nan, math.inf
CONFIGS = [(m, t) for m in ("std", "no_std") for t in ("f64", "f32")]

#: the special values of each scalar type (every one exactly representable in it)
GRID: dict[str, tuple[float, ...]] = {
    "f64": (
        0.0,
        -0.0,
        5e-324,
        -5e-324,
        1e-310,
        2.2250738585072014e-308,
        -2.2250738585072014e-308,
        1e-300,
        1e-200,
        1e-30,
        1e-16,
        -1e-16,
        1e-8,
        -1e-8,
        1e-3,
        0.1,
        0.5,
        -0.5,
        1.0 - 2.0**-53,
        1.0,
        -1.0,
        1.0 + 2.0**-52,
        1.0 + 1e-8,
        -1.0 - 2.0**-52,
        1.5,
        2.0,
        -2.0,
        2.5,
        3.0,
        -3.0,
        10.0,
        27.5,
        100.0,
        709.78,
        709.79,
        710.0,
        -708.0,
        -745.0,
        -746.0,
        1e8,
        -1e8,
        1e16,
        1e30,
        1e200,
        1e300,
        1e308,
        -1e308,
        1.7976931348623157e308,
        INF,
        -INF,
        NAN,
    ),
    "f32": tuple(
        to_f32(v)
        for v in (
            0.0,
            -0.0,
            1e-45,
            -1e-45,
            1e-40,
            1.1754943508222875e-38,
            -1.1754943508222875e-38,
            1e-37,
            1e-30,
            1e-20,
            1e-7,
            -1e-7,
            1e-4,
            -1e-4,
            1e-3,
            0.1,
            0.5,
            -0.5,
            1.0 - 2.0**-24,
            1.0,
            -1.0,
            1.0 + 2.0**-23,
            1.0 + 2.0**-20,
            -1.0 - 2.0**-23,
            1.5,
            2.0,
            -2.0,
            2.5,
            3.0,
            -3.0,
            10.0,
            27.5,
            100.0,
            88.7,
            88.8,
            89.0,
            -87.0,
            -103.0,
            -104.0,
            1e8,
            -1e8,
            1e16,
            1e30,
            1e36,
            1e38,
            3e38,
            -3e38,
            3.4028234663852886e38,
            INF,
            -INF,
            NAN,
        )
    ),
}


def _pair_grid(scalar: str) -> tuple[float, ...]:
    g = GRID[scalar]
    small, huge = g[2], g[-4]  # smallest subnormal, largest finite
    eps = 2.0**-52 if scalar == "f64" else 2.0**-23
    tiny = g[5]
    values = (
        0.0,
        -0.0,
        small,
        tiny,
        0.5,
        -0.5,
        1.0,
        -1.0,
        1.0 + eps,
        2.0,
        -2.5,
        3.0,
        1e30,
        huge,
        -huge,
        INF,
        -INF,
        NAN,
    )
    return tuple(to_f32(v) if scalar == "f32" else v for v in values)


def _norm_grid(scalar: str) -> list[tuple[float, float, float]]:
    g = GRID[scalar]
    subnormal, tiny, huge = g[2], g[5], g[-4]
    large = 1e200 if scalar == "f64" else to_f32(1e30)
    small = 1e-200 if scalar == "f64" else to_f32(1e-30)
    values = (0.0, -0.0, subnormal, tiny, small, 0.75, 1.0, -2.0, large, huge, -INF, NAN)
    return list(itertools.product(values, repeat=3))


POWI_EXPONENTS = (2, 3, 4, -1, -2, -3, 5, 7, -9, 16, 1000, -1000)
NORM_ORDERS = (0.5, 1.5, 3.0)

#: the largest distance, in ulp of the scalar type, between the generated Rust and ``ir.ieee``
#: (which computes in f64; f32 results are its f64 result rounded to f32); operations not
#: listed are exact (0 ulp)
ULP_BOUND: dict[Op, int] = {
    **dict.fromkeys(
        (Op.POW, Op.ATAN2, Op.HYPOT, Op.SIN, Op.COS, Op.TAN, Op.ASIN, Op.ACOS, Op.ATAN),
        1,
    ),
    **dict.fromkeys((Op.SINH, Op.COSH, Op.TANH, Op.ASINH, Op.ACOSH, Op.ATANH), 1),
    **dict.fromkeys((Op.EXP, Op.EXPM1, Op.LOG, Op.LOG1P, Op.LOG10, Op.CBRT, Op.ERF), 1),
    Op.ERFC: 2,
    Op.POWI: 1,
    **dict.fromkeys((Op.NORM2, Op.NORM2SQ, Op.NORM1, Op.NORM_P_TO_P), 1),
    Op.NORM_P: 3,
}


@attrs.frozen
class GridCase:
    op: Op
    attr: object
    function: Function
    points: tuple[tuple[float, ...], ...]


def _function(name: str, arity: int, build: Callable[[list[SX]], SX]) -> Function:
    x = SXVector.sym("x", arity)
    return Function(name, [x], [build(list(x))], input_names=["x"], output_names=["y"])


def grid_cases(scalar: str) -> list[GridCase]:
    unary = tuple((v,) for v in GRID[scalar])
    pairs = tuple(itertools.product(_pair_grid(scalar), repeat=2))
    norms = tuple(_norm_grid(scalar))
    cases: list[GridCase] = []
    for op, info in OP_INFO.items():
        if op in LEAVES or op is Op.CUSTOM:  # a user function: its own Rust, tested in test_custom_functions
            continue
        if op is Op.POWI:
            for n in POWI_EXPONENTS:
                tag = f"m{-n}" if n < 0 else str(n)
                f = _function(f"g_powi_{tag}", 1, lambda a, n=n: SX.make(Op.POWI, (a[0],), n))
                cases.append(GridCase(op, n, f, unary))
        elif op in (Op.NORM_P, Op.NORM_P_TO_P):
            for p in NORM_ORDERS:
                f = _function(
                    f"g_{info.name}_{int(p * 10)}", 3, lambda a, op=op, p=p: SX.make(op, tuple(a), p)
                )
                cases.append(GridCase(op, p, f, norms))
        elif info.arity == VARIADIC:
            f = _function(f"g_{info.name}", 3, lambda a, op=op: SX.make(op, tuple(a)))
            cases.append(GridCase(op, None, f, norms))
        elif op is Op.SELECT:
            f = _function("g_select", 3, lambda a: SX.make(Op.SELECT, tuple(a)))
            pts = tuple((c, 2.0, -3.0) for c in GRID[scalar])
            cases.append(GridCase(op, None, f, pts))
        elif info.arity == 2:
            f = _function(f"g_{info.name}", 2, lambda a, op=op: SX.make(op, tuple(a)))
            cases.append(GridCase(op, None, f, pairs))
        else:
            f = _function(f"g_{info.name}", 1, lambda a, op=op: SX.make(op, (a[0],)))
            cases.append(GridCase(op, None, f, unary))
    return cases


def _runner(crate: str, cases: Sequence[GridCase], kernels: Sequence[Kernel], scalar: str) -> str:
    """A ``main`` looping over each kernel's points and printing ``name bits`` per point."""
    work = max([k.allocation.workspace_size for k in kernels] + [1])
    lines = [
        "//! Evaluates every kernel on its grid and prints the result bits.",
        f"use {crate}::*;",
        "",
    ]
    for i, case in enumerate(cases):
        width = len(case.points[0])
        body = ", ".join("[" + ", ".join(float_literal(v, scalar) for v in p) + "]" for p in case.points)
        lines.append(f"static P{i}: [[{scalar}; {width}]; {len(case.points)}] = [{body}];")
    lines += [
        "",
        "fn main() {",
        f"    let mut work = vec![0.0{scalar}; {work}];",
        f"    let mut y = [0.0{scalar}; 1];",
    ]
    for i, k in enumerate(kernels):
        fn = rust_names(k).function
        lines.append(f"    for p in &P{i} {{")
        lines.append(f"        {fn}(p, &mut y, &mut work).unwrap();")
        lines.append(f'        println!("{fn} {{}}", y[0].to_bits());')
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _from_bits(bits: int, scalar: str) -> float:
    if scalar == "f64":
        return float(struct.unpack("<d", struct.pack("<Q", bits))[0])
    return float(struct.unpack("<f", struct.pack("<I", bits))[0])


def _ordinal(v: float, scalar: str) -> int:
    if scalar == "f64":
        bits = struct.unpack("<Q", struct.pack("<d", v))[0]
        sign, mag = bits >> 63, bits & ((1 << 63) - 1)
    else:
        bits = struct.unpack("<I", struct.pack("<f", v))[0]
        sign, mag = bits >> 31, bits & ((1 << 31) - 1)
    return -mag if sign else mag


def ulp_distance(got: float, want: float, scalar: str) -> float:
    """0 for the same value (a NaN matches a NaN; an infinite or zero reference must be met
    exactly, with its sign), else the number of representable values between them."""
    if math.isnan(want) or math.isnan(got):
        return 0 if math.isnan(want) and math.isnan(got) else math.inf
    if math.isinf(want) or want == 0.0 or math.isinf(got):
        same = got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
        return 0 if same else math.inf
    return abs(_ordinal(got, scalar) - _ordinal(want, scalar))


def ulp_bound(case: GridCase, scalar: str) -> int:
    """:data:`ULP_BOUND`; in f32 ``powi`` rounds after every multiplication (Python once), and
    the relative error of each squaring doubles: up to ``|n| / 2 + 1`` ulp."""
    if case.op is Op.POWI and scalar == "f32":
        assert isinstance(case.attr, int)
        return abs(case.attr) // 2 + 1
    return ULP_BOUND.get(case.op, 0)


def zero_sign_unspecified(case: GridCase, point: tuple[float, ...]) -> bool:
    """``max``/``min`` of two zeros: std and libm pick different operands (IEEE leaves the sign
    of ``maxNum(+0, -0)`` open), so only the value is compared."""
    return case.op in (Op.MAX, Op.MIN) and point[0] == 0.0 and point[1] == 0.0


def python_value(case: GridCase, point: tuple[float, ...], scalar: str) -> float:
    value = evaluate(case.op, case.attr, point)
    return to_f32(value) if scalar == "f32" else value


@pytest.fixture(scope="session", params=CONFIGS, ids=[f"{m}-{t}" for m, t in CONFIGS])
def grid_run(request, tmp_path_factory, cargo_available):  # type: ignore[no-untyped-def]
    mode, scalar = request.param
    config = RustBackendConfig().with_backend_mode(mode).with_scalar_type(scalar)
    cases = grid_cases(scalar)
    names = [c.function.name for c in cases]
    kernels = [
        compile_kernel(
            c.function.kernel, config, other_kernels=tuple(n for n in names if n != c.function.name)
        )
        for c in cases
    ]
    crate = f"gg_grid_{mode}_{scalar}"
    path: pathlib.Path = tmp_path_factory.mktemp(crate)
    write_crate(
        path, crate, emit_module(kernels, config), [rust_names(k).function for k in kernels], config.no_std
    )
    (path / "src" / "main.rs").write_text(_runner(crate, cases, kernels, scalar))
    build_and_lint(path)
    proc = cargo(["run", "-q"], path)
    results: dict[str, list[float]] = {}
    for line in proc.stdout.splitlines():
        name, bits = line.split(" ")
        results.setdefault(name, []).append(_from_bits(int(bits), scalar))
    return scalar, cases, kernels, results


def test_the_grid_covers_every_op() -> None:
    covered = {c.op for c in grid_cases("f64")}
    assert covered == set(Op) - LEAVES - {Op.CUSTOM}


def test_every_op_matches_python_within_its_ulp_bound(grid_run) -> None:  # type: ignore[no-untyped-def]
    scalar, cases, kernels, results = grid_run
    failures: list[str] = []
    for case, k in zip(cases, kernels, strict=True):
        got = results[rust_names(k).function]
        assert len(got) == len(case.points)
        bound = ulp_bound(case, scalar)
        bad = []
        for point, value in zip(case.points, got, strict=True):
            want = python_value(case, point, scalar)
            if zero_sign_unspecified(case, point):
                value = abs(value)
                want = abs(want)
            d = ulp_distance(value, want, scalar)
            if d > bound:
                bad.append(f"{point}: rust {value!r} python {want!r} ({d} ulp > {bound})")
        if bad:
            failures.append(f"{case.function.name}: {len(bad)} points, e.g. " + "; ".join(bad[:4]))
    assert not failures, "\n".join(failures)


def test_acosh_asinh_at_huge_and_near_one(grid_run) -> None:  # type: ignore[no-untyped-def]
    """The inverse hyperbolic functions of std are not those of libm: std's ``acosh(1e308)`` and
    ``asinh(1e308)`` overflow and ``acosh(1 + 1e-8)`` loses thousands of ulp."""
    scalar, cases, kernels, results = grid_run
    by_name = {
        rust_names(k).function: (c, results[rust_names(k).function])
        for c, k in zip(cases, kernels, strict=True)
    }
    huge = 1e308 if scalar == "f64" else to_f32(3e38)
    near_one = 1.0 + 1e-8 if scalar == "f64" else to_f32(1.0 + 2.0**-20)
    for name, x, want in (
        ("g_acosh", huge, math.acosh(huge)),
        ("g_asinh", huge, math.asinh(huge)),
        ("g_asinh", -1e8, math.asinh(-1e8)),
        ("g_acosh", near_one, math.acosh(near_one)),
    ):
        case, got = by_name[name]
        value = got[case.points.index((x,))]
        want = to_f32(want) if scalar == "f32" else want
        assert ulp_distance(value, want, scalar) <= 2, (name, x, value, want)
