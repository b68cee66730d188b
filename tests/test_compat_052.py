"""Scripts written for gradgen 0.5.2 run unchanged: its spellings, with its meaning.

Each test follows an example of the 0.5.2 documentation (rewritten here), checks the values
against ``math`` or central finite differences, and compiles generated crates where code
generation is involved.
"""

from __future__ import annotations

import math
import pathlib
import re
from collections.abc import Callable

import pytest

import gradgen as gg
from gradgen import SX, Function, GradgenTypeError, ShapeError, SXVector
from gradgen.native_call import CompiledCrate
from tests.cargo import build_and_lint, cargo_env

# ---- helpers ------------------------------------------------------------------------------------


def central_difference(fn: Callable[[float], float], x: float, h: float = 1e-6) -> float:
    return (fn(x + h) - fn(x - h)) / (2.0 * h)


def gradient_fd(fn: Callable[[list[float]], float], x: list[float], h: float = 1e-6) -> list[float]:
    out = []
    for i in range(len(x)):
        up = list(x)
        dn = list(x)
        up[i] += h
        dn[i] -= h
        out.append((fn(up) - fn(dn)) / (2.0 * h))
    return out


def math_fract(v: float) -> float:
    return v - math.trunc(v)


#: (method name, reference, a point of its domain)
UNARY: list[tuple[str, Callable[[float], float], float]] = [
    ("sin", math.sin, 0.7),
    ("cos", math.cos, 0.7),
    ("tan", math.tan, 0.7),
    ("asin", math.asin, 0.3),
    ("acos", math.acos, 0.3),
    ("atan", math.atan, 0.7),
    ("sinh", math.sinh, 0.7),
    ("cosh", math.cosh, 0.7),
    ("tanh", math.tanh, 0.7),
    ("asinh", math.asinh, 0.7),
    ("acosh", math.acosh, 1.7),
    ("atanh", math.atanh, 0.3),
    ("exp", math.exp, 0.7),
    ("expm1", math.expm1, 0.7),
    ("log", math.log, 1.7),
    ("log1p", math.log1p, 0.7),
    ("log10", math.log10, 1.7),
    ("sqrt", math.sqrt, 1.7),
    ("cbrt", lambda v: math.copysign(abs(v) ** (1.0 / 3.0), v), -1.7),
    ("erf", math.erf, 0.7),
    ("erfc", math.erfc, 0.7),
    ("floor", math.floor, -1.7),
    ("ceil", math.ceil, -1.7),
    ("round", lambda v: math.copysign(math.floor(abs(v) + 0.5), v), -2.5),
    ("trunc", math.trunc, -1.7),
    ("fract", math_fract, -1.25),
    ("signum", lambda v: math.copysign(1.0, v), -1.7),
    ("abs", abs, -1.7),
]

#: (method name, reference, a point) for the two-argument methods ``x.op(y)``
BINARY: list[tuple[str, Callable[[float, float], float], tuple[float, float]]] = [
    ("atan2", math.atan2, (0.4, -0.9)),
    ("hypot", math.hypot, (0.4, -0.9)),
    ("maximum", max, (0.4, -0.9)),
    ("minimum", min, (0.4, -0.9)),
]

SMOOTH = {"floor", "ceil", "round", "trunc", "signum"}  # piecewise constant: derivative 0


# ---- item 1: math as methods ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "ref", "point"), UNARY, ids=[u[0] for u in UNARY])
def test_unary_method_value_and_derivative(name: str, ref: Callable[[float], float], point: float) -> None:
    x = SX.sym("x")
    expr = getattr(x, name)()
    assert expr is getattr(gg, name if name != "abs" else "fabs")(x)  # the same node as the function
    f = Function("f", [x], [expr])
    assert f(point) == pytest.approx(ref(point), rel=1e-12, abs=1e-15)
    slope = f.gradient(0)(point)
    expected = 0.0 if name in SMOOTH else central_difference(ref, point)
    assert slope == pytest.approx(expected, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize(("name", "ref", "point"), BINARY, ids=[b[0] for b in BINARY])
def test_binary_method_value_and_gradient(
    name: str, ref: Callable[[float, float], float], point: tuple[float, float]
) -> None:
    x, y = SX.sym("x"), SX.sym("y")
    expr = getattr(x, name)(y)
    f = Function("f", [SXVector([x, y])], [expr])
    assert f(list(point)) == pytest.approx(ref(*point), rel=1e-14)
    assert f.gradient(0)(list(point)) == pytest.approx(
        gradient_fd(lambda p: ref(p[0], p[1]), list(point)), rel=1e-6, abs=1e-9
    )
    # a number on the right is a constant
    assert Function("g", [x], [getattr(x, name)(2.5)])(point[0]) == pytest.approx(ref(point[0], 2.5))


def test_binary_method_rejects_non_scalars() -> None:
    with pytest.raises(GradgenTypeError, match="expected a scalar expression or a number"):
        SX.sym("x").atan2("y")  # type: ignore[arg-type]


def test_fract_is_rusts_fract() -> None:
    x = SX.sym("x")
    f = Function("f", [x], [gg.fract(x)])
    for v in (-1.25, -0.0, 0.0, 2.75, 1e300, -3.0):
        assert f(v) == math_fract(v)
    assert math.isnan(f(math.inf)) and math.isnan(f(-math.inf)) and math.isnan(f(math.nan))
    assert x.fract().op == gg.fract(x).op  # one op, reached both ways
    # derivative 1 between the jumps (0.5.2 refuses to differentiate fract)
    assert Function("g", [x], [x.fract() * x]).gradient(0)(2.25) == pytest.approx(0.25 + 2.25)


@pytest.mark.parametrize("name", [u[0] for u in UNARY])
def test_unary_method_on_vector_is_elementwise(name: str) -> None:
    v = SXVector.sym("v", 3)
    out = getattr(v, name)()
    assert isinstance(out, SXVector)
    assert list(out) == [getattr(e, name)() for e in v]


def test_vector_max_min_values_and_gradients() -> None:
    v = SXVector.sym("v", 4)
    f = Function("f", [v], [v.max(), v.min()])
    point = [0.3, -1.2, 2.5, 0.7]
    assert f(point) == (2.5, -1.2)
    g_max = Function("gmax", [v], [v.max() * v.sum()]).gradient(0)
    expected = gradient_fd(lambda p: max(p) * sum(p), point)
    assert g_max(point) == pytest.approx(expected, rel=1e-6)
    g_min = Function("gmin", [v], [v.min()]).gradient(0)
    assert g_min(point) == [0.0, 1.0, 0.0, 0.0]


def test_vector_max_tie_follows_maximum() -> None:
    a, b = SX.sym("a"), SX.sym("b")
    pair = SXVector([a, b])
    tie_vec = Function("t", [pair], [pair.max()]).gradient(0)([1.0, 1.0])
    tie_fn = Function("u", [pair], [gg.maximum(a, b)]).gradient(0)([1.0, 1.0])
    assert tie_vec == tie_fn == [0.5, 0.5]


def test_vector_max_of_empty_vector_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="max of an empty vector"):
        SXVector([]).max()
    with pytest.raises(ShapeError, match="min of an empty vector"):
        SXVector([]).min()


def test_vector_elements() -> None:
    v = SXVector.sym("v", 3)
    assert v.elements == (SX.sym("v_0"), SX.sym("v_1"), SX.sym("v_2"))
    assert isinstance(v.elements, tuple)


# ---- item 2: symbols with metadata; empty vectors -----------------------------------------------


def test_symbol_metadata_is_kept_and_ignored_by_codegen() -> None:
    x = SX.sym("meta_x", metadata={"unit": "m", "bounds": (0.0, 1.0)})
    assert x.metadata == {"unit": "m", "bounds": (0.0, 1.0)}
    assert SX.sym("meta_x") is x and SX.sym("meta_x").metadata == x.metadata  # symbols are by name
    x.metadata["unit"] = "changed"  # a copy: the symbol's metadata does not change
    assert x.metadata["unit"] == "m"
    plain = SX.sym("meta_plain")
    assert plain.metadata == {}
    f_meta = Function("f", [x], [x.sin()], input_names=["x"]).generate_rust()
    f_plain = Function("f", [plain], [plain.sin()], input_names=["x"]).generate_rust()
    assert f_meta.source == f_plain.source


def test_symbol_metadata_errors() -> None:
    with pytest.raises(GradgenTypeError, match="metadata must be a dict"):
        SX.sym("m", metadata=[1])  # type: ignore[arg-type]
    with pytest.raises(GradgenTypeError, match="metadata values must be hashable"):
        SX.sym("m", metadata={"k": [1]})
    with pytest.raises(GradgenTypeError, match="only symbols have metadata"):
        _ = (SX.sym("m") + 1).metadata


def test_vector_sym_metadata_and_empty() -> None:
    w = SXVector.sym("mw", 2, metadata={"role": "state"})
    assert [e.metadata for e in w] == [{"role": "state"}] * 2
    empty = SXVector.sym("e", 0)
    assert len(empty) == 0 and empty.elements == ()
    assert Function("s", [SX.sym("z")], [empty.sum() + SX.sym("z")])(2.0) == 2.0
    with pytest.raises(GradgenTypeError, match="non-negative integer length"):
        SXVector.sym("e", -1)


def test_dump_tool_prints_symbol_metadata() -> None:
    from gradgen import dump

    x = SX.sym("dumped", metadata={"unit": "s"})
    text = dump.describe_symbols([x])
    assert "dumped" in text and "unit" in text and "'s'" in text


# ---- generated code for the new spellings compiles and computes the same ----------------------------


@pytest.fixture(scope="module")
def compiled_math(tmp_path_factory: pytest.TempPathFactory) -> CompiledCrate:
    v = SXVector.sym("v", 3)
    x = SX.sym("x")
    f = Function(
        "mathy",
        [v, x],
        [v.exp().sum() + v.max() * x.fract() + v.min().hypot(x) + x.atan2(v[0]).maximum(0.1)],
        input_names=["v", "x"],
    )
    config = gg.RustBackendConfig().with_crate_name("compat_math")
    b = (
        gg.CodeGenerationBuilder()
        .with_backend_config(config)
        .for_function(f)
        .add_primal()
        .add_gradient()
        .done()
    )
    cache = tmp_path_factory.mktemp("compat-cache")
    return gg.compile(b, build_dir=cache, env=cargo_env())


def test_generated_math_methods_match_python(compiled_math: CompiledCrate) -> None:
    v = SXVector.sym("v", 3)
    x = SX.sym("x")
    f = Function(
        "mathy",
        [v, x],
        [v.exp().sum() + v.max() * x.fract() + v.min().hypot(x) + x.atan2(v[0]).maximum(0.1)],
        input_names=["v", "x"],
    )
    for point, s in (([0.3, -0.2, 1.1], -2.75), ([1.5, 0.2, -0.4], 3.25)):
        assert compiled_math["compat_math_mathy_f"](point, s) == pytest.approx(f(point, s), rel=1e-14)
        grads = compiled_math["compat_math_mathy_grad_v"](point, s)
        assert grads == pytest.approx(f.gradient(0)(point, s), rel=1e-12)


@pytest.mark.parametrize(("mode", "scalar"), [("std", "f64"), ("no_std", "f32")])
def test_fract_crate_builds_clippy_clean(tmp_path: pathlib.Path, mode: str, scalar: str) -> None:
    x = SX.sym("x")
    f = Function("fr", [x], [x.fract() * x.sin()])
    config = gg.RustBackendConfig().with_backend_mode(mode).with_scalar_type(scalar)
    project = f.create_rust_project(tmp_path / "fr", crate_name=f"fract_{mode}", config=config)
    source = (project.project_dir / "src" / "lib.rs").read_text()
    assert "fn fract(" in source
    assert ("libm::truncf(x)" in source) == (mode == "no_std")
    build_and_lint(project.project_dir)


def test_dump_command_shows_symbol_metadata(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gradgen import dump

    script = tmp_path / "target_fn.py"
    script.write_text(
        "from gradgen import SX, Function\n"
        "x = SX.sym('tagged', metadata={'unit': 'kg'})\n"
        "f = Function('f', [x], [x.sin()])\n"
    )
    assert dump.main([f"{script}:f", "--emit", "none"]) == 0
    out = capsys.readouterr().out
    assert "symbol metadata" in out and "tagged: {'unit': 'kg'}" in out


# ---- item 3: calling a Function on symbols composes; keyword calls --------------------------------


def _two_output_function() -> Function:
    x = SXVector.sym("x", 2)
    u = SX.sym("u")
    return Function(
        "f", [x, u], [x * u.sin(), x.norm2sq() * u], input_names=["x", "u"], output_names=["y", "s"]
    )


def test_call_by_keyword_matches_positional() -> None:
    f = _two_output_function()
    expected_y = [1.0 * math.sin(2.0), -3.0 * math.sin(2.0)]
    expected_s = (1.0 + 9.0) * 2.0
    for result in (
        f([1.0, -3.0], 2.0),
        f(x=[1.0, -3.0], u=2.0),
        f(u=2.0, x=[1.0, -3.0]),
        f([1.0, -3.0], u=2.0),
    ):
        assert result[0] == pytest.approx(expected_y, rel=1e-15)
        assert result[1] == pytest.approx(expected_s, rel=1e-15)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f(x=[1.0, 2.0]), r"missing a value for input\(s\) 'u'"),
        (lambda f: f(x=[1.0, 2.0], u=1.0, z=3.0), "has no input named 'z'; its inputs are x, u"),
        (lambda f: f([1.0, 2.0], x=[1.0, 2.0]), "got two values for input 'x'"),
        (lambda f: f([1.0, 2.0], 1.0, 3.0, u=1.0), r"takes 2 argument\(s\) \(x, u\), got 3"),
        (lambda f: f(SXVector.sym("a", 3), 1.0), "argument 'x' of 'f' has length 3, expected 2"),
        (lambda f: f(SXVector.sym("a", 2), "u"), "argument 'u' of 'f' must be an expression"),
    ],
)
def test_call_errors(call: Callable[[Function], object], message: str) -> None:
    with pytest.raises(gg.EvaluationArgumentError, match=message):
        call(_two_output_function())


def test_symbolic_call_returns_expressions_and_composes() -> None:
    f = _two_output_function()
    a = SXVector.sym("a", 2)
    b = SX.sym("b")
    y, s = f(a, b)
    assert isinstance(y, SXVector) and len(y) == 2 and isinstance(s, SX)
    # g(f(x)[0], y): composition, evaluated and differentiated through the composed expression
    w = SX.sym("w")
    g = Function("g", [SXVector.sym("p", 2), w], [SXVector.sym("p", 2).dot([1.0, 2.0]) * w.exp()])
    composed_expr = g(f(a, b)[0], s)
    assert isinstance(composed_expr, SX)
    h = Function("h", [a, b], [composed_expr])

    def reference(p: list[float]) -> float:
        a0, a1, bb = p
        yy = [a0 * math.sin(bb), a1 * math.sin(bb)]
        ss = (a0 * a0 + a1 * a1) * bb
        return (yy[0] + 2.0 * yy[1]) * math.exp(ss)

    point = [0.3, -0.4, 0.9]
    assert h(point[:2], point[2]) == pytest.approx(reference(point), rel=1e-14)
    grad = Function("hh", [SXVector([*a, b])], [composed_expr]).gradient(0)(point)
    assert grad == pytest.approx(gradient_fd(reference, point), rel=1e-6)
    # numbers among symbolic arguments become constants; keyword arguments work symbolically too
    assert Function("m", [b], [f([1.0, 2.0], u=b)[1]])(0.5) == 2.5
    assert Function("k", [a, b], [f(x=a, u=b)[1]])([1.0, 2.0], 0.5) == pytest.approx(2.5)


# ---- item 7: the op of an expression reads as its lowercase name ------------------------------------


def test_op_compares_equal_to_its_name_and_stays_the_enum() -> None:
    from gradgen.ir.ops import OP_INFO, Op

    x, y = SX.sym("x"), SX.sym("y")
    assert x.sin().op == "sin" and x.sin().op is Op.SIN
    assert (x.sin().op != "sin") is False and x.sin().op != "cos"
    assert (x * y).op == "mul" and (x + y).op == "add" and (x < y).op == "lt"
    assert x.abs().op == "abs" and x.fract().op == "fract" and x.maximum(y).op == "max"
    # 0.5.2's names for the ops we name differently
    assert x.op == "symbol" and x.op == "input"
    assert (x**2).op == "pow" and (x**y).op == "pow"
    assert gg.if_else(x, y, x < y).op == "if_else"
    assert SX.const(2.0).op == "const"
    # every op: its table name, int value and enum identity all still work
    for op, info in OP_INFO.items():
        assert op == info.name and op != info.name.upper()
        assert op == int(op) and hash(op) == hash(int(op))
        assert {op: 1}[Op(int(op))] == 1
    assert Op.SIN != Op.COS and Op.SIN == Op.SIN


# ---- item 4: derivative and simplification spellings of 0.5.2 -------------------------------------


def _energy() -> tuple[Function, Callable[[list[float], float], float]]:
    x = SXVector.sym("x", 2)
    u = SX.sym("u")
    f = Function(
        "h", [x, u], [x.norm2sq() * u + x[0].sin() * x[1]], input_names=["x", "u"], output_names=["e"]
    )

    def ref(xv: list[float], uv: float) -> float:
        return (xv[0] ** 2 + xv[1] ** 2) * uv + math.sin(xv[0]) * xv[1]

    return f, ref


X0, U0 = [0.4, -1.3], 0.7


def _fd_x(ref: Callable[[list[float], float], float]) -> list[float]:
    return gradient_fd(lambda p: ref(p, U0), X0)


def test_named_derivatives_and_wrt_index() -> None:
    f, ref = _energy()
    g = f.gradient(0, name="energy_grad")
    assert g.name == "energy_grad" and g(X0, U0) == pytest.approx(_fd_x(ref), rel=1e-6)
    assert f.gradient(wrt_index=1)(X0, U0) == pytest.approx(X0[0] ** 2 + X0[1] ** 2, rel=1e-14)
    j = f.jacobian(wrt_index=0, name="jac")
    assert j.name == "jac" and j(X0, U0) == pytest.approx(_fd_x(ref), rel=1e-6)
    h = f.hessian(0, name="hess")
    hx = h(X0, U0)
    expected_h = [2 * U0 - math.sin(X0[0]) * X0[1], math.cos(X0[0]), math.cos(X0[0]), 2 * U0]
    assert h.name == "hess" and hx == pytest.approx(expected_h, rel=1e-12)
    v = [0.25, -2.0]
    hv = f.hvp(0, name="hv", tangent_name="d")
    assert hv.name == "hv" and hv.input_names == ("x", "u", "d")
    assert hv(X0, U0, v) == pytest.approx(
        [expected_h[0] * v[0] + expected_h[1] * v[1], expected_h[2] * v[0] + expected_h[3] * v[1]], rel=1e-12
    )
    with pytest.raises(GradgenTypeError, match="either as wrt=0 or as wrt_index=1"):
        f.gradient(0, wrt_index=1)


def test_jvp_vjp_in_both_spellings() -> None:
    f, ref = _energy()
    t_x, t_u = [1.0, 0.5], 2.0
    grad = _fd_x(ref)
    d_u = X0[0] ** 2 + X0[1] ** 2
    expected = grad[0] * t_x[0] + grad[1] * t_x[1] + d_u * t_u
    assert f.jvp(t_x, t_u)(X0, U0) == pytest.approx(expected, rel=1e-6)  # 0.5.2: one tangent per input
    assert f.jvp([t_x, t_u])(X0, U0) == pytest.approx(expected, rel=1e-6)  # ours
    assert f.jvp(t_x, 0)(X0, U0) == pytest.approx(grad[0] * 1.0 + grad[1] * 0.5, rel=1e-6)  # ours
    with pytest.raises(GradgenTypeError, match=r"ambiguous.*wrt_index=1"):
        f.jvp(t_x, 1)
    # two outputs: 0.5.2's vjp(c0, c1) is one cotangent per output
    x = SXVector.sym("x", 2)
    u = SX.sym("u")
    two = Function("f", [x, u], [x.sum() * u, x * u], input_names=["x", "u"], output_names=["s", "y"])
    vx, vu = two.vjp(1.0, [1, 1])([1.0, 2.0], 3.0)
    assert vx == [6.0, 6.0] and vu == 6.0
    named = two.vjp(wrt_index=0, cotangent_names=["cs", "cy"], name="pullback")
    assert named.name == "pullback" and named.input_names == ("x", "u", "cs", "cy")
    assert named([1.0, 2.0], 3.0, 2.0, [1.0, -1.0]) == [2.0 * 3.0 + 3.0, 2.0 * 3.0 - 3.0]
    with pytest.raises(GradgenTypeError, match="cotangent_names= names runtime cotangent inputs"):
        two.vjp(1.0, [1, 1], cotangent_names=["a", "b"])
    with pytest.raises(gg.FunctionDefinitionError, match="expected 2 name"):
        two.vjp(wrt_index=0, cotangent_names=["a"])


def test_blocks_joint_and_structure() -> None:
    f, ref = _energy()
    assert [b.name for b in f.jacobian_blocks()] == [f.jacobian(0).name, f.jacobian(1).name]
    assert [b.name for b in f.hessian_blocks([1])] == [f.hessian(1).name]
    assert [b.input_names for b in f.hvp_blocks()] == [("x", "u", "v_x"), ("x", "u", "v_u")]
    vb = f.vjp_blocks()
    assert vb[0]([0.4, -1.3], 0.7, 1.0) == pytest.approx(_fd_x(ref), rel=1e-6)
    joint = f.joint(("f", "grad", "hvp"), wrt_index=0, name="j", simplify_joint="max")
    value, grad, hv = joint(X0, U0, [1.0, 0.0])
    assert joint.name == "j" and value == pytest.approx(ref(X0, U0), rel=1e-14)
    assert grad == pytest.approx(_fd_x(ref), rel=1e-6)
    assert hv == pytest.approx([2 * U0 - math.sin(X0[0]) * X0[1], math.cos(X0[0])], rel=1e-12)
    assert f.flat_inputs == (SX.sym("x_0"), SX.sym("x_1"), SX.sym("u"))
    assert len(f.flat_outputs) == 1 and isinstance(f.flat_outputs[0], SX)
    nodes = f.nodes
    assert nodes[-1] is f.flat_outputs[0] and set(f.flat_inputs) <= set(nodes)
    assert len(set(map(id, nodes))) == len(nodes)
    for k, node in enumerate(nodes):  # children before parents
        assert all(nodes.index(a) < k for a in node.args)


def test_simplify_max_effort() -> None:
    from gradgen.compat import level_from_effort

    assert [level_from_effort(n) for n in (0, 1, 2, 3, 5, 6, 9, 10, 50)] == [
        "none", "basic", "basic", "medium", "medium", "high", "high", "max", "max"
    ]  # fmt: skip
    assert level_from_effort("high") == "high"
    for bad in (-1, "most", 1.5, True):
        with pytest.raises(gg.InvalidLevelError, match="max_effort must be one of"):
            level_from_effort(bad)
    x = SX.sym("x")
    assert gg.simplify(x * 1.0 + 0.0 + x - x, max_effort="max") is x
    f = Function("f", [x], [x.sin() ** 2 + x.cos() ** 2 + x * 0.0])
    s = f.simplify(max_effort=10, name="simple")
    assert s.name == "simple" and s(0.3) == pytest.approx(1.0, rel=1e-15)
    rows = gg.simplify((x + 0.0, SXVector([x * 1.0, x - x])), max_effort="max")
    assert rows[0] is x and list(rows[1]) == [x, SX.const(0.0)]


def test_derivative_and_gradient_seed() -> None:
    u = SX.sym("u")
    d = gg.derivative(u * u, u, seed=3.0)
    assert Function("d", [u], [d])(1.5) == pytest.approx(9.0)
    v = SXVector.sym("v", 2)
    g = gg.gradient(v.norm2sq(), v, seed=2.0)
    assert Function("g", [v], [g])([1.0, -2.0]) == [4.0, -8.0]
    s = SX.sym("s")
    assert Function("gs", [v, s], [gg.gradient(v.norm2sq(), v, seed=s)])([1.0, -2.0], 0.5) == [1.0, -2.0]


def test_quadform_is_symmetric() -> None:
    x = SXVector.sym("x", 2)
    p = [[1.0, 2.0], [2.0, 3.0]]
    q = Function("q", [x], [gg.quadform(p, x, is_symmetric=True)])
    assert q([0.5, -1.0]) == pytest.approx(0.25 + 2 * 2.0 * 0.5 * -1.0 + 3.0)
    lower = [[1.0, 2.0], [0.0, 3.0]]
    with pytest.raises(ShapeError, match=r"P\[1\]\[0\] differs from P\[0\]\[1\]; pass is_symmetric=False"):
        gg.quadform(lower, x, is_symmetric=True)
    nq = Function("nq", [x], [gg.quadform(lower, x, is_symmetric=False)])
    assert nq([0.5, -1.0]) == pytest.approx(0.25 + 2.0 * 0.5 * -1.0 + 3.0)


# ---- item 5: module-level code generation entry points and options of 0.5.2 -----------------------


def _kernel_pair() -> tuple[Function, Function]:
    x = SXVector.sym("x", 2)
    u = SX.sym("u")
    f = Function("f", [x, u], [(x * u).sin().sum()], input_names=["x", "u"], output_names=["e"])
    g = Function("g", [x], [x * x[0]], input_names=["x"], output_names=["y"])
    return f, g


def test_generate_rust_keywords_and_result_fields() -> None:
    f, _ = _kernel_pair()
    r = gg.generate_rust(f, backend_mode="no_std", scalar_type="f32", function_name="kern")
    assert (r.python_name, r.function_name, r.backend_mode, r.scalar_type, r.math_library) == (
        "f", "kern", "no_std", "f32", "libm"
    )  # fmt: skip
    assert "pub fn kern(" in r.source and "libm::sinf" in r.source
    std = f.generate_rust(backend_mode="std")
    assert (std.backend_mode, std.scalar_type, std.math_library) == ("std", "f64", None)
    config = gg.RustBackendConfig().with_scalar_type("f32")
    assert gg.generate_rust(f, config=config, scalar_type="f64").scalar_type == "f64"  # keyword wins
    with pytest.raises(gg.ConfigError, match="math_library 'micromath' is not supported"):
        gg.generate_rust(f, math_library="micromath")
    with pytest.raises(GradgenTypeError, match="generate_rust expects a gradgen Function"):
        gg.generate_rust([f])  # type: ignore[arg-type]


def test_cse_plan_names_and_use_counts() -> None:
    x, y = SX.sym("x"), SX.sym("y")
    xy = x * y
    e = xy.sin() + xy.cos()
    plan = gg.cse([e])
    assert isinstance(plan, gg.CSEPlan)
    assert [type(a) for a in plan.assignments] == [gg.CSEAssignment]
    assert plan.assignments[0].expr is xy and plan.assignments[0].use_count == 2
    assert plan.use_counts[xy] == 2 and plan.use_counts[e] == 1 and plan.use_counts[x] == 2


def test_backend_mode_and_scalar_type_names() -> None:
    import typing

    assert typing.get_args(gg.RustBackendMode) == ("std", "no_std")
    assert typing.get_args(gg.RustScalarType) == ("f64", "f32")


def test_multi_function_project_and_builder_forms(tmp_path: pathlib.Path) -> None:
    f, g = _kernel_pair()
    config = gg.RustBackendConfig().with_crate_name("multi")
    result = gg.create_multi_function_rust_project((f, g), tmp_path / "multi", config=config)
    assert result.function_names == ("multi_f_f", "multi_g_f")
    # 0.5.2's builder forms: for_function(f, lambda b: ...) and wrt by input name
    b = (
        gg.CodeGenerationBuilder()
        .with_backend_config(gg.RustBackendConfig().with_crate_name("forms"))
        .for_function(f, lambda blk: blk.add_gradient(wrt="u").add_hvp(wrt=["x"]))
        .for_function(g, lambda blk: blk.add_joint(gg.FunctionBundle().add_f().add_jf(wrt="x")).done())
    )
    crate = b.generate()
    assert crate.function_names == ("forms_f_grad_u", "forms_f_hvp_x", "forms_g_f_jf")
    with pytest.raises(gg.DifferentiationError, match="'f' has no input named 'v'; its inputs are x, u"):
        gg.CodeGenerationBuilder().for_function(f, lambda blk: blk.add_gradient(wrt="v"))
    with pytest.raises(GradgenTypeError, match="configure must be callable"):
        gg.CodeGenerationBuilder().for_function(f, "add_primal")  # type: ignore[call-overload]


def test_derivative_bundle_include_flags(tmp_path: pathlib.Path) -> None:
    f, _ = _kernel_pair()
    only_h = gg.create_rust_derivative_bundle(
        f, tmp_path / "b1", include_primal=False, include_jacobians=False, include_hessians=True
    )
    assert sorted(only_h.crates) == ["f_hessian_u", "f_hessian_x"]
    no_h = f.create_rust_derivative_bundle(tmp_path / "b2", include_hessians=False)
    assert sorted(no_h.crates) == ["f_jacobian_u", "f_jacobian_x", "primal"]
    with pytest.raises(gg.ConfigError, match="include_primal must be True or False"):
        gg.create_rust_derivative_bundle(f, tmp_path / "b3", include_primal="yes")  # type: ignore[arg-type]
    assert not (tmp_path / "b3").exists()


def test_build_crate_option(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f, g = _kernel_pair()
    config = gg.RustBackendConfig().with_build_crate(True).with_build_profile("debug")
    assert config.build_crate and config.build_profile == "debug"
    with pytest.raises(gg.ConfigError, match="build_profile must be 'release' or 'debug'"):
        gg.RustBackendConfig().with_build_profile("fast")
    with pytest.raises(gg.ConfigError, match="build_crate must be True or False"):
        gg.RustBackendConfig().with_build_crate("yes")  # type: ignore[arg-type]
    for key, value in cargo_env().items():  # the offline cargo home and shared target dir
        monkeypatch.setenv(key, value)
    project = f.create_rust_project(tmp_path / "built", crate_name="built_f", config=config)
    target = pathlib.Path(cargo_env()["CARGO_TARGET_DIR"]) / "debug"
    assert (target / "libbuilt_f.rlib").is_file() and project.crate_name == "built_f"
    built = (
        gg.CodeGenerationBuilder()
        .with_backend_config(config.with_crate_name("built_b").with_build_profile("release"))
        .for_function(g, lambda blk: blk.add_primal())
        .build(tmp_path / "built_b")
    )
    assert built.crate_name == "built_b"
    assert (pathlib.Path(cargo_env()["CARGO_TARGET_DIR"]) / "release" / "libbuilt_b.rlib").is_file()
    # without cargo on PATH: a BuildError that says so, after the crate was written
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(gg.BuildError, match="cargo was not found on PATH"):
        f.create_rust_project(tmp_path / "nocargo", crate_name="nocargo", config=config)
    assert (tmp_path / "nocargo" / "src" / "lib.rs").is_file()


def test_python_interface_options(tmp_path: pathlib.Path) -> None:
    """Item 6: 0.5.2's Python interface options write the PyO3 crate ``<crate>_python`` (built and
    imported in tests/test_python_interface.py)."""
    f, _ = _kernel_pair()
    with pytest.raises(gg.ConfigError, match=r"with_enable_python_interface\(\) first"):
        gg.RustBackendConfig().with_build_python_interface(True)  # 0.5.2 returned this error instead
    config = gg.RustBackendConfig().with_enable_python_interface().with_build_python_interface(False)
    project = f.create_rust_project(tmp_path / "pyi", config=config)
    interface = project.python_interface
    assert isinstance(interface, gg.RustPythonInterfaceProjectResult)
    assert interface.project_dir == (tmp_path / "pyi_python").absolute() and interface.module_name == "pyi"
    assert interface.low_level_crate_name == "pyi" and interface.library is None
    for path in (interface.cargo_toml, interface.pyproject, interface.readme, interface.lib_rs):
        assert path.is_file()
    assert 'version = "0.28.2"' in interface.cargo_toml.read_text()  # 0.5.2's pyo3
    assert 'module-name = "pyi"' in interface.pyproject.read_text()


# ---- item 8: the migration table of GUIDE.md ----------------------------------------------------------

REPO = pathlib.Path(__file__).resolve().parent.parent
_ROW = re.compile(r"^\| `([A-Za-z_][A-Za-z0-9_.]*)` \| (same|accepted|not supported) \|(.*)\|$")

#: ``gradgen.__all__`` of gradgen 0.5.2 (from its package)
NAMES_052 = """CSEAssignment CSEPlan CodeGenerationBuilder ComposedFunction ComposedGradientFunction
ComposedJacobianFunction ComposedJointFunction Function FunctionBundle FunctionComposer FunctionComposition
RustBackendMode RustBackendConfig RustCodegenResult RustDerivativeBundleResult RustMultiFunctionProjectResult
RustProjectResult RustPythonInterfaceProjectResult RustScalarType SX SXNode SXVector SingleShootingBundle
SingleShootingGradientFunction SingleShootingHvpFunction SingleShootingJointFunction
SingleShootingPrimalFunction SingleShootingProblem SquaredDistanceToSet acosh acos asinh asin atan2 atan atanh
bilinear_form cbrt ceil const cos cosh cse create_rust_project create_rust_derivative_bundle
create_multi_function_rust_project derivative clear_registered_elementary_functions erf erfc exp expm1 floor
fract gradient get_registered_elementary_function hessian hypot if_else jacobian jvp log log1p map_function
reduce_function matvec maximum minimum quadform round register_elementary_function generate_rust signum
simplify sin sinh sqrt tan tanh trunc vector vjp zip_function BatchedFunction BatchedJacobianFunction
ReducedFunction""".split()

OWNERS: dict[str, object] = {
    "gradgen": gg,
    "SX": SX,
    "SXVector": SXVector,
    "Function": Function,
    "RustBackendConfig": gg.RustBackendConfig(),
    "RustCodegenResult": gg.RustCodegenResult,
    "CodeGenerationBuilder": gg.CodeGenerationBuilder,
}


def migration_rows() -> list[tuple[str, str, str, str]]:
    text = (REPO / "GUIDE.md").read_text()
    section = text[text.index("### Every 0.5.2 name") :]
    rows = []
    for line in section.splitlines():
        m = _ROW.match(line)
        if m:
            owner, _, attr = m.group(1).rpartition(".")
            rows.append((owner, attr, m.group(2), m.group(3).strip()))
    return rows


def test_migration_table_lists_every_052_name() -> None:
    rows = migration_rows()
    assert len(rows) > 100
    listed = {attr for owner, attr, _, _ in rows if owner == "gradgen"}
    sin_row = next(text for owner, attr, _, text in rows if (owner, attr) == ("gradgen", "sin"))
    missing = [n for n in NAMES_052 if n not in listed and f" {n} " not in f" {sin_row.replace('`', ' ')} "]
    assert not missing, f"0.5.2 names missing from the migration table: {missing}"
    unsupported = {attr for _, attr, status, _ in rows if status not in ("same", "accepted")}
    assert not unsupported, f"every 0.5.2 name is provided; the table says otherwise for {unsupported}"


@pytest.mark.parametrize(("owner", "attr", "status", "instead"), migration_rows(), ids=lambda v: str(v)[:40])
def test_every_table_name_works_or_names_its_alternative(
    owner: str, attr: str, status: str, instead: str
) -> None:
    target = OWNERS[owner]
    getattr(target, attr)  # resolves
    # ... and a test of this module uses it
    source = pathlib.Path(__file__).read_text()
    source = source.replace(source[source.index("NAMES_052 = ") : source.index("OWNERS: dict")], "")
    assert re.search(rf"\b{re.escape(attr)}\b", source), f"{owner}.{attr} is not exercised"


def test_same_spellings_of_the_052_examples(tmp_path: pathlib.Path) -> None:
    x = SX.sym("x")
    v = gg.vector([x, 2.0])
    assert isinstance(v, SXVector) and v[1] is gg.const(2.0) and gg.const(2.0).value == 2.0
    assert x.node is x and isinstance(x, gg.SXNode) and x.name == "x" and (x * v[0]).args == (x, x)
    w = SXVector.sym("w", 3)
    p = [0.5, -1.5, 2.0]
    f = Function(
        "stats",
        [w],
        [w.prod(), w.mean(), w.norm2(), w.norm2sq(), w.norm1(), w.norm_inf(), w.norm_p(3), w.norm_p_to_p(3)],
    )
    expected = [
        -1.5,
        1.0 / 3.0,
        math.sqrt(6.5),
        6.5,
        4.0,
        2.0,
        (0.125 + 3.375 + 8.0) ** (1 / 3),
        11.5,
    ]
    assert list(f(p)) == pytest.approx(expected, rel=1e-14)
    a = [[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]]
    mv = Function("mv", [w], [gg.matvec(a, w), gg.bilinear_form([1.0, 2.0], a, w)])
    assert mv(p) == ([-2.5, 7.5], pytest.approx(-2.5 + 15.0))
    ie = Function("ie", [x], [gg.if_else(x * x, -x, x < 0.0)])
    assert ie(-2.0) == 4.0 and ie(3.0) == -3.0
    jac = gg.jacobian(SXVector([x * x, x.sin()]), SXVector([x]))
    assert Function("j", [x], [jac])(0.5) == pytest.approx([1.0, math.cos(0.5)])
    hes = gg.hessian(w.norm2sq() * w[0], w)
    assert Function("h", [w], [hes])(p)[:3] == pytest.approx([6 * p[0], 2 * p[1], 2 * p[2]])
    assert Function("jv", [w], [gg.jvp(w.sum() * w[0], w, [1.0, 0.0, 0.0])])(p) == pytest.approx(
        2 * p[0] + p[1] + p[2]
    )
    assert Function("vj", [w], [gg.vjp(w.sum(), w, 2.0)])(p) == [2.0, 2.0, 2.0]
    assert len(f.cse()) >= 0 and isinstance(gg.cse(w.norm2sq()), gg.CSEPlan)
    config = (
        gg.RustBackendConfig()
        .with_backend_mode("std")
        .with_scalar_type("f64")
        .with_crate_name("same")
        .with_function_name("kern")
    )
    project = Function("g", [x], [x.exp()]).create_rust_project(tmp_path / "same", config=config)
    assert isinstance(project, gg.RustProjectResult) and project.crate_name == "same"
    assert "pub fn kern(" in project.source and project.project_dir == tmp_path / "same"
    result = project.generation
    assert isinstance(result, gg.RustCodegenResult) and result.workspace_size == 0
    built = gg.CodeGenerationBuilder().with_backend_config(config.with_function_name(None)).for_function(f)
    out = built.add_primal().done().build(tmp_path / "b")
    assert isinstance(out, gg.RustMultiFunctionProjectResult) and out.function_names == ("same_stats_f",)
    bundle = gg.create_rust_derivative_bundle(Function("q", [x], [x * x]), tmp_path / "bundle")
    assert isinstance(bundle, gg.RustDerivativeBundleResult)
    assert Function("c", [x], [x]).__call__(2.0) == 2.0


def test_extension_point_spellings_of_052(tmp_path: pathlib.Path) -> None:
    """register_elementary_function, get_registered_elementary_function,
    clear_registered_elementary_functions, SquaredDistanceToSet and the crate options
    with_header, with_additional_dependencies, with_emit_metadata_helpers, as 0.5.2 spells them."""
    gg.clear_registered_elementary_functions()
    try:
        cube = gg.register_elementary_function(
            name="cube_plus",
            input_dimension=1,
            eval_python=lambda x: x**3 + x,
            jacobian=lambda x: [3 * x**2 + 1],
            rust_primal="fn cube_plus(x: &[{{ scalar_type }}], _w: &[{{ scalar_type }}]) -> "
            "{{ scalar_type }} {\n    x[0] * x[0] * x[0] + x[0]\n}\n",
        )
        assert gg.get_registered_elementary_function("cube_plus") is cube
        x = SX.sym("x")
        f = Function("f", [x], [cube(x) * 2.0])
        assert f(1.5) == 2.0 * (1.5**3 + 1.5)
        h = 1e-6
        assert f.gradient()(1.5) == pytest.approx((f(1.5 + h) - f(1.5 - h)) / (2 * h), rel=1e-7)
        gg.clear_registered_elementary_functions()
        with pytest.raises(gg.GradgenError):
            gg.get_registered_elementary_function("cube_plus")
    finally:
        gg.clear_registered_elementary_functions()
    box = gg.SquaredDistanceToSet.rectangle("unit_box", [0.0, -math.inf], [1.0, 2.0])
    # 0.5 * dist^2 and x - proj(x), against the closed form
    assert box([3.0, 5.0]) == pytest.approx(0.5 * (2.0**2 + 3.0**2))
    assert list(box.gradient()([3.0, 5.0])) == pytest.approx([2.0, 3.0])
    config = (
        gg.RustBackendConfig()
        .with_header("// generated for the test bench")
        .with_additional_dependencies([("libm", "0.2")])
        .with_emit_metadata_helpers(True)
    )
    source = gg.generate_rust(Function("g", [x], [x * x]), config=config).source
    assert "// generated for the test bench" in source and "fn g_meta()" in source


def test_staged_spellings_of_052() -> None:
    """map_function, zip_function, reduce_function (returning BatchedFunction / ReducedFunction)
    and SingleShootingProblem, as 0.5.2 spells them, against plain Python loops."""
    s = SXVector.sym("s", 2)
    step = Function("step", [s], [[s[1], -0.5 * s[0]]], ["s"], ["s_next"])
    mapped = gg.map_function(step, 3)
    assert isinstance(mapped, gg.BatchedFunction)
    packed = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    want = [v for k in range(3) for v in (packed[2 * k + 1], -0.5 * packed[2 * k])]
    assert list(mapped(packed)) == want
    a, b = SX.sym("a"), SX.sym("b")
    zipped = gg.zip_function(Function("prod", [a, b], [a * b], ["a", "b"], ["ab"]), 2)
    assert list(zipped([2.0, 3.0], [4.0, 5.0])) == [8.0, 15.0]
    acc, v = SX.sym("acc"), SX.sym("v")
    folded = gg.reduce_function(Function("fold", [acc, v], [acc * 0.5 + v], ["acc", "v"], ["out"]), 3)
    assert isinstance(folded, gg.ReducedFunction)
    total = 1.0
    for x in (1.0, 2.0, 3.0):
        total = total * 0.5 + x
    assert folded(1.0, [1.0, 2.0, 3.0]) == total
    xs, us, ps = SX.sym("xs"), SX.sym("us"), SX.sym("ps")
    dyn = Function("dyn", [xs, us, ps], [xs + ps * us], ["x", "u", "p"], ["x_next"])
    ell = Function("ell", [xs, us, ps], [xs * xs + us * us], ["x", "u", "p"], ["l"])
    vf = Function("vf", [xs, ps], [ps * xs * xs], ["x", "p"], ["v"])
    problem = gg.SingleShootingProblem("ocp").with_horizon(3).with_dynamics(dyn).with_costs(ell, vf)
    x, cost = 0.5, 0.0
    for u in (0.1, -0.2, 0.3):
        cost += x * x + u * u
        x += 2.0 * u
    assert problem.primal()([0.5], [0.1, -0.2, 0.3], [2.0]) == pytest.approx(cost + 2.0 * x * x, rel=1e-15)


def test_staged_kernel_sources_of_052() -> None:
    """The kernel-source objects 0.5.2's problem methods return, its SingleShootingBundle, a
    penalty weight given as a symbol (a runtime input after the parameters) and
    BatchedJacobianFunction, against plain Python loops."""
    xs, us, ps = SX.sym("xs"), SX.sym("us"), SX.sym("ps")
    dyn = Function("dyn", [xs, us, ps], [xs + ps * us], ["x", "u", "p"], ["x_next"])
    ell = Function("ell", [xs, us, ps], [xs * xs + us * us], ["x", "u", "p"], ["l"])
    vf = Function("vf", [xs, ps], [ps * xs * xs], ["x", "p"], ["v"])
    q = Function("q", [xs, us, ps], [us - 0.1], ["x", "u", "p"], ["r"])
    qn = Function("qn", [xs, ps], [xs - 1.0], ["x", "p"], ["rn"])
    problem = (
        gg.SingleShootingProblem("ocp")
        .with_horizon(3)
        .with_dynamics(dyn)
        .with_costs(ell, vf)
        .with_penalties(q, qn, SX.sym("rho"))
    )
    assert problem.input_names == ("x0", "u_seq", "p", "rho")
    controls, rho = [0.1, -0.2, 0.3], 4.0

    def cost(u_seq: list[float]) -> tuple[float, list[float]]:
        x, total, traj = 0.5, 0.0, [0.5]
        for u in u_seq:
            total += x * x + u * u + rho / 2 * (u - 0.1) ** 2
            x += 2.0 * u
            traj.append(x)
        return total + 2.0 * x * x + rho / 2 * (x - 1.0) ** 2, traj

    primal = problem.primal(include_states=True)
    assert isinstance(primal, gg.SingleShootingPrimalFunction) and primal.name == "ocp_with_states"
    value, traj = primal([0.5], controls, [2.0], rho)
    assert value == pytest.approx(cost(controls)[0], rel=1e-15) and traj == pytest.approx(cost(controls)[1])
    assert isinstance(problem.gradient(), gg.SingleShootingGradientFunction)
    assert isinstance(problem.hvp(), gg.SingleShootingHvpFunction)
    bundle = gg.SingleShootingBundle().add_cost().add_gradient()
    joint = problem.joint(bundle)
    assert isinstance(joint, gg.SingleShootingJointFunction) and joint.bundle == bundle
    assert joint.name == "ocp_cost_gradient_u_seq" and joint.output_names == ("cost", "grad_u_seq")
    total, grad = joint([0.5], controls, [2.0], rho)
    assert total == pytest.approx(cost(controls)[0], rel=1e-15)
    for k in range(3):
        up, down = list(controls), list(controls)
        up[k] += 1e-6
        down[k] -= 1e-6
        assert grad[k] == pytest.approx((cost(up)[0] - cost(down)[0]) / 2e-6, rel=1e-7)
    a = SX.sym("a")
    mapped = gg.map_function(Function("sq", [a], [a * a], ["a"], ["b"]), 3)
    jac = mapped.jacobian(0, name="sq_jac")
    assert isinstance(jac, gg.BatchedJacobianFunction) and jac.batched is mapped and jac.wrt_index == 0
    assert jac.name == "sq_jac" and list(jac([1.0, 2.0, 3.0])) == [2.0, 4.0, 6.0]


def test_composition_spellings_of_052() -> None:
    x, p = SXVector.sym("x", 2), SXVector.sym("p", 2)
    g = Function("g", [x, p], [[x[0] * p[0] + x[1], x[1] * p[1] - x[0]]], ["x", "p"], ["y"])
    comp = gg.ComposedFunction("comp", SXVector.sym("x0", 2)).then(g, p=[1.0, 2.0])
    comp = comp.repeat(g, params=[SXVector.sym("q", 2), SXVector.sym("r", 2)]).finish()
    assert isinstance(comp, gg.ComposedFunction) and comp.input_names == ("x0", "parameters")
    assert comp.output_names == ("y",) and comp.parameter_size == 4
    assert isinstance(comp.gradient(), gg.ComposedGradientFunction)
    assert isinstance(comp.jacobian(), gg.ComposedJacobianFunction)
    joint = comp.joint(["f", "jf"])
    assert isinstance(joint, gg.ComposedJointFunction) and joint.output_names == ("y", "jacobian_y")
    expected = comp.to_function().jacobian(0)([0.5, 0.2], [1.0, 2.0, 3.0, 4.0])
    assert comp.gradient()([0.5, 0.2], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(expected, rel=1e-14)
    h = Function("h", [x], [x[0] * x[1]], ["x"], ["s"])
    pipe = gg.FunctionComposer(g).feed_into(h, arg="x").compose()
    assert isinstance(pipe, gg.FunctionComposition) and pipe.name == "g_h"
    assert pipe.input_names == ("x", "p") and pipe([1.0, 2.0], [3.0, 4.0]) == 5.0 * 7.0
