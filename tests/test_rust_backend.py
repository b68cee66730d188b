"""The Rust backend: configuration, module layout, constants, chunking, workspace naming,
rustfmt-identical output, snapshots (each compiled) and very deep graphs."""

from __future__ import annotations

import difflib
import math
import pathlib
import random
import re

import pytest

import gradgen as gg
from gradgen import SX, Function, SXVector
from gradgen.backends.crate import cargo_toml, write_crate
from gradgen.backends.names import rust_names
from gradgen.backends.rust_literals import float_literal, to_f32
from gradgen.backends.rust_module import emit_module
from gradgen.codegen import compile_kernel, generate_rust
from gradgen.config import RustBackendConfig
from gradgen.errors import ConfigError, InvalidLevelError, InvalidNameError
from tests.cargo import build_and_lint, cargo, rustfmt_check
from tests.snapshot import SNAPSHOT_ROOT
from tests.test_rust_ops import CONFIGS, build_and_run, close, compile_functions, reference

SPECIAL = [
    math.inf,
    -math.inf,
    math.nan,
    -0.0,
    0.0,
    5e-324,
    -2.2250738585072014e-308,
    1e-310,
    1e300,
    -1e300,
    1e-45,
    3.4028235e38,
    3.4028236e38,
    1e39,
    0.1,
    1 / 3,
    math.pi,
    3.14159,
    math.e,
    2.718,
    math.sqrt(2),
    math.log(2),
    123456789.0,
    1e16,
    1e-5,
    16777217.0,
]


def fmt_diff(source: str) -> str:
    formatted = rustfmt_check(source)
    if formatted is None:
        return ""
    return "".join(difflib.unified_diff(source.splitlines(True), formatted.splitlines(True), n=1))


# ---- configuration ----------------------------------------------------------------------------
def test_config_is_fluent_and_immutable() -> None:
    base = RustBackendConfig()
    cfg = base.with_backend_mode("no_std").with_scalar_type("f32").with_function_name("eval_kernel")
    cfg = cfg.with_crate_name("my_kernel").with_simplification("high")
    assert (base.backend_mode, base.scalar_type, base.function_name, base.simplification) == (
        "std",
        "f64",
        None,
        "basic",
    )
    assert (cfg.backend_mode, cfg.scalar_type, cfg.function_name, cfg.crate_name, cfg.simplification) == (
        "no_std",
        "f32",
        "eval_kernel",
        "my_kernel",
        "high",
    )


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown backend mode 'nostd'"):
        RustBackendConfig().with_backend_mode("nostd")
    with pytest.raises(ConfigError, match="unknown scalar type 'f16'"):
        RustBackendConfig().with_scalar_type("f16")
    with pytest.raises(InvalidLevelError, match="unknown simplification level 'extreme'"):
        RustBackendConfig().with_simplification("extreme")
    with pytest.raises(InvalidNameError, match="function name 'fn' is a Rust keyword"):
        RustBackendConfig().with_function_name("fn")
    with pytest.raises(InvalidNameError, match="crate name 'my-crate' is not a valid Rust identifier"):
        RustBackendConfig().with_crate_name("my-crate")


def test_generate_rust_result_fields() -> None:
    x = SX.sym("x")
    f = Function("square_plus_one", [x], [x * x + 1], input_names=["x"], output_names=["y"])
    r = f.generate_rust()
    assert r.function_name == "square_plus_one"
    assert (r.input_names, r.input_sizes, r.output_names, r.output_sizes) == (("x",), (1,), ("y",), (1,))
    assert r.workspace_size == 0
    assert (
        "pub fn square_plus_one(x: &[f64], y: &mut [f64], _work: &mut [f64]) -> Result<(), GradgenError> {"
        in r.source
    )
    assert "#![forbid(unsafe_code)]" in r.source and "#![no_std]" not in r.source
    assert "impl std::error::Error for GradgenError {}" in r.source
    r2 = f.generate_rust(
        RustBackendConfig()
        .with_backend_mode("no_std")
        .with_scalar_type("f32")
        .with_function_name("eval_kernel")
    )
    assert "#![no_std]" in r2.source and "std::" not in r2.source
    assert "pub fn eval_kernel(x: &[f32], y: &mut [f32], _work: &mut [f32])" in r2.source


# ---- constants ------------------------------------------------------------------------------
@pytest.mark.parametrize("scalar", ["f64", "f32"])
def test_float_literals(scalar: str) -> None:
    assert float_literal(math.inf, scalar) == f"{scalar}::INFINITY"
    assert float_literal(-math.inf, scalar) == f"{scalar}::NEG_INFINITY"
    assert float_literal(math.nan, scalar) == f"{scalar}::NAN"
    assert float_literal(-0.0, scalar) == "-0.0"
    assert float_literal(2.0, scalar) == "2.0"
    assert float_literal(1e16, scalar) == "1e16"
    assert float_literal(1e-5, scalar) == "1e-5"
    if scalar == "f64":
        assert float_literal(1e300, scalar) == "1e300"
        assert float_literal(5e-324, scalar) == "5e-324"
    else:
        assert float_literal(1e300, scalar) == "f32::INFINITY"
        assert float_literal(5e-324, scalar) == "0.0"
        assert float_literal(0.1, scalar) == "0.1"  # shortest digits that round-trip in f32
        assert float_literal(123456789.0, scalar) == "123456790.0"
        assert float_literal(3.4028235e38, scalar) == "3.4028235e38"
        assert float_literal(3.4028236e38, scalar) == "f32::INFINITY"  # rounds up past f32::MAX
        assert float_literal(1e39, scalar) == "f32::INFINITY"


# ---- the misc crate: constants, workspace naming, fills, many arguments, names ---------------------
def misc_functions() -> list[tuple[Function, list[list[list[float]]], int]]:
    """(function, points, max_chunk) triples compiled into one crate per configuration."""
    x = SXVector.sym("x", 1)
    consts = Function(
        "constants",
        [x],
        [gg.vector([c * x[0] for c in SPECIAL]), gg.vector(SPECIAL)],
        input_names=["x"],
        output_names=["scaled", "raw"],
    )
    v = SXVector.sym("v", 6)
    chain = v[0]
    for i in range(12):
        chain = gg.sin(chain * v[i % 6] + 0.5) + v[(i + 3) % 6] ** 2
    worked = Function("worked", [v], [chain, v.norm2() * chain], input_names=["v"], output_names=["y", "z"])
    no_work = Function(
        "no work",
        [v],
        [v.norm_inf() + v.norm1() + v.norm_p(3.14159) + gg.if_else(0.1, 0.1000000001, v[0])],
        input_names=["v"],
        output_names=["y"],
    )
    sparse = Function(
        "sparse",
        [v],
        [gg.vector([0.0, v[0] * v[1], 0.0, 0.0, 2.0, 0.0, v[2], 0.0])],
        input_names=["v"],
        output_names=["jac"],
    )
    ins = [SX.sym(f"a{i}") for i in range(9)]
    many = Function("many", ins, [sum(ins[1:], ins[0]), ins[0] * ins[8]], output_names=["total", "prod"])
    w0 = SX.sym("w0")
    w1 = SXVector.sym("w_1", 2)
    tricky = Function(
        "Tricky Names!",
        [w0, w1],
        # w0 - w0, w0 / w0, w0 < w0: self-comparisons on purpose (clippy::eq_op must stay quiet)
        [gg.atan2(w0, w1[0]) + 3.14159 * w1[1] + math.pi, w0 - w0, w0 / w0, w0 < w0],
        input_names=["w0", "w_1"],
        output_names=["Out-Value", "diff", "ratio", "less"],
    )
    return [
        (consts, [[[1.0]], [[-1.0]]], 1000),
        (worked, [[[0.1, 0.2, -0.3, 0.4, 0.5, -0.6]], [[1.0, -1.0, 2.0, 0.5, 0.25, 3.0]]], 5),
        (no_work, [[[1.0, -7.0, 2.0, 0.5, 0.25, 3.0]]], 1000),
        (sparse, [[[1.0, -7.0, 2.0, 0.5, 0.25, 3.0]]], 1000),
        (many, [[[float(i)] for i in range(1, 10)]], 1000),
        (tricky, [[[0.5], [2.0, -1.0]], [[0.0], [-2.0, 1.5]]], 1000),
    ]


@pytest.fixture(scope="module", params=CONFIGS, ids=[f"{m}-{t}" for m, t in CONFIGS])
def misc_crate(request, tmp_path_factory, cargo_available):  # type: ignore[no-untyped-def]
    mode, scalar = request.param
    config = RustBackendConfig().with_backend_mode(mode).with_scalar_type(scalar).with_simplification("none")
    cases = misc_functions()
    names = [gg.codegen.compile_kernel.__module__ and f.name for f, _, _ in cases]
    kernels = [
        compile_kernel(f.kernel, config, other_kernels=tuple(n for n in names if n != f.name), max_chunk=mc)
        for f, _, mc in cases
    ]
    crate = f"gg_misc_{mode}_{scalar}"
    path = tmp_path_factory.mktemp(crate)
    results = build_and_run(path, crate, kernels, config, [pts for _, pts, _ in cases])
    return config, cases, kernels, results, (path / "src" / "lib.rs").read_text()


def test_misc_crate_matches_python(misc_crate) -> None:  # type: ignore[no-untyped-def]
    config, cases, kernels, results, _ = misc_crate
    for (f, points, _), k in zip(cases, kernels, strict=True):
        for i, p in enumerate(points):
            got = results[(rust_names(k).function, i)]
            want = reference(f, p, config.scalar_type)
            for gp, wp in zip(got, want, strict=True):
                assert len(gp) == len(wp)
                for g, w in zip(gp, wp, strict=True):
                    assert close(g, w, config.scalar_type), (rust_names(k).function, p, got, want)


def test_constants_are_exact(misc_crate) -> None:  # type: ignore[no-untyped-def]
    config, _, _, results, source = misc_crate
    scaled, raw = results[("constants", 0)]
    for c, s, r in zip(SPECIAL, scaled, raw, strict=True):
        want = to_f32(c) if config.scalar_type == "f32" else c
        for got in (s, r):
            if math.isnan(want):
                assert math.isnan(got)
            else:
                assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want), (c, got)
    t = config.scalar_type
    for text in (f"{t}::INFINITY", f"{t}::NEG_INFINITY", f"{t}::NAN", "-0.0"):
        assert text in source
    assert "#[allow(clippy::approx_constant)]" in source


def test_workspace_argument_naming(misc_crate) -> None:  # type: ignore[no-untyped-def]
    _, _, kernels, _, source = misc_crate
    by_name = {rust_names(k).function: k for k in kernels}
    worked = by_name["worked"]
    assert worked.allocation.workspace_size > 0 and len(worked.allocation.chunks) > 1
    assert re.search(
        r"pub fn worked\(\s*v: &\[f(32|64)\],\s*y: &mut \[f(32|64)\],\s*z: &mut \[f(32|64)\],\s*work: &mut",
        source,
    )
    assert "if work.len() < " in source and "#[inline(never)]" in source and "fn worked_chunk0(" in source
    assert by_name["no_work"].allocation.workspace_size == 0
    assert re.search(
        r"pub fn no_work\(\s*v: &\[f(32|64)\],\s*y: &mut \[f(32|64)\],\s*_work: &mut \[f(32|64)\],?\s*\)",
        source,
    )


def test_structural_zeros_use_fill(misc_crate) -> None:  # type: ignore[no-untyped-def]
    _, _, _, results, source = misc_crate
    body = source.split("pub fn sparse(")[1].split("\n}\n")[0]
    assert body.count("jac.fill(0.0);") == 1
    assert "jac[0] =" not in body and "jac[4] = 2.0;" in body
    assert results[("sparse", 0)][0] == [0.0, -7.0, 0.0, 0.0, 2.0, 0.0, 2.0, 0.0]


def test_names_and_lints(misc_crate) -> None:  # type: ignore[no-untyped-def]
    _, _, kernels, _, source = misc_crate
    tricky = next(k for k in kernels if rust_names(k).function == "tricky_names")
    assert rust_names(tricky).outputs == ["out_value", "diff", "ratio", "less"]
    assert rust_names(tricky).local_prefix == "t"  # w0 and w_1 are arguments
    assert "#[allow(clippy::too_many_arguments)]" in source
    assert "clippy::eq_op" in source
    assert fmt_diff(source) == ""


# ---- rustfmt -----------------------------------------------------------------------------------
def _random_expr(rng: random.Random, items: list, a: SX, b: SX, c: SX) -> SX:  # type: ignore[type-arg]
    kind = rng.randrange(10)
    if kind == 0:
        return gg.vector(items).norm2()
    if kind == 1:
        return gg.vector(items).norm_p(rng.choice([3.0, 1.25, 2.718281828]))
    if kind == 2:
        return gg.vector(items).norm_inf()
    if kind == 3:
        return gg.atan2(a, b)
    if kind == 4:
        return gg.hypot(a, b)
    if kind == 5:
        return gg.if_else(a, b, c)
    if kind == 6:
        return a < b
    if kind == 7:
        return a**b
    if kind == 8:
        return a ** rng.choice([2, 3, 4, -3, 9])
    return gg.erf(a) * gg.signum(b) - c


def _random_function(rng: random.Random) -> tuple[Function, RustBackendConfig, int]:
    length = rng.choice([1, 3, 8, 15, 25, 35, 45])
    nin = rng.randint(1, 9)
    vecs = [SXVector.sym(f"s{i}", rng.randint(1, 30)) for i in range(nin)]
    every = [e for v in vecs for e in v]
    outs: list = []
    for _ in range(6):
        items = [rng.choice(every) * (1 if rng.random() < 0.7 else 2.5) for _ in range(rng.randint(1, 40))]
        outs.append(_random_expr(rng, items, rng.choice(every), rng.choice(every), rng.choice(every)))
    outs.append(gg.vector([0.0] * rng.randint(0, 5) + [every[0]]))
    f = Function(
        "fn" + "c" * length,
        vecs,
        outs,
        input_names=["in" + "a" * length + str(i) for i in range(nin)],
        output_names=["out" + "b" * rng.choice([1, 20, 40]) + str(i) for i in range(len(outs))],
    )
    cfg = (
        RustBackendConfig()
        .with_backend_mode(rng.choice(["std", "no_std"]))
        .with_scalar_type(rng.choice(["f32", "f64"]))
    )
    return f, cfg, rng.choice([5, 1000])


def test_rustfmt_identical_on_random_kernels() -> None:
    """Long signatures, many arguments, long names, long norm calls, chunk calls."""
    rng = random.Random(20261125)
    for _ in range(120):
        f, cfg, max_chunk = _random_function(rng)
        source = emit_module([compile_kernel(f.kernel, cfg, max_chunk=max_chunk)], cfg)
        assert fmt_diff(source) == "", f.name


def test_several_kernels_share_helpers_once() -> None:
    x = SXVector.sym("x", 3)
    f = Function("f", [x], [x.norm2() + gg.erf(x[0])])
    g = Function("g", [x], [gg.vector([x[0], x[2]]).norm2() * gg.erfc(x[1])])
    config = RustBackendConfig()
    source = emit_module(compile_functions([f, g], config), config)
    assert source.count("fn norm2(") == 1 and source.count("fn norm2sq(") == 1
    assert source.count("fn erf(") == 1 and source.count("fn erfc(") == 1
    assert source.count("pub enum GradgenError") == 1
    assert "norm2(x)" in source and "norm2(&[x[0], x[2]])" in source
    assert fmt_diff(source) == ""


# ---- chunking ----------------------------------------------------------------------------------
def long_function(n: int) -> Function:
    v = SXVector.sym("v", 8)
    acc = v[0]
    outs = []
    for i in range(n):
        acc = acc * 0.999 + gg.sin(v[i % 8] * (1.0 + i * 1e-4)) * acc
        if i % 500 == 0:
            outs.append(acc)
    outs.append(acc)
    return Function("long kernel", [v], [gg.vector(outs)], input_names=["v"], output_names=["y"])


def test_large_kernel_is_chunked_and_builds(tmp_path: pathlib.Path, cargo_available: None) -> None:
    f = long_function(1200)
    config = RustBackendConfig()
    (k,) = compile_functions([f], config)
    assert len(k.allocation.statements) > 3000 and len(k.allocation.chunks) >= 4
    points = [[[0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6]]]
    results = build_and_run(tmp_path / "long", "gg_long", [k], config, [points])
    source = (tmp_path / "long" / "src" / "lib.rs").read_text()
    assert source.count("#[inline(never)]") == len(k.allocation.chunks)
    assert fmt_diff(source) == ""
    for g, w in zip(results[("long_kernel", 0)][0], reference(f, points[0], "f64")[0], strict=True):
        assert abs(g - w) <= 1e-12 * max(1.0, abs(w))
    build_and_lint(tmp_path / "long", release=True)
    assert (
        cargo(["run", "-q", "--release"], tmp_path / "long").stdout.strip()
        == cargo(["run", "-q"], tmp_path / "long").stdout.strip()
    )


def test_workspace_of_one_slot_is_clippy_clean(tmp_path: pathlib.Path, cargo_available: None) -> None:
    """A kernel needing exactly one workspace slot checks ``work.is_empty()`` (clippy's
    len_zero rejects ``work.len() < 1``): a 600-step chain is 1,200 statements, two chunks
    handing one value over. Its start ``a`` is read again by the last statement: it waits in
    the output element (written by that statement), so the hand-over value takes the one slot."""
    x = SX.sym("x")
    a = x * 3
    e = a
    for _ in range(600):
        e = e * e + 1
    r = generate_rust(Function("chain", [x], [e + a]))
    assert r.workspace_size == 1
    assert "work[0] = w0;" in r.source and "let w0 = y[0] + w0;" in r.source
    assert "if work.is_empty() {" in r.source and "work.len() < 1" not in r.source
    write_crate(tmp_path / "one", "gg_one", r.source, [r.function_name], False)
    build_and_lint(tmp_path / "one")


def test_deep_chain_generates_without_recursion_and_builds(
    tmp_path: pathlib.Path, cargo_available: None
) -> None:
    x = SX.sym("x")
    e = x
    for _ in range(100_000):
        e = e * e + 1
    f = Function("deep", [x], [e])
    r = generate_rust(f)
    assert r.source.count("#[inline(never)]") == 200  # 200,000 statements in chunks of 1,000
    # a chain needs one value handed between consecutive chunks: the output element holds it
    # (its final value is written by the last statement), so there is no workspace at all
    assert r.workspace_size == 0 and r.source.count("let w0 = y[0] * y[0];") == 199
    write_crate(tmp_path / "deep", "gg_deep", r.source, [r.function_name], False)
    proc = cargo(["build", "--release"], tmp_path / "deep")
    assert "warning" not in proc.stderr, proc.stderr


# ---- snapshots ---------------------------------------------------------------------------------
def snapshot_functions() -> list[Function]:
    x = SX.sym("x")
    v = SXVector.sym("v", 3)
    return [
        Function("square_plus_one", [x], [x * x + 1], input_names=["x"], output_names=["y"]),
        Function(
            "energy",
            [v, x],
            [v.norm2sq() + x * gg.sin(v[0]) + v[1] * v[2], v.norm_inf()],
            input_names=["x", "u"],
            output_names=["e", "m"],
        ),
        Function(
            "special",
            [v, x],
            [
                gg.erf(x) + gg.atan2(v[0], v[1]) + v.norm_p(3.0),
                gg.if_else(x, v[2], v[0] < v[1]) + x**5 + gg.signum(v[2]),
            ],
            input_names=["v", "x"],
            output_names=["a", "b"],
        ),
    ]


@pytest.mark.parametrize(("mode", "scalar"), CONFIGS, ids=[f"{m}-{t}" for m, t in CONFIGS])
@pytest.mark.parametrize("index", range(3), ids=["square_plus_one", "energy", "special"])
def test_rust_snapshot(rust_snapshot, mode: str, scalar: str, index: int) -> None:  # type: ignore[no-untyped-def]
    f = snapshot_functions()[index]
    source = f.generate_rust(RustBackendConfig().with_backend_mode(mode).with_scalar_type(scalar)).source
    assert fmt_diff(source) == ""
    assert source == rust_snapshot


def test_every_rust_snapshot_compiles(tmp_path: pathlib.Path, cargo_available: None) -> None:
    """All ``.rs`` snapshot files, as crates of one workspace, build clippy-clean."""
    files = sorted(SNAPSHOT_ROOT.rglob("*.rs"))
    assert len(files) >= 12
    members = []
    for i, path in enumerate(files):
        text = path.read_text()
        name = f"snap{i}"
        no_std = "#![no_std]" in text
        write_crate(tmp_path / name, name, text, [], no_std)
        if 'feature = "ffi"' in text:  # a builder crate: declare its optional C ABI feature
            (tmp_path / name / "Cargo.toml").write_text(cargo_toml(name, no_std, ffi=True))
        members.append(f'"{name}"')
    (tmp_path / "Cargo.toml").write_text(f'[workspace]\nresolver = "2"\nmembers = [{", ".join(members)}]\n')
    build_and_lint(tmp_path)


def test_compiler_fence_every_32_statements() -> None:
    """Long straight-line kernels get a compiler-only fence every 32 statements (it bounds how
    far LLVM's SLP vectorizer regroups work, see ``backends.rust.FENCE_EVERY``); short ones none."""
    from gradgen.backends.rust import FENCE_EVERY, SCHEDULING_FENCE

    x = SX.sym("x")
    e = x
    for _ in range(50):  # 100 statements: x*x, then + 1, fifty times
        e = e * e + 1
    source = generate_rust(Function("chain", [x], [e])).source
    body = source[source.index("pub fn chain") :]
    assert body.count(SCHEDULING_FENCE) == (100 - 1) // FENCE_EVERY == 3
    lines = [line.strip() for line in body.splitlines()]
    first = lines.index(SCHEDULING_FENCE)
    assert sum(line.startswith("let ") for line in lines[:first]) == FENCE_EVERY
    assert SCHEDULING_FENCE not in generate_rust(Function("short", [x], [x * x + 1])).source
