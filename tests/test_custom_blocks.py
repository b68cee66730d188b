"""Derivatives of a custom elementary function run the user's derivative code once per point: the
generated Rust reads every Jacobian (Hessian) entry of a point from one ``NAME_jacobian_values``
(``NAME_hessian_values``) array, or every entry of a Hessian column from one
``NAME_hessian_column`` (one ``NAME_hvp``), and the Python interpreter calls each callback once
per point (and column). Checked in the source, by counting callback calls, and numerically:
compiled crates (f64/f32, std/no_std, clippy and rustfmt clean) against finite differences."""

from __future__ import annotations

import math
import pathlib
import random
import re

import pytest

import gradgen as gg
from gradgen import CodeGenerationBuilder, Function, RustBackendConfig, SXVector
from gradgen.codegen import generate_rust
from tests.cargo import cargo, cargo_env, rustfmt_check

N = 8
T = "{{ scalar_type }}"
SQRT = "{{ math_library }}::sqrt{{ math_suffix }}"


def _a(i: int) -> float:
    return 0.5 * (i + 1)


def value(x: tuple[float, ...], w: tuple[float, ...]) -> float:
    """``w0 sqrt(1 + sum a_i x_i^2) + sum x_i x_(i+1)``: a dense Hessian plus a band."""
    r = math.sqrt(1.0 + sum(_a(i) * x[i] ** 2 for i in range(N)))
    return w[0] * r + sum(x[i] * x[i + 1] for i in range(N - 1))


def gradient(x: tuple[float, ...], w: tuple[float, ...]) -> list[float]:
    r = math.sqrt(1.0 + sum(_a(i) * x[i] ** 2 for i in range(N)))
    return [
        w[0] * _a(i) * x[i] / r + (x[i - 1] if i > 0 else 0.0) + (x[i + 1] if i < N - 1 else 0.0)
        for i in range(N)
    ]


def hessian(x: tuple[float, ...], w: tuple[float, ...]) -> list[list[float]]:
    r = math.sqrt(1.0 + sum(_a(i) * x[i] ** 2 for i in range(N)))
    return [
        [
            w[0] * ((_a(i) / r if i == j else 0.0) - _a(i) * x[i] * _a(j) * x[j] / r**3)
            + (1.0 if abs(i - j) == 1 else 0.0)
            for j in range(N)
        ]
        for i in range(N)
    ]


def hvp(x: tuple[float, ...], v: tuple[float, ...], w: tuple[float, ...]) -> list[float]:
    h = hessian(x, w)
    return [math.fsum(h[i][j] * v[j] for j in range(N)) for i in range(N)]


_R = f"""    let mut s: {T} = 1.0;
    for i in 0..x.len() {{
        s += 0.5 * (i as {T} + 1.0) * x[i] * x[i];
    }}
    let r = {SQRT}(s);"""
PRIMAL = f"""fn NAME(x: &[{T}], w: &[{T}]) -> {T} {{
{_R}
    let mut band: {T} = 0.0;
    for i in 1..x.len() {{
        band += x[i - 1] * x[i];
    }}
    w[0] * r + band
}}"""
JACOBIAN = f"""fn NAME_jacobian(x: &[{T}], w: &[{T}], out: &mut [{T}]) {{
{_R}
    let n = x.len();
    for i in 0..n {{
        let a = 0.5 * (i as {T} + 1.0);
        out[i] = w[0] * a * x[i] / r;
        if i > 0 {{
            out[i] += x[i - 1];
        }}
        if i + 1 < n {{
            out[i] += x[i + 1];
        }}
    }}
}}"""
HVP = f"""fn NAME_hvp(x: &[{T}], w: &[{T}], v: &[{T}], out: &mut [{T}]) {{
{_R}
    let n = x.len();
    let mut axv: {T} = 0.0;
    for j in 0..n {{
        axv += 0.5 * (j as {T} + 1.0) * x[j] * v[j];
    }}
    for i in 0..n {{
        let a = 0.5 * (i as {T} + 1.0);
        out[i] = w[0] * (a * v[i] / r - a * x[i] * axv / (r * r * r));
        if i > 0 {{
            out[i] += v[i - 1];
        }}
        if i + 1 < n {{
            out[i] += v[i + 1];
        }}
    }}
}}"""
HESSIAN = f"""fn NAME_hessian(x: &[{T}], w: &[{T}], out: &mut [{T}]) {{
{_R}
    let n = x.len();
    for i in 0..n {{
        for j in 0..n {{
            let (ai, aj) = (0.5 * (i as {T} + 1.0), 0.5 * (j as {T} + 1.0));
            let diagonal = if i == j {{ ai / r }} else {{ 0.0 }};
            let band = if i + 1 == j || j + 1 == i {{ 1.0 }} else {{ 0.0 }};
            out[i * n + j] = w[0] * (diagonal - ai * x[i] * aj * x[j] / (r * r * r)) + band;
        }}
    }}
}}"""


class Counted:
    """A callback that counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


@pytest.fixture(autouse=True)
def fresh_registry():
    gg.clear_registered_elementary_functions()
    yield
    gg.clear_registered_elementary_functions()


def register(name: str, second: str) -> tuple[gg.RegisteredElementaryFunction, dict[str, Counted]]:
    """The function with a Jacobian and either a Hessian (``second == "hessian"``) or an HVP."""
    callbacks = {"jacobian": Counted(gradient), second: Counted(hessian if second == "hessian" else hvp)}
    snippet = HESSIAN if second == "hessian" else HVP
    f = gg.register_elementary_function(
        name=name,
        input_dimension=N,
        parameter_dimension=1,
        parameter_defaults=[1.0],
        eval_python=value,
        jacobian=callbacks["jacobian"],
        **{second: callbacks[second]},
        rust_primal=PRIMAL.replace("NAME", name),
        rust_jacobian=JACOBIAN.replace("NAME", name),
        **{f"rust_{second}": snippet.replace("NAME", name)},
    )
    return f, callbacks


def once(f: gg.RegisteredElementaryFunction) -> Function:
    """``f`` used once, times a factor that makes the kernel read every derivative entry."""
    x = SXVector.sym("x", N)
    p = gg.SX.sym("p")
    return Function(f"{f.name}_once", [x, p], [f(x, w=[p]) * gg.sin(x[0])], input_names=["x", "p"])


def twice(f: gg.RegisteredElementaryFunction) -> Function:
    """``f`` at two points: ``x`` and ``x`` reversed and scaled."""
    x = SXVector.sym("x", N)
    p = gg.SX.sym("p")
    y = [0.5 * x[N - 1 - i] for i in range(N)]
    return Function(f"{f.name}_twice", [x, p], [f(x, w=[p]) + f(y, w=[2.0]) * x[1]], input_names=["x", "p"])


def _call_sites(source: str, fn: str) -> int:
    """Calls of the Rust function ``fn`` (its definition excluded)."""
    return len(re.findall(rf"(?<![A-Za-z0-9_]){re.escape(fn)}\(", source)) - source.count(f"fn {fn}(")


def _item(source: str, fn: str) -> str:
    """The text of the module-scope function ``fn``."""
    start = source.index(f"fn {fn}(")
    return source[start : source.index("\n}\n", start)]


def _runtime_indices(text: str) -> list[str]:
    """Indexing by a variable (``out[i]``): the only indexing that could panic."""
    return re.findall(r"\w\[[A-Za-z_]\w*\]", text)


def test_the_gradient_source_calls_the_jacobian_once_per_point() -> None:
    f, _ = register("dense", "hvp")
    source = generate_rust(once(f).gradient(0)).source
    assert _call_sites(source, "dense_jacobian") == 1  # in the wrapper only
    assert _call_sites(source, "dense_jacobian_values") == 1  # one block for the point
    assert source.count("fn dense_jacobian_values(") == 1
    # every entry is read at a constant index of the block, nothing indexes at run time
    reads = re.findall(r"= (w\d+)\[(\d+)\];", source)
    assert sorted(int(i) for _, i in reads) == list(range(N)) and len({b for b, _ in reads}) == 1
    assert _runtime_indices(_item(source, "dense_jacobian_values")) == []
    two = generate_rust(twice(f).gradient(0)).source
    assert _call_sites(two, "dense_jacobian_values") == 2  # two points, two blocks


def test_second_derivatives_cost_one_hessian_or_one_hvp_per_column() -> None:
    f, _ = register("by_columns", "hvp")
    source = generate_rust(once(f).hessian(0)).source
    assert _call_sites(source, "by_columns_hvp") == 1  # in the wrapper only
    assert _call_sites(source, "by_columns_hessian_column") == N  # one HVP per column, not per entry
    column = _item(source, "by_columns_hessian_column")
    assert "v.get_mut(j)" in column and _runtime_indices(column) == []  # nothing that could panic
    g, _ = register("whole", "hessian")
    source = generate_rust(once(g).hessian(0)).source
    assert _call_sites(source, "whole_hessian") == 1
    assert _call_sites(source, "whole_hessian_values") == 1
    assert _call_sites(source, "whole_jacobian_values") == 1


def _central(fn, x: list[float], j: int, h: float = 1e-5) -> list[float]:
    xp, xm = list(x), list(x)
    xp[j] += h
    xm[j] -= h
    a, b = fn(xp), fn(xm)
    return [(u - v) / (2 * h) for u, v in zip(a, b, strict=True)]


def test_python_evaluation_calls_each_callback_once_per_point_and_column() -> None:
    f, calls = register("py_cols", "hvp")
    F = once(f)
    x = [0.3 - 0.1 * i for i in range(N)]
    grad = F.gradient(0)(x, 1.5)
    assert calls["jacobian"].calls == 1
    assert len(grad) == N
    fd = _central(lambda z: [F(z, 1.5)], x, 0)  # d/dx0 by central differences
    assert grad[0] == pytest.approx(fd[0], rel=1e-7)
    hess = F.hessian(0)(x, 1.5)
    assert calls["hvp"].calls == N  # one column each, not one HVP per entry (N (N + 1) / 2)
    G = F.gradient(0)
    for j in range(N):
        column = _central(lambda z: G(z, 1.5), x, j)
        for i in range(N):
            assert hess[i * N + j] == pytest.approx(column[i], rel=1e-6, abs=1e-8)
    g, gcalls = register("py_whole", "hessian")
    two = twice(g)
    two.hessian(0)(x, 1.5)
    # two points; the Jacobian at the second one for the product with x[1]
    assert gcalls["hessian"].calls == 2 and gcalls["jacobian"].calls == 1
    two.gradient(0)(x, 1.5)
    assert gcalls["jacobian"].calls == 1 + 2


TARGETS = [("std", "f64"), ("no_std", "f64"), ("std", "f32"), ("no_std", "f32")]


@pytest.fixture(scope="module")
def crates(tmp_path_factory: pytest.TempPathFactory):
    gg.clear_registered_elementary_functions()
    f, _ = register("blk_cols", "hvp")
    g, _ = register("blk_whole", "hessian")
    functions = [twice(f), twice(g)]
    cache = tmp_path_factory.mktemp("custom-blocks-cache")
    built = {}
    for mode, scalar in TARGETS:
        b = CodeGenerationBuilder().with_backend_config(
            RustBackendConfig()
            .with_backend_mode(mode)
            .with_scalar_type(scalar)
            .with_crate_name(f"blocks_{mode}_{scalar}")
        )
        for F in functions:
            b = b.for_function(F).add_gradient(wrt=0).add_hessian(wrt=0).done()
        built[(mode, scalar)] = gg.compile(b, build_dir=cache, env=cargo_env())
    gg.clear_registered_elementary_functions()
    return functions, built


@pytest.mark.parametrize(("mode", "scalar"), TARGETS)
def test_compiled_derivatives_match_finite_differences(crates, mode: str, scalar: str) -> None:
    functions, built = crates
    crate = built[(mode, scalar)]
    rng = random.Random(f"{mode}{scalar}")
    tol = 1e-6 if scalar == "f64" else 2e-4
    for F in functions:
        grad = crate[f"blocks_{mode}_{scalar}_{F.name}_grad_x"]
        hess = crate[f"blocks_{mode}_{scalar}_{F.name}_hessian_x"]
        G = F.gradient(0)
        for _ in range(3):
            x = [rng.uniform(-1.0, 1.0) for _ in range(N)]
            p = rng.uniform(0.5, 2.0)
            got_g, got_h = grad(x, p), hess(x, p)
            for j in range(N):
                fd = _central(lambda z, F=F, p=p: [F(z, p)], x, j)[0]
                assert got_g[j] == pytest.approx(fd, rel=tol, abs=tol), (F.name, j)
                column = _central(lambda z, G=G, p=p: G(z, p), x, j)
                for i in range(N):
                    assert got_h[i * N + j] == pytest.approx(column[i], rel=tol, abs=tol), (F.name, i, j)
            if scalar == "f64":  # the same operations as the interpreter
                assert got_g == pytest.approx(G(x, p), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize(("mode", "scalar"), TARGETS)
def test_block_crates_are_clippy_and_rustfmt_clean(crates, mode: str, scalar: str) -> None:
    _, built = crates
    crate_dir = built[(mode, scalar)].library.crate_dir
    lib = (crate_dir / "src" / "lib.rs").read_text()
    for fn in ("blk_cols_jacobian_values", "blk_cols_hessian_column", "blk_whole_hessian_values"):
        assert lib.count(f"fn {fn}(") == 1, fn
    assert "fn blk_whole_hessian_column(" not in lib and "fn blk_cols_hessian_values(" not in lib
    assert rustfmt_check(lib) is None
    cargo(["clippy", "--release", "--", "-D", "warnings"], crate_dir)


def test_a_kernel_split_into_chunks_computes_a_block_in_each_chunk_that_reads_it(
    tmp_path: pathlib.Path,
) -> None:
    from gradgen.backends.names import rust_names
    from gradgen.pipeline import compile_kernel
    from tests.test_rust_ops import build_and_run

    f, _ = register("chunked", "hvp")
    H = twice(f).hessian(0)
    config = RustBackendConfig()
    kernel = compile_kernel(H.kernel, config, max_chunk=40)
    assert kernel.allocation is not None and len(kernel.allocation.chunks) > 3
    x = [0.4 - 0.15 * i for i in range(N)]
    results = build_and_run(tmp_path, "chunked_blocks", [kernel], config, [[[x, [1.25]]]])
    got = results[(rust_names(kernel).function, 0)][0]
    want = H(x, 1.25)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14)
    source = (tmp_path / "src" / "lib.rs").read_text()
    # two points, N columns each: at least 2 N column products, at most one per chunk and column
    calls = _call_sites(source, "chunked_hessian_column")
    assert 2 * N <= calls <= 2 * N * len(kernel.allocation.chunks)
