"""Crates written by ``CodeGenerationBuilder``, compiled with cargo and run.

Every crate of this module goes into one cargo workspace (one ``cargo build`` and one
``cargo clippy -D warnings`` for all of them): the seed's builder examples (verbatim, the first
one in every std/no_std x f64/f32 combination), the shorthand form, a snapshotted small crate and
a ``values`` crate holding every kernel kind of three source functions. Two small
``examples/check.rs`` programs call the kernels (sizing their slices with the generated
constants) and print the outputs, which are compared with closed forms and finite differences
computed here in plain Python.
"""

from __future__ import annotations

import abc
import json
import math
import pathlib
from collections.abc import Callable, Sequence

import pytest

import gradgen as gg
from gradgen import SX, CodeGenerationBuilder, Function, FunctionBundle, RustBackendConfig, SXVector
from gradgen.builder import BuildResult, GeneratedFunction
from tests.cargo import build_and_lint, cargo, rustfmt_check
from tests.test_builder import energy, scalar_f, three_inputs, vector_g

Blocks = list[list[float]]

# ---- plain-Python references ------------------------------------------------------------------------


class Model(abc.ABC):
    """A reference implementation: ``f(blocks) -> output blocks``; derivatives by central finite
    differences unless a subclass gives closed forms."""

    fd_tol = 1e-6

    @abc.abstractmethod
    def f(self, b: Blocks) -> Blocks: ...

    def jac(self, b: Blocks, out: int, w: int) -> list[float]:
        """Row-major ``d f[out] / d b[w]`` by central differences (step 1e-6)."""
        return _fd(lambda bb: self.f(bb)[out], b, w, 1e-6)

    def hess(self, b: Blocks, w: int) -> list[float]:
        """Row-major Hessian of the scalar output: differences of the gradient (step 1e-4)."""
        return _fd(lambda bb: self.jac(bb, 0, w), b, w, 1e-4)


def _fd(fun: Callable[[Blocks], list[float]], b: Blocks, w: int, h: float) -> list[float]:
    cols = []
    for j in range(len(b[w])):
        plus = [list(x) for x in b]
        minus = [list(x) for x in b]
        plus[w][j] += h
        minus[w][j] -= h
        cols.append([(p - m) / (2 * h) for p, m in zip(fun(plus), fun(minus), strict=True)])
    return [cols[j][i] for i in range(len(cols[0])) for j in range(len(cols))]


class EnergyModel(Model):
    """e = |x|^2 + u sin x0 + x1 x2 + u^3 with closed-form derivatives."""

    fd_tol = 1e-12

    def f(self, b: Blocks) -> Blocks:
        (x0, x1, x2), (u,) = b
        return [[x0 * x0 + x1 * x1 + x2 * x2 + u * math.sin(x0) + x1 * x2 + u**3]]

    def jac(self, b: Blocks, out: int, w: int) -> list[float]:
        (x0, x1, x2), (u,) = b
        if w == 0:
            return [2 * x0 + u * math.cos(x0), 2 * x1 + x2, 2 * x2 + x1]
        return [math.sin(x0) + 3 * u * u]

    def hess(self, b: Blocks, w: int) -> list[float]:
        (x0, _, _), (u,) = b
        if w == 0:
            return [2 - u * math.sin(x0), 0, 0, 0, 2, 1, 0, 1, 2]
        return [6 * u]


class GModel(Model):
    """y = [x0 x1 p, exp(x0) + p^2, sin x1] with closed-form Jacobians."""

    fd_tol = 1e-12

    def f(self, b: Blocks) -> Blocks:
        (x0, x1), (p,) = b
        return [[x0 * x1 * p, math.exp(x0) + p * p, math.sin(x1)]]

    def jac(self, b: Blocks, out: int, w: int) -> list[float]:
        (x0, x1), (p,) = b
        if w == 0:
            return [x1 * p, x0 * p, math.exp(x0), 0.0, 0.0, math.cos(x1)]
        return [x0 * x1, 2 * p, 0.0]


class ThreeModel(Model):
    """y = a0 a1 b + cos(c0) a0 + c1^2 b + exp(a1 c0), derivatives by finite differences."""

    def f(self, bl: Blocks) -> Blocks:
        (a0, a1), (b,), (c0, c1) = bl
        return [[a0 * a1 * b + math.cos(c0) * a0 + c1 * c1 * b + math.exp(a1 * c0)]]


class ScalarFModel(Model):
    """y = |x|^2 + sin(x0) x1 + exp(x2 / 2) x0, derivatives by finite differences."""

    def f(self, b: Blocks) -> Blocks:
        x0, x1, x2 = b[0]
        return [[x0 * x0 + x1 * x1 + x2 * x2 + math.sin(x0) * x1 + math.exp(0.5 * x2) * x0]]


def test_closed_forms_agree_with_finite_differences() -> None:
    """The closed forms used as references are themselves right."""
    e, g = EnergyModel(), GModel()
    be, bg = [[0.7, -1.2, 0.4], [0.9]], [[0.3, 1.1], [-0.6]]
    for w in (0, 1):
        assert e.jac(be, 0, w) == pytest.approx(Model.jac(e, be, 0, w), abs=1e-8)
        assert e.hess(be, w) == pytest.approx(Model.hess(e, be, w), abs=1e-6)
        assert g.jac(bg, 0, w) == pytest.approx(Model.jac(g, bg, 0, w), abs=1e-8)


def _matvec(m: Sequence[float], v: Sequence[float]) -> list[float]:
    n = len(v)
    return [sum(m[i * n + j] * v[j] for j in range(n)) for i in range(len(m) // n)]


def reference(
    model: Model, fn: Function, gen: GeneratedFunction, args: dict[str, list[float]]
) -> dict[str, tuple[list[float], float]]:
    """Expected value and tolerance of every output of ``gen``, from the port naming rules."""
    b = [args[n] for n in fn.input_names]
    prim = model.f(b)
    cot = [args.get(f"cotangent_{o}") for o in fn.output_names]
    out: dict[str, tuple[list[float], float]] = {}
    tol2 = model.fd_tol if model.fd_tol < 1e-9 else 2e-5
    for name in gen.output_names:
        if name in fn.output_names:
            out[name] = (prim[fn.output_names.index(name)], 1e-13)
            continue
        kind, _, rest = name.partition("_")
        if kind == "jacobian":
            o, i = next((o, i) for o in fn.output_names for i in fn.input_names if rest == f"{o}_{i}")
            out[name] = (model.jac(b, fn.output_names.index(o), fn.input_names.index(i)), model.fd_tol)
            continue
        w = fn.input_names.index(rest)
        if kind == "grad":
            out[name] = (model.jac(b, 0, w), model.fd_tol)
        elif kind == "hessian":
            out[name] = (model.hess(b, w), tol2)
        elif kind == "hvp":
            out[name] = (_matvec(model.hess(b, w), args[f"v_{rest}"]), tol2)
        elif kind == "vjp":
            acc = [0.0] * len(b[w])
            for k, c in enumerate(cot):
                jac = model.jac(b, k, w)
                for j in range(len(acc)):
                    acc[j] += sum(c[i] * jac[i * len(acc) + j] for i in range(len(c)))
            out[name] = (acc, model.fd_tol)
        else:
            raise AssertionError(f"no reference for output {name!r}")
    return out


def _args(fn: Function, base: dict[str, list[float]]) -> dict[str, list[float]]:
    """``base`` plus directions ``v_<in>`` and cotangents ``cotangent_<out>``."""
    dirs = [0.5, -1.5, 0.25, 1.25]
    cots = [1.5, -0.5, 2.0]
    args = dict(base)
    for n, s in zip(fn.input_names, fn.input_sizes, strict=True):
        args[f"v_{n}"] = dirs[:s]
    for n, s in zip(fn.output_names, fn.output_sizes, strict=True):
        args[f"cotangent_{n}"] = cots[:s]
    return args


# ---- the crates ---------------------------------------------------------------------------------------


# The seed's builder examples, verbatim (seed-rust-codegen.txt, "Build a single crate ...").
# fmt: off
def seed_example_1(f: Function) -> CodeGenerationBuilder:
    builder = (
    CodeGenerationBuilder()
    .with_backend_config(
    RustBackendConfig()
    .with_backend_mode("no_std")
    .with_scalar_type("f32")
    )
    .for_function(f)
    .add_primal()
    .add_gradient()
    .add_hvp()
    .add_joint(
    FunctionBundle()
    .add_f()
    .add_jf(wrt=0)
    )
    .with_simplification("medium")
    .done()
    )
    return builder


def seed_example_2(f: Function) -> CodeGenerationBuilder:
    bundle = (
    FunctionBundle()
    .add_f()
    .add_jf(wrt=[0, 1, 2])
    .add_hessian(wrt=[0, 1])
    )
    builder = (
    CodeGenerationBuilder()
    .for_function(f)
    .add_joint(bundle)
    .done()
    )
    return builder


def seed_example_3(f: Function) -> CodeGenerationBuilder:
    builder = (
    CodeGenerationBuilder()
    .for_function(f)
    .add_primal()
    .add_jacobian()
    .add_hvp()
    .add_joint(
    FunctionBundle()
    .add_f()
    .add_jf(wrt=0)
    .add_hvp(wrt=0)
    )
    .with_simplification("medium")
    .done()
    )
    return builder


# fmt: on


def snapshot_builder() -> CodeGenerationBuilder:
    x = SXVector.sym("x", 2)
    h = Function("h", [x], [x[0] * x[1] + gg.sin(x[0])], input_names=["x"], output_names=["y"])
    return (
        CodeGenerationBuilder()
        .for_function(h)
        .add_primal()
        .add_gradient()
        .add_joint(FunctionBundle().add_f().add_jf().add_hvp())
        .done()
    )


MODELS: dict[str, tuple[Callable[[], Function], Model, dict[str, list[float]]]] = {
    "energy": (energy, EnergyModel(), {"x": [0.7, -1.2, 0.4], "u": [0.9]}),
    "g": (vector_g, GModel(), {"x": [0.3, 1.1], "p": [-0.6]}),
    "f": (three_inputs, ThreeModel(), {"a": [0.3, -0.8], "b": [1.7], "c": [0.4, 0.9]}),
}


def values_builder(fns: dict[str, Function]) -> CodeGenerationBuilder:
    """Every kernel kind, two derivative-rich joint kernels, three source functions."""
    return (
        CodeGenerationBuilder()
        .for_function(fns["energy"])
        .add_primal()
        .add_gradient()
        .add_jacobian()
        .add_vjp()
        .add_hessian()
        .add_hvp()
        .add_joint(FunctionBundle().add_f().add_gradient().add_hessian(wrt=0).add_hvp(wrt=[1, 0]))
        .done()
        .for_function(fns["g"])
        .add_primal()
        .add_jacobian()
        .add_vjp()
        .add_joint(FunctionBundle().add_f().add_jf(wrt=[0, 1]))
        .done()
        .for_function(fns["f"])
        .add_joint(FunctionBundle().add_f().add_jf(wrt=[0, 1, 2]).add_hessian(wrt=[0, 1]))
        .add_joint(FunctionBundle().add_hvp(wrt=[2, 0]).add_gradient(wrt=1))
        .add_vjp(wrt=2)
        .with_simplification("high")
        .done()
    )


def _literal(v: float) -> str:
    text = repr(float(v))
    return text if ("." in text or "e" in text or "n" in text) else text + ".0"


def check_program(result: BuildResult, args_of: dict[str, dict[str, list[float]]], scalar: str) -> str:
    """``examples/check.rs``: call every function on ``args_of[source function]`` and print outputs."""
    lines = [
        f"use {result.crate_name}::*;",
        "",
        f"fn show(label: &str, values: &[{scalar}]) {{",
        '    let text: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();',
        '    println!("{label} {}", text.join(" "));',
        "}",
        "",
        "fn main() {",
    ]
    for fn in result.functions:
        args = args_of[fn.source_function]
        up = fn.name.upper()
        lines.append("    {")
        for n in fn.input_names:
            vals = ", ".join(_literal(v) for v in args[n])
            lines.append(f"        let {n}: [{scalar}; {up}_{n.upper()}_SIZE] = [{vals}];")
        for n in fn.output_names:
            lines.append(f"        let mut {n} = [0.0; {up}_{n.upper()}_SIZE];")
        lines.append(f"        let mut work = vec![0.0; {up}_WORK_SIZE];")
        call = [f"&{n}" for n in fn.input_names] + [f"&mut {n}" for n in fn.output_names] + ["&mut work"]
        lines.append(f"        {fn.name}({', '.join(call)}).unwrap();")
        for n in fn.output_names:
            lines.append(f'        show("{fn.name}.{n}", &{n});')
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def parse(stdout: str) -> dict[str, list[float]]:
    out = {}
    for line in stdout.strip().split("\n"):
        label, *values = line.split(" ")
        out[label] = [float(v) for v in values]
    return out


def keyword_builder() -> CodeGenerationBuilder:
    """A function named ``fn`` with an input named ``type``: Rust keywords inside longer names."""
    x, t = SX.sym("x"), SX.sym("type")
    f = Function("fn", [x, t], [x * x * t], ["x", "type"], ["y"])
    return CodeGenerationBuilder().for_function(f).add_primal().add_gradient(wrt=[0, 1]).done()


def test_keyword_names_inside_kernel_names(ws: Workspace) -> None:
    """A keyword needs its escape (``fn_``) only as a whole name: inside a kernel name it is kept
    bare (a double underscore would not be snake_case); the crate built with -D warnings."""
    names = ("keywords_fn_f", "keywords_fn_grad_x", "keywords_fn_grad_type")
    assert ws.crates["keywords"].function_names == names


class Workspace:
    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.crates: dict[str, BuildResult] = {}
        self.functions: dict[str, Function] = {}
        self.outputs: dict[str, dict[str, list[float]]] = {}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, cargo_available: None) -> Workspace:
    w = Workspace(tmp_path_factory.mktemp("builder") / "ws")
    w.root.mkdir()
    f1 = scalar_f()
    crates = w.crates
    crates["my_kernel"] = seed_example_1(f1).build(w.root / "my_kernel")
    for mode, scalar in [("std", "f64"), ("std", "f32"), ("no_std", "f64")]:
        cfg = RustBackendConfig().with_backend_mode(mode).with_scalar_type(scalar)
        crates[f"ex1_{mode}_{scalar}"] = (
            seed_example_1(f1).with_backend_config(cfg).build(w.root / f"ex1_{mode}_{scalar}")
        )
    crates["bundle_kernel"] = seed_example_2(three_inputs()).build(w.root / "bundle_kernel")
    crates["simplified"] = seed_example_3(f1).build(w.root / "simplified")
    crates["shorthand"] = (
        CodeGenerationBuilder(energy()).add_primal().add_gradient().build(w.root / "shorthand")
    )
    crates["snap"] = snapshot_builder().build(w.root / "snap")
    crates["keywords"] = keyword_builder().build(w.root / "keywords")
    w.functions = {name: make() for name, (make, _, _) in MODELS.items()}
    crates["values"] = values_builder(w.functions).build(w.root / "values")
    members = ", ".join(f'"{name}"' for name in crates)
    (w.root / "Cargo.toml").write_text(f'[workspace]\nmembers = [{members}]\nresolver = "2"\n')
    build_and_lint(w.root)
    programs = {
        "values": ("f64", {name: _args(w.functions[name], base) for name, (_, _, base) in MODELS.items()}),
        "my_kernel": ("f32", {"f": _args(f1, {"x": [0.7, -1.2, 0.4]})}),
    }
    for crate, (scalar, args_of) in programs.items():
        (w.root / crate / "examples").mkdir()
        (w.root / crate / "examples" / "check.rs").write_text(check_program(crates[crate], args_of, scalar))
        proc = cargo(["run", "-q", "-p", crate, "--example", "check"], w.root)
        w.outputs[crate] = parse(proc.stdout)
    return w


def test_crates_build_and_lint(ws: Workspace) -> None:
    """``build_and_lint`` ran in the fixture; here: the files of each crate and their configs."""
    for name, result in ws.crates.items():
        assert result.project_dir == ws.root / name and result.crate_name == name
        meta = json.loads((result.project_dir / "metadata.json").read_text())
        assert meta["crate"] == name and [f["name"] for f in meta["functions"]] == list(result.function_names)
        lib = (result.project_dir / "src" / "lib.rs").read_text()
        assert lib == result.source
        assert ("#![no_std]" in lib) == (meta["backend_mode"] == "no_std")
        assert ("libm" in (result.project_dir / "Cargo.toml").read_text()) == (
            meta["backend_mode"] == "no_std"
        )
        assert f"pub fn {result.function_names[0]}(" in lib
    assert json.loads((ws.root / "my_kernel" / "metadata.json").read_text())["scalar_type"] == "f32"
    assert "x: &[f32]" in ws.crates["my_kernel"].source and "libm::sinf" in ws.crates["my_kernel"].source
    assert "x: &[f32]" in ws.crates["ex1_std_f32"].source and ".sin()" in ws.crates["ex1_std_f32"].source
    assert "libm::sin(" in ws.crates["ex1_no_std_f64"].source


def test_seed_function_names(ws: Workspace) -> None:
    assert ws.crates["my_kernel"].function_names == (
        "my_kernel_f_f",
        "my_kernel_f_grad",
        "my_kernel_f_hvp",
        "my_kernel_f_f_jf",
    )
    assert ws.crates["bundle_kernel"].function_names == ("bundle_kernel_f_f_jf_a_b_c_hessian_a_b",)
    assert ws.crates["simplified"].function_names == (
        "simplified_f_f",
        "simplified_f_jf",
        "simplified_f_hvp",
        "simplified_f_f_jf_hvp",
    )
    assert ws.crates["shorthand"].function_names == (
        "shorthand_energy_f",
        "shorthand_energy_grad_x",
        "shorthand_energy_grad_u",
    )


def test_helpers_emitted_once(ws: Workspace) -> None:
    lib = ws.crates["my_kernel"].source
    assert lib.count("fn norm2sq(") == 1 and lib.count("pub enum GradgenError") == 1
    assert lib.count("norm2sq(x)") >= 2  # used by the primal and the joint kernel


def test_every_kernel_kind_in_compiled_rust_f64(ws: Workspace) -> None:
    out = ws.outputs["values"]
    result = ws.crates["values"]
    kinds = {fn.kind for fn in result.functions}
    assert kinds == {"primal", "gradient", "jacobian", "vjp", "hessian", "hvp", "joint"}
    checked = 0
    for fn in result.functions:
        _, model, base = MODELS[fn.source_function]
        src = ws.functions[fn.source_function]
        for name, (want, tol) in reference(model, src, fn, _args(src, base)).items():
            got = out[f"{fn.name}.{name}"]
            assert got == pytest.approx(want, rel=tol, abs=tol), (fn.name, name)
            checked += 1
    assert checked == sum(len(fn.output_names) for fn in result.functions) >= 30


def test_joint_several_wrt_blocks_in_rust(ws: Workspace) -> None:
    """The joint kernels equal the separate kernels of the same crate (same values printed)."""
    out = ws.outputs["values"]
    joint = "values_energy_f_grad_x_u_hessian_x_hvp_u_x"
    assert out[f"{joint}.e"] == out["values_energy_f.e"]
    for block in ("x", "u"):
        assert out[f"{joint}.grad_{block}"] == pytest.approx(
            out[f"values_energy_grad_{block}.grad_{block}"], rel=1e-15
        )
        assert out[f"{joint}.hvp_{block}"] == pytest.approx(
            out[f"values_energy_hvp_{block}.hvp_{block}"], rel=1e-15
        )
    assert out[f"{joint}.hessian_x"] == pytest.approx(out["values_energy_hessian_x.hessian_x"], rel=1e-15)
    g_joint = "values_g_f_jf_x_p"
    assert out[f"{g_joint}.jacobian_y_x"] == pytest.approx(out["values_g_jf_x.jacobian_y_x"], rel=1e-15)
    assert out[f"{g_joint}.jacobian_y_p"] == pytest.approx(out["values_g_jf_p.jacobian_y_p"], rel=1e-15)


def test_seed_example_values_f32_no_std(ws: Workspace) -> None:
    out = ws.outputs["my_kernel"]
    f1 = scalar_f()
    args = _args(f1, {"x": [0.7, -1.2, 0.4]})
    for fn in ws.crates["my_kernel"].functions:
        for name, (want, _) in reference(ScalarFModel(), f1, fn, args).items():
            assert out[f"{fn.name}.{name}"] == pytest.approx(want, rel=2e-5, abs=2e-5), (fn.name, name)


def test_sources_are_rustfmt_clean(ws: Workspace) -> None:
    for name, result in ws.crates.items():
        assert rustfmt_check(result.source) is None, name


def test_snapshot_multi_kernel_crate(ws: Workspace, rust_snapshot) -> None:
    """The snapshotted lib.rs is compiled and linted as the workspace member ``snap``."""
    assert ws.crates["snap"].crate.source == snapshot_builder().generate("snap").source
    assert ws.crates["snap"].source == rust_snapshot
