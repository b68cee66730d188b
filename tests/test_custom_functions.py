"""Custom elementary functions: Python values and derivatives against closed forms and central
differences, compiled Rust (f64/f32, std/no_std) equal to Python, and the errors raised before any
file is written."""

from __future__ import annotations

import functools
import math
import pathlib
import random

import pytest

import gradgen as gg
from gradgen import CodeGenerationBuilder, Function, RustBackendConfig, SXVector
from gradgen.backends.rust_custom import check_template
from gradgen.backends.rust_module import emit_module
from gradgen.codegen import generate_rust
from gradgen.pipeline import compile_kernel
from tests.cargo import cargo, cargo_env, rustfmt_check

T = "{{ scalar_type }}"
#: the same snippet builds for std (f64::exp) and no_std (libm::exp / libm::expf)
EXP = "{{ math_library }}::exp{{ math_suffix }}"
SQRT = "{{ math_library }}::sqrt{{ math_suffix }}"


def value(x: tuple[float, float], w: tuple[float, ...]) -> float:
    return w[0] * math.sqrt(1 + x[0] ** 2) + x[0] * x[1] ** 2 + math.exp(x[1])


def jac(x: tuple[float, float], w: tuple[float, ...]) -> list[float]:
    return [w[0] * x[0] / math.sqrt(1 + x[0] ** 2) + x[1] ** 2, 2 * x[0] * x[1] + math.exp(x[1])]


def hess(x: tuple[float, float], w: tuple[float, ...]) -> list[list[float]]:
    return [[w[0] / (1 + x[0] ** 2) ** 1.5, 2 * x[1]], [2 * x[1], 2 * x[0] + math.exp(x[1])]]


PRIMAL = f"""fn spx(x: &[{T}], w: &[{T}]) -> {T} {{
    w[0] * {SQRT}(1.0 + x[0] * x[0]) + x[0] * x[1] * x[1] + {EXP}(x[1])
}}"""
JACOBIAN = f"""fn spx_jacobian(x: &[{T}], w: &[{T}], out: &mut [{T}]) {{
    out[0] = w[0] * x[0] / {SQRT}(1.0 + x[0] * x[0]) + x[1] * x[1];
    out[1] = 2.0 * x[0] * x[1] + {EXP}(x[1]);
}}"""
HESSIAN = f"""fn spx_hessian(x: &[{T}], w: &[{T}], out: &mut [{T}]) {{
    let r = {SQRT}(1.0 + x[0] * x[0]);
    out[0] = w[0] / (r * r * r);
    out[1] = 2.0 * x[1];
    out[2] = 2.0 * x[1];
    out[3] = 2.0 * x[0] + {EXP}(x[1]);
}}"""


@pytest.fixture(autouse=True)
def fresh_registry():
    gg.clear_registered_elementary_functions()
    yield
    gg.clear_registered_elementary_functions()


def spx() -> gg.RegisteredElementaryFunction:
    return gg.register_elementary_function(
        name="spx",
        input_dimension=2,
        parameter_dimension=1,
        parameter_defaults=[1.5],
        eval_python=value,
        jacobian=jac,
        hessian=hess,
        rust_primal=PRIMAL,
        rust_jacobian=JACOBIAN,
        rust_hessian=HESSIAN,
    )


def model() -> Function:
    """``f`` used twice (two argument orders and parameters) plus a scalar custom function."""
    f = spx()
    cube = gg.register_elementary_function(
        name="cube",
        input_dimension=1,
        eval_python=lambda t: t**3,
        jacobian=lambda t: 3 * t**2,
        hvp=lambda t, v: 6 * t * v,
        rust_primal=f"fn cube(x: &[{T}], _w: &[{T}]) -> {T} {{\n    x[0] * x[0] * x[0]\n}}",
        rust_jacobian=(
            f"fn cube_jacobian(x: &[{T}], _w: &[{T}], out: &mut [{T}]) {{\n"
            "    out[0] = 3.0 * x[0] * x[0];\n}"
        ),
        rust_hvp=(
            f"fn cube_hvp(x: &[{T}], _w: &[{T}], v: &[{T}], out: &mut [{T}]) {{\n"
            "    out[0] = 6.0 * x[0] * v[0];\n}"
        ),
    )
    x = SXVector.sym("x", 2)
    p = gg.SX.sym("p")
    e = f(x) + 0.5 * f([x[1], x[0] * x[1]], w=[p]) + cube(x[0] - x[1])
    return Function("model", [x, p], [e], input_names=["x", "p"], output_names=["y"])


def reference(x: list[float], p: float) -> float:
    return value((x[0], x[1]), (1.5,)) + 0.5 * value((x[1], x[0] * x[1]), (p,)) + (x[0] - x[1]) ** 3


POINTS = [([0.3, -0.7], 2.0), ([-1.2, 0.4], 0.5), ([2.0, 1.1], -1.0)]


def central(fn, x: list[float], i: int, h: float = 1e-6) -> float:
    xp, xm = list(x), list(x)
    xp[i] += h
    xm[i] -= h
    return (fn(xp) - fn(xm)) / (2 * h)


def test_python_values_and_derivatives_against_closed_form_and_central_differences():
    F = model()
    G = F.gradient(0)
    H = F.hessian(0)
    for x, p in POINTS:
        assert F(x, p) == pytest.approx(reference(x, p), rel=1e-14)
        grad = G(x, p)
        at_p = functools.partial(reference, p=p)
        for i in range(2):
            assert grad[i] == pytest.approx(central(at_p, x, i), rel=1e-7, abs=1e-8)
        hes = H(x, p)
        for i in range(2):
            for j in range(2):
                fd = central(functools.partial(lambda z, p, i: G(z, p)[i], p=p, i=i), x, j)
                assert hes[2 * i + j] == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_hvp_only_definition_gives_the_hessian_and_numpy_results_are_accepted():
    np = pytest.importorskip("numpy")
    q = gg.register_elementary_function(
        name="quartic",
        input_dimension=2,
        eval_python=lambda x: np.float64(x[0] ** 4 + x[0] * x[1]),
        jacobian=lambda x: np.array([4 * x[0] ** 3 + x[1], x[0]]),
        hvp=lambda x, v: np.array([12 * x[0] ** 2 * v[0] + v[1], v[0]]),
    )
    x = SXVector.sym("x", 2)
    H = Function("h", [x], [q(x)]).hessian(0)
    assert H([1.5, -2.0]) == pytest.approx([12 * 1.5**2, 1.0, 1.0, 0.0])


def test_missing_derivatives_are_differentiation_errors_naming_the_function():
    plain = gg.register_elementary_function(name="plain", input_dimension=1, eval_python=math.sin)
    once = gg.register_elementary_function(
        name="once", input_dimension=1, eval_python=math.sin, jacobian=math.cos
    )
    x = gg.SX.sym("x")
    with pytest.raises(
        gg.DifferentiationError, match=r"'plain' provides no first derivatives \(a jacobian\)"
    ):
        Function("f", [x], [plain(x)]).gradient(0)
    with pytest.raises(
        gg.DifferentiationError, match=r"'once' provides no second derivatives \(a hessian or hvp\)"
    ):
        Function("f", [x], [once(x)]).hessian(0)
    w = gg.SX.sym("w")
    par = gg.register_elementary_function(
        name="par",
        input_dimension=1,
        parameter_dimension=1,
        eval_python=lambda t, w: t * w[0],
        jacobian=lambda t, w: w[0],
    )
    with pytest.raises(
        gg.DifferentiationError, match="'par' cannot be differentiated with respect to its parameters"
    ):
        Function("f", [x, w], [par(x, w=[w])]).gradient(1)
    # with respect to x only, the parameter symbol is fine
    assert Function("f", [x, w], [par(x, w=[w])]).gradient(0)(2.0, 3.0) == pytest.approx(3.0)


def test_hash_consing_is_keyed_by_the_registered_definition():
    f = spx()
    x = SXVector.sym("x", 2)
    assert f(x) is f(x)
    assert f(x) is not f(x, w=[2.0])
    assert str(f(x)) == "spx(x_0, x_1, 1.5)"


def test_registering_again_same_and_different_definitions():
    f = spx()
    assert spx() is f  # the same definition again is not an error
    assert gg.get_registered_elementary_function("spx") is f
    with pytest.raises(gg.FunctionDefinitionError, match="already registered with a different definition"):
        gg.register_elementary_function(name="spx", input_dimension=2, eval_python=value)
    gg.clear_registered_elementary_functions()
    with pytest.raises(gg.FunctionDefinitionError, match="no custom elementary function is registered"):
        gg.get_registered_elementary_function("spx")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "bad name"}, gg.InvalidNameError, "not a valid Rust identifier"),
        ({"name": "fn"}, gg.InvalidNameError, "Rust keyword"),
        ({"name": "norm2"}, gg.InvalidNameError, "gradgen helper function"),
        (
            {"rust_primal": "fn other(x: &[f64], w: &[f64]) -> f64 {\n    x[0]\n}"},
            gg.SnippetError,
            "must define `fn g",
        ),
        (
            {"rust_primal": "fn g(x: &[f64], w: &[f64]) -> f64 {\n    (x[0]\n}"},
            gg.SnippetError,
            "unbalanced delimiters",
        ),
        (
            {"rust_jacobian": "fn g_jacobian(x: &[f64], w: &[f64], out: &mut [f64]) { out[0] = 1.0; }}"},
            gg.SnippetError,
            "unexpected '}'",
        ),
        ({"rust_primal": "fn g(x: &[{{ scalar }}]) -> f64 { 1.0 }"}, gg.SnippetError, "unknown placeholder"),
        ({"input_dimension": 0}, gg.FunctionDefinitionError, "input_dimension"),
        (
            {"parameter_dimension": 1, "parameter_defaults": [1.0, 2.0]},
            gg.FunctionDefinitionError,
            "parameter_defaults",
        ),
    ],
)
def test_bad_definitions_are_refused_before_anything_is_written(kwargs, error, message, tmp_path):
    args = {"name": "g", "input_dimension": 1, "eval_python": math.sin, **kwargs}
    with pytest.raises(error, match=message):
        gg.register_elementary_function(**args)
    assert list(tmp_path.iterdir()) == []


def test_delimiter_check_ignores_strings_comments_and_char_literals():
    check_template(
        "ok",
        "fn a<'b>(s: &'b str) -> char {\n    // ) unbalanced in a comment\n    let _ = \")\";\n    '}'\n}",
    )


def test_a_function_without_rust_snippet_fails_before_writing(tmp_path: pathlib.Path):
    f = gg.register_elementary_function(name="pyonly", input_dimension=1, eval_python=math.sin)
    x = gg.SX.sym("x")
    with pytest.raises(gg.BuildError, match="'pyonly' is used in generated code but has no rust_primal"):
        gg.create_rust_project(Function("k", [x], [f(x)]), tmp_path / "crate")
    assert not (tmp_path / "crate").exists()


def test_rust_only_function_is_never_folded_and_a_clash_with_a_kernel_name_is_refused():
    twice = gg.register_elementary_function(
        name="twice",
        input_dimension=1,
        rust_primal="fn twice(x: &[f64], _w: &[f64]) -> f64 {\n    2.0 * x[0]\n}",
    )
    y = gg.SX.sym("y")
    k = Function("k", [y], [twice(3.0) * y])  # constant argument: still a call, not evaluated
    assert "let w0 = twice(&[3.0], &[]);" in generate_rust(k).source
    with pytest.raises(gg.CustomFunctionError, match="'twice' has no Python evaluation"):
        k(1.0)
    # a kernel of the same module named like the function
    other = Function("twice", [y], [y + 1.0])
    kernels = [compile_kernel(f.kernel, RustBackendConfig()) for f in (k, other)]
    with pytest.raises(
        gg.InvalidNameError, match=r"the generated function 'twice' .* custom function used by 'k'"
    ):
        emit_module(kernels)


def test_argument_named_like_the_function_is_a_name_error():
    f = spx()
    spx_in = SXVector.sym("spx", 2)
    with pytest.raises(gg.InvalidNameError, match="spx"):
        generate_rust(Function("k", [spx_in], [f(spx_in)], input_names=["spx"]))


TARGETS = [("std", "f64"), ("no_std", "f64"), ("std", "f32"), ("no_std", "f32")]


@pytest.fixture(scope="module")
def crates(tmp_path_factory: pytest.TempPathFactory):
    gg.clear_registered_elementary_functions()
    F = model()
    cache = tmp_path_factory.mktemp("custom-cache")
    out = {}
    for mode, scalar in TARGETS:
        config = (
            RustBackendConfig()
            .with_backend_mode(mode)
            .with_scalar_type(scalar)
            .with_crate_name(f"custom_{mode}_{scalar}")
        )
        b = (
            CodeGenerationBuilder()
            .with_backend_config(config)
            .for_function(F)
            .add_primal()
            .add_gradient(wrt=0)
            .add_hessian(wrt=0)
            .done()
        )
        out[(mode, scalar)] = gg.compile(b, build_dir=cache, env=cargo_env())
    gg.clear_registered_elementary_functions()
    return F, out


@pytest.mark.parametrize(("mode", "scalar"), TARGETS)
def test_compiled_rust_equals_python(crates, mode: str, scalar: str):
    F, built = crates
    crate = built[(mode, scalar)]
    refs = {"model_f": F, "model_grad_x": F.gradient(0), "model_hessian_x": F.hessian(0)}
    tol = 1e-12 if scalar == "f64" else 2e-5
    rng = random.Random(mode + scalar)
    for suffix, ref in refs.items():
        kernel = crate[f"custom_{mode}_{scalar}_{suffix}"]
        for _ in range(5):
            x = [rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)]
            p = rng.uniform(-2, 2)
            got = kernel(x, p)
            want = ref(x, p)
            got_l = [got] if isinstance(got, float) else list(got)
            want_l = [want] if isinstance(want, float) else list(want)
            for g, w in zip(got_l, want_l, strict=True):
                assert g == pytest.approx(w, rel=tol, abs=tol), (suffix, x, p)


@pytest.mark.parametrize(("mode", "scalar"), TARGETS)
def test_crate_emits_each_snippet_once_and_lints_clean(crates, mode: str, scalar: str):
    _, built = crates
    crate_dir = built[(mode, scalar)].library.crate_dir
    lib = (crate_dir / "src" / "lib.rs").read_text()
    for fn in (
        "spx",
        "spx_jacobian",
        "spx_hessian",
        "spx_jacobian_values",
        "spx_hessian_values",
        "cube",
        "cube_hvp",
        "cube_jacobian_values",
        "cube_hessian_column",
    ):
        assert lib.count(f"fn {fn}(") == 1, fn
    assert "fn cube_hessian(" not in lib  # only what is used: the cube's Hessian comes from its hvp
    assert "{{" not in lib
    assert rustfmt_check(lib) is None
    cargo(["clippy", "--release", "--", "-D", "warnings"], crate_dir)
