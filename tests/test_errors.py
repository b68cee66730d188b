"""The inventory of bad inputs: every user-facing error path of the library, by category
(symbols and expressions, shapes and sizes, function definitions, evaluation, levels, derivative
requests, backend configuration, names, paths and overwrite, builder, compile, passes, IR
verification), each asserting the error TYPE and the message TEXT naming the offending value.

Every exception type of ``gradgen/errors.py`` must be raised by at least one case here
(:func:`test_every_error_type_has_a_case`), and every one is exported by ``gradgen`` and is both
a :class:`GradgenError` and the built-in exception it specialises. Other modules test some of
these paths in depth; this file is the overview in one place.
"""

from __future__ import annotations

import inspect
import pathlib
import pickle
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import gradgen as gg
import gradgen.errors as errors
from gradgen import (
    SX,
    BuildError,
    CodeGenerationBuilder,
    ConfigError,
    CustomFunctionError,
    DifferentiationError,
    EvaluationArgumentError,
    Function,
    FunctionBundle,
    FunctionDefinitionError,
    GradgenError,
    GradgenTypeError,
    InvalidLevelError,
    InvalidNameError,
    ProjectWriteError,
    ShapeError,
    SnippetError,
    SXVector,
    UnknownPassError,
    VerificationError,
)
from gradgen.config import RustBackendConfig as Config
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import passes_by_name

X = SX.sym("x")
V = SXVector.sym("v", 3)
F = Function("f", [X, V], [X * V.sum()], input_names=["x", "v"], output_names=["y"])
G = Function("g", [V], [V * 2.0], input_names=["v"], output_names=["w"])


def _too_many_slices() -> Function:
    """A function with one slice more than the status codes of the C ABI number."""
    xs = [SX.sym(f"x{i}") for i in range(99_999)]
    return Function("wide", xs, [xs[0] + xs[-1]], output_names=["y"])


@attrs.frozen
class Case:
    id: str
    call: Callable[[pathlib.Path], Any]
    error: type[BaseException]
    match: str


class _BreakingPass:
    """A user pass that makes an argument refer to a value defined later."""

    name = "break-it"

    def run(self, k: Any) -> Any:
        last = len(k.ops) - 1
        args = [a if i != last else (len(k.ops) + 5, *a[1:]) for i, a in enumerate(k.args)]
        return attrs.evolve(k, args=args)


def _file(tmp: pathlib.Path) -> pathlib.Path:
    p = tmp / "a_file"
    p.write_text("not a directory")
    return p


def _foreign(tmp: pathlib.Path) -> pathlib.Path:
    d = tmp / "handmade"
    d.mkdir()
    (d / "Cargo.toml").write_text("[package]\n")
    (d / "notes.txt").write_text("mine")
    return d


def _builder(f: Function = F) -> Any:
    return CodeGenerationBuilder().for_function(f).add_primal().done()


def _register_custom(**kwargs: Any) -> Any:
    gg.clear_registered_elementary_functions()
    return gg.register_elementary_function(name="bad", input_dimension=1, **{"eval_python": abs, **kwargs})


def _long_named(n: int) -> Function:
    """A function and its second input both named with ``n`` letters ``a``."""
    x, y = SX.sym("x"), SX.sym("a" * n)
    return Function("a" * n, [x, y], [x * x * y], ["x", "a" * n], ["out"])


CASES = [
    Case(
        "staged-kernel-through-a-straight-line-pass",
        lambda t: gg.map_function(Function("sq", [X], [X * X]), 4).function.gradient(0),
        gg.StagedKernelError,
        r"pass 'autodiff' works on straight-line kernels and 'sq_map' is staged",
    ),
    # ---- symbols and expressions ----
    Case(
        "symbol-name-empty",
        lambda t: SX.sym(""),
        GradgenTypeError,
        r"a symbol name must be a non-empty string, got ''",
    ),
    Case(
        "symbol-name-not-str",
        lambda t: SX.sym(3),
        GradgenTypeError,
        r"a symbol name must be a non-empty string, got 3",
    ),
    Case("const-from-str", lambda t: SX.const("a"), GradgenTypeError, r"cannot make a constant from 'a'"),
    Case(
        "truth-value",
        lambda t: bool(X < 1),
        GradgenTypeError,
        r"no truth value; use gradgen\.if_else\(a, b, cond\)",
    ),
    Case(
        "float-of-expression",
        lambda t: float(X + 1),
        GradgenTypeError,
        r"expression x \+ 1 is not a constant",
    ),
    Case(
        "const-int-overflow",
        lambda t: X + 10**400,
        errors.ConstantOverflowError,
        r"cannot make a constant from 1000000000000000000000000000\.\.\.0+ \(401 characters\): it is "
        r"beyond the float range",
    ),
    Case(
        "const-int-overflow-reflected",
        lambda t: 10**400 * X,
        errors.ConstantOverflowError,
        r"beyond the float range",
    ),
    Case(
        "const-overflow-sxconst",
        lambda t: SX.const(-(10**309)),
        errors.ConstantOverflowError,
        r"cannot make a constant from -100000000000000000000000000\.\.\.0+ \(311 characters\)",
    ),
    Case(
        "vector-index-past-end",
        lambda t: V[3],
        errors.VectorIndexError,
        r"index 3 is out of range for an SXVector of length 3",
    ),
    Case(
        "vector-index-before-start",
        lambda t: V[-4],
        errors.VectorIndexError,
        r"index -4 is out of range for an SXVector of length 3",
    ),
    # ---- unordered collections (their iteration order is not the user's) ----
    Case(
        "vector-from-set",
        lambda t: SXVector({X, X + 1}),
        GradgenTypeError,
        r"the items of an SXVector must be an ordered sequence .* not a set",
    ),
    Case(
        "vector-from-dict",
        lambda t: gg.vector({X: 1.0}),
        GradgenTypeError,
        r"the items of an SXVector must be an ordered sequence .* not a dict",
    ),
    Case(
        "vector-plus-dict",
        lambda t: V + {0: 1.0, 1: 2.0, 2: 3.0},
        GradgenTypeError,
        r"not a dict",
    ),
    Case(
        "vector-from-dict-values",
        lambda t: SXVector({"a": X}.values()),
        GradgenTypeError,
        r"not a dict_values",
    ),
    Case(
        "matvec-set-row",
        lambda t: gg.matvec([{1.0, 2.0, 3.0}], V),
        GradgenTypeError,
        r"a matrix row must be an ordered sequence .* not a set",
    ),
    Case(
        "matvec-frozenset-matrix",
        lambda t: gg.quadform(frozenset({(1.0, 2.0, 3.0)}), V),
        GradgenTypeError,
        r"a matrix must be an ordered sequence .* not a frozenset",
    ),
    Case(
        "evaluate-with-set",
        lambda t: F(1.0, {1.0, 2.0, 3.0}),
        EvaluationArgumentError,
        r"argument 'v' of 'f' must be a sequence of 3 numbers in your order, not a set",
    ),
    Case(
        "jvp-tangent-dict",
        lambda t: G.jvp({0: 1.0, 1: 0.0, 2: 0.0}),
        GradgenTypeError,
        r"must be an ordered sequence .* not a dict",
    ),
    Case(
        "vjp-cotangent-set",
        lambda t: G.vjp([{1.0, 2.0, 3.0}]),
        GradgenTypeError,
        r"of 'w' must be an ordered sequence .* not a set",
    ),
    Case(
        "joint-kinds-set",
        lambda t: F.joint({"f", "grad"}, 1),
        GradgenTypeError,
        r"the joint kinds must be an ordered sequence .* not a set",
    ),
    Case(
        "jvp-wrt-set",
        lambda t: F.jvp(None, {0, 1}),
        GradgenTypeError,
        r"wrt must be an ordered sequence .* not a set",
    ),
    Case(
        "symbolic-jvp-tangent-set",
        lambda t: gg.jvp([V.sum()], V, {1.0, 2.0, 3.0}),
        GradgenTypeError,
        r"the tangent must be an ordered sequence .* not a set",
    ),
    # ---- paths ----
    Case(
        "project-path-none",
        lambda t: gg.create_rust_project(F, None),
        GradgenTypeError,
        r"the project path must be a str or an os\.PathLike path, got NoneType",
    ),
    Case(
        "project-path-bytes",
        lambda t: gg.create_rust_project(F, bytes(t / "crate")),
        GradgenTypeError,
        r"the project path must be a str or an os\.PathLike path, got bytes",
    ),
    Case(
        "project-path-nul",
        lambda t: gg.create_rust_project(F, str(t / "cra\0te")),
        errors.InvalidPathError,
        r"the project path contains a NUL character",
    ),
    Case(
        "builder-path-nul",
        lambda t: _builder().build(str(t / "cra\0te")),
        errors.InvalidPathError,
        r"the project path contains a NUL character",
    ),
    Case(
        "bundle-path-bytes",
        lambda t: gg.create_rust_derivative_bundle(F, bytes(t / "b")),
        GradgenTypeError,
        r"the bundle path must be a str or an os\.PathLike path, got bytes",
    ),
    Case(
        "compile-crate-path-nul",
        lambda t: gg.compile(str(t / "cra\0te")),
        errors.InvalidPathError,
        r"the crate path contains a NUL character",
    ),
    Case(
        "project-path-component-too-long",
        lambda t: gg.create_rust_project(F, str(t / ("c" * 256))),
        errors.InvalidPathError,
        r"the project path has a component of 256 bytes, longer than the 255 a file system accepts",
    ),
    Case(
        # the function's name makes the Jacobian crate's directory 256 bytes long: refused
        # before the primal crate (a short name) is written
        "bundle-crate-directory-too-long",
        lambda t: gg.create_rust_derivative_bundle(_long_named(123), str(t / "b")),
        errors.InvalidPathError,
        r"the project path has a component of 256 bytes, longer than the 255 a file system accepts",
    ),
    Case(
        "compile-build-dir-nul",
        lambda t: gg.compile(F, build_dir="cache\0dir"),
        errors.InvalidPathError,
        r"build_dir contains a NUL character",
    ),
    Case("sx-constructor", lambda t: SX(), GradgenTypeError, r"use SX\.sym\(name\), SX\.const\(value\)"),
    Case("sx-pickle", lambda t: pickle.dumps(X), GradgenTypeError, r"SX expressions cannot be pickled"),
    Case(
        "vector-length-negative",
        lambda t: SXVector.sym("v", -1),
        GradgenTypeError,
        r"SXVector\.sym needs a non-negative integer length, got -1",
    ),
    Case(
        "vector-index-type",
        lambda t: V["a"],
        GradgenTypeError,
        r"SXVector indices must be integers or slices, not str",
    ),
    Case(
        "norm-order-type",
        lambda t: V.norm_p("a"),
        GradgenTypeError,
        r"the norm order p must be a number, got str",
    ),
    Case(
        "matrix-not-rows", lambda t: gg.matvec(3, V), GradgenTypeError, r"a matrix must be a sequence of rows"
    ),
    # ---- shapes and sizes ----
    Case(
        "elementwise-lengths",
        lambda t: V + SXVector.sym("w", 2),
        ShapeError,
        r"elementwise operation on vectors of lengths 3 and 2",
    ),
    Case(
        "dot-lengths",
        lambda t: V.dot(SXVector.sym("w", 2)),
        ShapeError,
        r"dot product of vectors of lengths 3 and 2",
    ),
    Case(
        "matvec-columns",
        lambda t: gg.matvec([[1, 2]], V),
        ShapeError,
        r"matvec: matrix has 2 columns but the vector has length 3",
    ),
    Case(
        "quadform-square",
        lambda t: gg.quadform([[1, 2, 3], [1, 2, 3]], V),
        ShapeError,
        r"quadform needs a square matrix, got 2x3",
    ),
    Case(
        "if-else-lengths",
        lambda t: gg.if_else(V, SXVector.sym("w", 2), 1),
        ShapeError,
        r"if_else on vectors of lengths 2 and 3",
    ),
    # ---- function definitions ----
    Case(
        "function-name-empty",
        lambda t: Function("", [X], [X]),
        FunctionDefinitionError,
        r"a function name must be a non-empty string, got ''",
    ),
    Case(
        "inputs-not-a-list",
        lambda t: Function("h", X, [X]),
        FunctionDefinitionError,
        r"inputs must be a list of symbols or symbol vectors",
    ),
    Case(
        "input-not-symbol",
        lambda t: Function("h", [X + 1], [X]),
        FunctionDefinitionError,
        r"input 0 contains the expression x \+ 1, which is not a symbol",
    ),
    Case(
        "input-twice",
        lambda t: Function("h", [X, X], [X]),
        FunctionDefinitionError,
        r"symbol 'x' appears more than once among the inputs \(inputs 0 and 1\)",
    ),
    Case(
        "free-symbol",
        lambda t: Function("h", [X], [SX.sym("zz")]),
        FunctionDefinitionError,
        r"an output depends on symbol 'zz', which is not among the declared inputs",
    ),
    Case(
        "input-name-count",
        lambda t: Function("h", [X], [X], input_names=["a", "b"]),
        FunctionDefinitionError,
        r"function 'h' has 1 inputs but 2 input names",
    ),
    Case(
        "duplicate-arg-names",
        lambda t: Function("h", [X], [X], input_names=["a"], output_names=["a"]),
        FunctionDefinitionError,
        r"argument name\(s\) 'a' used more than once",
    ),
    Case(
        "output-not-expression",
        lambda t: Function("h", [X], ["s"]),
        FunctionDefinitionError,
        r"output 0 must be an expression, a number or a vector of them",
    ),
    Case(
        "output-empty",
        lambda t: Function("h", [X], [[]]),
        FunctionDefinitionError,
        r"output 0 is an empty vector",
    ),
    # ---- numeric evaluation ----
    Case(
        "call-arg-count",
        lambda t: F(1.0),
        EvaluationArgumentError,
        r"function 'f' takes 2 argument\(s\) \(x, v\), got 1",
    ),
    Case(
        "call-arg-length",
        lambda t: F(1.0, [1, 2]),
        EvaluationArgumentError,
        r"argument 'v' of 'f' has length 2, expected 3",
    ),
    Case(
        "call-arg-text",
        lambda t: F("a", [1, 2, 3]),
        EvaluationArgumentError,
        r"argument 'x' of 'f' must be a number, got 'a'",
    ),
    # ---- simplification levels ----
    Case(
        "level-unknown",
        lambda t: gg.simplify(F, "extreme"),
        InvalidLevelError,
        r"unknown simplification level 'extreme'; use one of none, basic, medium, high, max or 0-4",
    ),
    Case(
        "level-out-of-range",
        lambda t: gg.simplify(F, 7),
        InvalidLevelError,
        r"simplification level 7 is out of range; use 0-4",
    ),
    Case(
        "level-bool", lambda t: gg.simplify(F, True), InvalidLevelError, r"unknown simplification level True"
    ),
    Case(
        "level-in-config",
        lambda t: Config().with_simplification("hi"),
        InvalidLevelError,
        r"unknown simplification level 'hi'",
    ),
    Case(
        "level-of-bundle",
        lambda t: gg.create_rust_derivative_bundle(F, t / "b", simplify_derivatives="x"),
        InvalidLevelError,
        r"unknown simplification level 'x'",
    ),
    Case(
        "level-in-builder",
        lambda t: CodeGenerationBuilder().for_function(F).with_simplification("zz"),
        InvalidLevelError,
        r"unknown simplification level 'zz'",
    ),
    Case(
        "simplify-type",
        lambda t: gg.simplify("x"),
        GradgenTypeError,
        r"simplify expects an SX, SXVector or Function, got str",
    ),
    Case("cse-type", lambda t: gg.cse(3), GradgenTypeError, r"cse expects expressions, got int"),
    Case(
        "cse-min-uses",
        lambda t: gg.cse([X], min_uses=0),
        GradgenTypeError,
        r"min_uses must be a positive integer, got 0",
    ),
    # ---- derivative requests ----
    Case(
        "wrt-out-of-range",
        lambda t: F.gradient(5),
        DifferentiationError,
        r"wrt index 5 is out of range: 'f' has 2 input\(s\) \('x', 'v'\)",
    ),
    Case("wrt-negative", lambda t: F.jacobian(-1), DifferentiationError, r"wrt index -1 is out of range"),
    Case(
        "gradient-of-vector",
        lambda t: G.gradient(0),
        DifferentiationError,
        r"the gradient of 'g' needs exactly one scalar output, but it has 'w' of size 3",
    ),
    Case(
        "hessian-of-vector",
        lambda t: G.hessian(0),
        DifferentiationError,
        r"the hessian of 'g' needs exactly one scalar output",
    ),
    Case(
        "wrt-expression",
        lambda t: gg.gradient(X * X, X + 1),
        DifferentiationError,
        r"can only differentiate with respect to symbols, got the expression x \+ 1",
    ),
    Case(
        "direction-length",
        lambda t: gg.hvp(X * X, [X], [1, 2]),
        DifferentiationError,
        r"the direction has 2 element\(s\), expected 1",
    ),
    Case(
        "joint-kind",
        lambda t: F.joint(["foo"]),
        DifferentiationError,
        r"unknown joint kind 'foo'; use one of f, grad, jf, hessian, hvp",
    ),
    Case(
        "builder-wrt",
        lambda t: (
            CodeGenerationBuilder()
            .for_function(F)
            .add_joint(FunctionBundle().add_f().add_jf(wrt=9))
            .done()
            .build(t / "b")
        ),
        DifferentiationError,
        r"wrt index 9 is out of range",
    ),
    # ---- backend configuration ----
    Case(
        "backend-mode",
        lambda t: Config().with_backend_mode("embedded"),
        ConfigError,
        r"unknown backend mode 'embedded'; use one of std, no_std",
    ),
    Case(
        "scalar-type",
        lambda t: Config().with_scalar_type("f16"),
        ConfigError,
        r"unknown scalar type 'f16'; use one of f64, f32",
    ),
    Case(
        "config-type",
        lambda t: F.generate_rust(config="std"),
        ConfigError,
        r"config must be a RustBackendConfig, got str",
    ),
    Case(
        "builder-config-type",
        lambda t: CodeGenerationBuilder().with_backend_config("x"),
        ConfigError,
        r"with_backend_config expects a RustBackendConfig, got str",
    ),
    Case(
        "builder-empty",
        lambda t: CodeGenerationBuilder().build(t / "b"),
        ConfigError,
        r"the builder has no kernels to generate",
    ),
    Case(
        "compile-config",
        lambda t: gg.compile(t, config="x"),
        ConfigError,
        r"config must be a RustBackendConfig, got str",
    ),
    # ---- names ----
    Case(
        "function-name-space",
        lambda t: Config().with_function_name("my fn"),
        InvalidNameError,
        r"function name 'my fn' is not a valid Rust identifier .*'my_fn'",
    ),
    Case(
        "function-name-keyword",
        lambda t: Config().with_function_name("fn"),
        InvalidNameError,
        r"function name 'fn' is a Rust keyword",
    ),
    Case(
        "crate-name-digit",
        lambda t: Config().with_crate_name("1abc"),
        InvalidNameError,
        r"crate name '1abc' is not a valid Rust identifier",
    ),
    Case(
        "crate-name-reserved",
        lambda t: F.create_rust_project(t / "c", crate_name="std"),
        InvalidNameError,
        r"crate name 'std' is reserved by Rust or cargo; choose another, e.g. 'std_kernel'",
    ),
    Case(
        "crate-name-keyword",
        lambda t: F.create_rust_project(t / "c", crate_name="fn"),
        InvalidNameError,
        r"crate name 'fn' is a Rust keyword",
    ),
    Case(
        "sanitized-collision",
        lambda t: Function(
            "h", [SX.sym("a b")], [SX.sym("a b")], input_names=["a b"], output_names=["a_b"]
        ).generate_rust(),
        InvalidNameError,
        r"output 'a_b' becomes the Rust identifier 'a_b', which is already used by input 'a b'",
    ),
    Case(
        "abi-name-collision",
        lambda t: Function("h", [X], [X], input_names=["work"], output_names=["y"]).generate_rust(),
        InvalidNameError,
        r"input 'work' becomes the Rust identifier 'work', which is already used by the workspace argument",
    ),
    Case(
        "builder-duplicate-kernel",
        lambda t: _builder().for_function(F).add_primal().done().build(t / "b"),
        InvalidNameError,
        r"both generate the Rust function 'b_f_f'; request each kernel once",
    ),
    Case(
        "builder-reserved-crate",
        lambda t: (
            CodeGenerationBuilder()
            .with_backend_config(Config().with_crate_name("core"))
            .for_function(F)
            .add_primal()
            .done()
            .build(t / "b")
        ),
        InvalidNameError,
        r"crate name 'core' is reserved",
    ),
    # ---- paths and overwrite ----
    Case(
        "project-path-is-file",
        lambda t: F.create_rust_project(_file(t)),
        ProjectWriteError,
        r"cannot create a Rust project at '.*a_file': it is a file",
    ),
    Case(
        "project-parent-is-file",
        lambda t: F.create_rust_project(_file(t) / "crate"),
        ProjectWriteError,
        r"'.*a_file' is a file",
    ),
    Case(
        "bundle-path-is-file",
        lambda t: gg.create_rust_derivative_bundle(F, _file(t)),
        ProjectWriteError,
        r"cannot create a derivative bundle at '.*a_file': it is a file",
    ),
    Case("builder-path-is-file", lambda t: _builder().build(_file(t)), ProjectWriteError, r"it is a file"),
    Case(
        "foreign-directory",
        lambda t: F.create_rust_project(_foreign(t)),
        ProjectWriteError,
        r"refusing to write a Rust project into '.*handmade': it holds files that gradgen did not "
        r"generate \(Cargo\.toml, notes\.txt\).*overwrite=True",
    ),
    Case(
        "builder-foreign-directory",
        lambda t: _builder().build(_foreign(t)),
        ProjectWriteError,
        r"did not generate \(Cargo\.toml, notes\.txt\)",
    ),
    Case(
        "overwrite-not-bool",
        lambda t: F.create_rust_project(t / "c", overwrite="yes"),
        ProjectWriteError,
        r"overwrite must be True or False, got 'yes'",
    ),
    # ---- compile ----
    Case(
        "compile-target-type",
        lambda t: gg.compile(3),
        GradgenTypeError,
        r"compile\(\) takes a Function, a CodeGenerationBuilder or the path of a generated crate, got int",
    ),
    Case(
        "compile-not-a-crate",
        lambda t: gg.compile(t / "nothing"),
        BuildError,
        r"'.*nothing' is not a Cargo crate \(no Cargo\.toml\)",
    ),
    Case(
        "compile-more-slices-than-the-c-abi-numbers",
        lambda t: gg.compile(_too_many_slices(), build_dir=t / "cache"),
        errors.CAbiLimitError,
        r"function 'wide' has 100,001 slices \(99,999 input\(s\), 1 output\(s\) and the workspace\); "
        r"its C ABI numbers at most 100,000 in its status codes",
    ),
    Case(
        "builder-target-type",
        lambda t: CodeGenerationBuilder().for_function(3),
        GradgenTypeError,
        r"for_function expects a gradgen Function, got int",
    ),
    # ---- custom elementary functions ----
    Case(
        "custom-snippet-unbalanced",
        lambda t: _register_custom(rust_primal="fn bad(x: &[f64], w: &[f64]) -> f64 {\n    x[0]\n"),
        SnippetError,
        r"custom function 'bad': rust_primal: unbalanced delimiters: '\{' opened on line 1",
    ),
    Case(
        "custom-callback-returns-text",
        lambda t: Function("f", [X], [_register_custom(eval_python=lambda x: "one")(X)])(1.0),
        CustomFunctionError,
        r"custom function 'bad': eval_python must return a number, got str",
    ),
    # ---- passes and the IR ----
    Case(
        "unknown-pass",
        lambda t: passes_by_name(["nope"]),
        UnknownPassError,
        r"unknown pass 'nope'; registered passes: allocate, cse",
    ),
    Case(
        "broken-pass",
        lambda t: PassManager([_BreakingPass()]).run(F.kernel),
        VerificationError,
        r"kernel 'f' \(after break-it\): v\d+ uses v\d+, which is not defined before it",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: pathlib.Path) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(case.error, match=case.match) as info:
        case.call(tmp_path)
    assert type(info.value) is case.error  # the precise type, not a subclass or a built-in
    # nothing was written by the failing call (fixtures may have made their own input files)
    created = {"a_file", "handmade"}
    after = sorted(p.name for p in tmp_path.iterdir() if p.name not in created)
    assert after == [n for n in before if n not in created], f"files left behind: {after}"


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def _error_types() -> list[type[BaseException]]:
    return [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, GradgenError)]


def test_every_error_type_has_a_case() -> None:
    """Every concrete error type of ``gradgen/errors.py`` is raised by some case (``KernelCallError``
    needs a built library: it has its own test below; ``UnsupportedFeatureError`` has nothing left
    to refuse, every 0.5.2 name being provided, and stays for code that catches it)."""
    covered = {c.error for c in CASES} | {
        errors.KernelCallError,
        GradgenError,
        errors.UnsupportedFeatureError,
    }
    missing = sorted(t.__name__ for t in _error_types() if t not in covered)
    assert not missing, f"error types without a bad-input case: {missing}"


def test_every_error_type_is_exported_and_specialises_a_builtin() -> None:
    for t in _error_types():
        assert getattr(gg, t.__name__) is t, f"gradgen does not export {t.__name__}"
        if t is not GradgenError:
            builtins = [b for b in t.__mro__[1:] if b.__module__ == "builtins" and b is not object]
            assert builtins and builtins[0] is not Exception, f"{t.__name__} specialises no built-in"
    assert issubclass(ProjectWriteError, OSError) and issubclass(GradgenTypeError, TypeError)
    assert issubclass(InvalidLevelError, ValueError) and issubclass(BuildError, RuntimeError)


def test_kernel_call_errors(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.cargo import cargo_env

    compiled = gg.compile(F, build_dir=tmp_path_factory.mktemp("errors-cache"), env=cargo_env())
    assert compiled(2.0, [1.0, 2.0, 3.0]) == 12.0
    with pytest.raises(errors.KernelCallError, match=r"'f' takes 2 argument\(s\) \(x, v\), got 1"):
        compiled(1.0)
    with pytest.raises(errors.KernelCallError, match=r"argument 'v' of 'f' has length 2, expected 3"):
        compiled(1.0, [1.0, 2.0])
    with pytest.raises(errors.KernelCallError, match=r"argument 'x' of 'f' must be a number, got 'a'"):
        compiled("a", [1.0, 2.0, 3.0])
    np = pytest.importorskip("numpy")
    for array, dtype in (
        (np.array([1.0 + 2.0j, 2.0, 3.0]), "complex128"),
        (np.array([1.0, 2.0, None]), "object"),
    ):
        with pytest.raises(
            errors.KernelCallError,
            match=rf"argument 'v' of 'f' must be a sequence of 3 numbers, got an array of dtype {dtype} "
            r"\(only real numeric arrays",
        ):
            compiled(1.0, array)
    with pytest.raises(errors.KernelCallError, match=r"argument 'x' of 'f' must be a number, got"):
        compiled(np.complex128(1.0 + 1.0j), [1.0, 2.0, 3.0])
    with pytest.raises(
        errors.KernelCallError, match=r"argument 'v' of 'f' must be a sequence of 3 numbers, got"
    ):
        compiled(1.0, [1.0, 2.0, np.complex64(3.0 - 1.0j)])
    with pytest.raises(
        errors.KernelCallError, match=r"argument 'v' of 'f' must be .* in your order, not a set"
    ):
        compiled(1.0, {1.0, 2.0, 3.0})
    with pytest.raises(errors.KernelCallError, match=r"in your order, not a dict"):
        compiled(1.0, {0: 1.0, 1: 2.0, 2: 3.0})
    # real arrays of any numeric dtype still work
    assert compiled(np.float32(2.0), np.array([1, 2, 3], dtype=np.int64)) == 12.0
