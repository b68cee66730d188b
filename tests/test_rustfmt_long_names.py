"""Every generated ``.rs`` file is exactly what rustfmt prints, whatever the length of the names.

Each test generates the crates of one kind (single functions in every scalar type and mode,
derivative kernels, builder crates with several kernels, staged loops, compositions, single
shooting with joint bundles, the C ABI, the PyO3 interface crate, custom elementary functions)
with function, crate, input and output names of :data:`LENGTHS` characters, writes them to disk
and runs ``rustfmt --check`` once over all their ``.rs`` files (no cargo: fast). A failure shows
rustfmt's diff.
"""

from __future__ import annotations

import math
import pathlib
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping

import pytest

import gradgen as gg
from gradgen import (
    SX,
    CodeGenerationBuilder,
    ComposedFunction,
    Function,
    FunctionBundle,
    FunctionComposer,
    RustBackendConfig,
    SingleShootingBundle,
    SingleShootingProblem,
    SXVector,
)
from gradgen.backends.ffi import wrapper_crate

#: name lengths, in characters, of every generated function, crate, input and output
LENGTHS = (1, 20, 40, 60, 70, 80, 100, 120)

pytestmark = pytest.mark.skipif(shutil.which("rustfmt") is None, reason="no rustfmt")


def ident(tag: str, n: int) -> str:
    """A snake_case identifier of exactly ``n`` characters starting with ``tag`` (``n >= 1``;
    for ``n == 1`` the first letter of ``tag``)."""
    if n == 1:
        return tag[0]
    text = tag + "".join(f"_{k}x" for k in range(n))
    return text[:n].rstrip("_") + ("x" if text[:n].endswith("_") else "")


def test_ident_has_the_asked_length() -> None:
    for n in (1, 2, 3, 20, 70, 120):
        for tag in ("f", "xin", "out"):
            name = ident(tag, n)
            assert len(name) == n and name.isidentifier() and name[0] == tag[0], (tag, n, name)


def _edition(crate: pathlib.Path) -> str:
    manifest = crate / "Cargo.toml"
    found = re.search(r'^edition = "(\d+)"$', manifest.read_text(), re.M) if manifest.exists() else None
    return found.group(1) if found else "2021"


def _rust_files(roots: Iterable[pathlib.Path]) -> dict[str, list[pathlib.Path]]:
    """Every ``.rs`` file under ``roots`` grouped by the edition of its crate."""
    by_edition: dict[str, list[pathlib.Path]] = {}
    for root in roots:
        for manifest in sorted(root.rglob("Cargo.toml")):
            crate = manifest.parent
            files = sorted(p for p in crate.rglob("*.rs") if "target" not in p.relative_to(crate).parts)
            by_edition.setdefault(_edition(crate), []).extend(files)
    return by_edition


def assert_rustfmt_exact(roots: Iterable[pathlib.Path], expect_files: int = 1) -> None:
    """``rustfmt --check`` over every ``.rs`` file of the crates under ``roots`` (one call per
    edition, in batches); fails with rustfmt's diff."""
    by_edition = _rust_files(roots)
    count = sum(len(v) for v in by_edition.values())
    assert count >= expect_files, f"only {count} .rs files generated"
    diffs = []
    for edition, files in by_edition.items():
        for start in range(0, len(files), 200):
            batch = [str(p) for p in files[start : start + 200]]
            proc = subprocess.run(
                ["rustfmt", "--check", "--edition", edition, *batch], capture_output=True, text=True
            )
            if proc.returncode != 0:
                diffs.append(proc.stdout + proc.stderr)
    diff = "\n".join(diffs)
    assert not diffs, f"generated Rust is not rustfmt-exact:\n{diff[:20000]}"


def write_files(root: pathlib.Path, files: Mapping[str, str]) -> pathlib.Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# ---- single functions ----------------------------------------------------------------------------
def _function(n: int) -> Function:
    """Two inputs (a vector and a scalar), two outputs (a vector and a scalar), math calls that
    need helpers, a conditional, names of ``n`` characters."""
    x, t = SXVector.sym("x", 3), SX.sym("t")
    y = [gg.sin(x[0]) * t + x[1] ** 3, gg.exp(x[2] - t) + gg.norm2(x), gg.asinh(x[0] * x[1] + t)]
    s = gg.erf(x[0] + x[1] * x[2]) + gg.fabs(t - x[0]) + gg.maximum(x[1], t) + gg.norm_p(x, 3)
    return Function(
        ident("f", n),
        [x, t],
        [y, s],
        [ident("xin", n), ident("tin", n)],
        [ident("yout", n), ident("sout", n)],
    )


CONFIGS = {
    "f64-std": RustBackendConfig(),
    "f32-std": RustBackendConfig().with_scalar_type("f32"),
    "f64-no_std": RustBackendConfig().with_backend_mode("no_std"),
    "f32-no_std": RustBackendConfig().with_backend_mode("no_std").with_scalar_type("f32"),
}


@pytest.mark.parametrize("target", sorted(CONFIGS))
def test_single_function_crates(tmp_path: pathlib.Path, target: str) -> None:
    config = CONFIGS[target].with_emit_metadata_helpers(True)
    for n in LENGTHS:
        f = _function(n)
        f.create_rust_project(tmp_path / f"c{n}", crate_name=ident("crate", n), config=config)
    assert_rustfmt_exact([tmp_path], len(LENGTHS))


def test_many_ports(tmp_path: pathlib.Path) -> None:
    """64 inputs and outputs: the length checks are one loop over an array of tuples."""
    for n in (4, 40, 80, 120):
        xs = [SX.sym(f"x{k}") for k in range(64)]
        f = Function(
            ident("f", n),
            xs,
            [x * xs[0] for x in xs],
            [f"i{k}_" + ident("in", n)[: n - 4] for k in range(64)],
            [f"o{k}_" + ident("out", n)[: n - 4] for k in range(64)],
        )
        f.create_rust_project(tmp_path / f"p{n}", crate_name=ident("crate", n))
    assert_rustfmt_exact([tmp_path], 4)


def test_derivative_kernels(tmp_path: pathlib.Path) -> None:
    for n in LENGTHS:
        f = _function(n)
        x, t = SXVector.sym("x", 3), SX.sym("t")
        scalar = Function(
            ident("g", n),
            [x, t],
            [gg.sin(x[0] * t) + x[1] * x[2] ** 2],
            [ident("xin", n), ident("tin", n)],
            [ident("val", n)],
        )
        kernels = [
            f.jacobian(0),
            scalar.gradient(0),
            scalar.hessian(0),
            scalar.hvp(0),
            scalar.vjp(0),
            f.jvp(wrt_index=0),
            scalar.joint(["f", "grad", "hvp"], wrt=0),
        ]
        for k, kernel in enumerate(kernels):
            kernel.create_rust_project(tmp_path / f"d{n}_{k}", crate_name=ident("dcrate", n))
        scalar.create_rust_derivative_bundle(tmp_path / f"bundle{n}", simplify_derivatives="high")
    assert_rustfmt_exact([tmp_path], len(LENGTHS))


def _builder_crate(n: int, config: RustBackendConfig) -> CodeGenerationBuilder:
    f = _function(n)
    x, t = SXVector.sym("x", 3), SX.sym("t")
    g = Function(
        ident("g", n),
        [x, t],
        [gg.sin(x[0] * t) + x[1] * x[2] ** 2 + gg.norm2sq(x)],
        [ident("xin", n), ident("tin", n)],
        [ident("val", n)],
    )
    return (
        CodeGenerationBuilder()
        .with_backend_config(config.with_crate_name(ident("crate", n)))
        .for_function(f)
        .add_primal()
        .add_jacobian(wrt=0)
        .add_jacobian(wrt=1, sparse=True)
        .add_vjp(wrt=0)
        .done()
        .for_function(g)
        .add_primal()
        .add_gradient()
        .add_hessian(wrt=0, sparse=True)
        .add_hvp(wrt=0)
        .add_joint(FunctionBundle().add_f().add_jf(wrt=0).add_hvp(wrt=0))
        .done()
    )


@pytest.mark.parametrize("target", ["f64-std", "f32-no_std"])
def test_builder_crates_with_several_kernels(tmp_path: pathlib.Path, target: str) -> None:
    """Builder crates: several kernels, size constants, sparse patterns, metadata helpers, the C
    ABI file ``src/ffi.rs`` and the self-tests."""
    config = CONFIGS[target].with_emit_metadata_helpers(True)
    for n in LENGTHS:
        _builder_crate(n, config).build(tmp_path / f"b{n}")
    assert_rustfmt_exact([tmp_path], 3 * len(LENGTHS))


def test_ffi_wrapper_crate(tmp_path: pathlib.Path) -> None:
    """The ``cdylib`` crate ``gradgen.compile`` builds around a generated crate."""
    for n in LENGTHS:
        write_files(tmp_path / f"w{n}", wrapper_crate(ident("gradgen_ffi", n), ident("crate", n), "../c"))
    assert_rustfmt_exact([tmp_path], len(LENGTHS))


@pytest.mark.parametrize("pyo3", ["0.17", "0.28.2"])
def test_python_interface_crates(tmp_path: pathlib.Path, pyo3: str) -> None:
    config = (
        RustBackendConfig()
        .with_enable_python_interface()
        .with_build_python_interface(False)
        .with_pyo3_version(pyo3)
    )
    for n in LENGTHS:
        _builder_crate(n, config).build(tmp_path / f"p{n}")
        f = _function(n)
        f.create_rust_project(tmp_path / f"s{n}", crate_name=ident("single", n), config=config)
    assert len(list(tmp_path.glob("*_python"))) == 2 * len(LENGTHS)
    assert_rustfmt_exact([tmp_path], 4 * len(LENGTHS))


# ---- staged --------------------------------------------------------------------------------------
def _stage(n: int) -> tuple[Function, Function]:
    s = SXVector.sym("s", 2)
    step = Function(
        ident("step", n),
        [s],
        [[s[1] * gg.cos(s[0]), -0.5 * s[0] + s[1] ** 2]],
        [ident("state", n)],
        [ident("next", n)],
    )
    acc, v = SX.sym("acc"), SXVector.sym("v", 2)
    fold = Function(
        ident("fold", n),
        [acc, v],
        [acc * gg.cos(v[0]) + v[1] * acc],
        [ident("acc", n), ident("vin", n)],
        [ident("out", n)],
    )
    return step, fold


def test_staged_map_zip_reduce(tmp_path: pathlib.Path) -> None:
    for n in LENGTHS:
        step, fold = _stage(n)
        mapped = gg.map_function(step, 7, name=ident("mapped", n))
        zipped = gg.zip_function(fold, 5, name=ident("zipped", n))
        reduced = gg.reduce_function(fold, 6, name=ident("reduced", n))
        staged = [
            mapped,
            mapped.jacobian(0),
            zipped,
            reduced,
            reduced.gradient(1),
            reduced.jacobian(0),
            reduced.vjp(1),
        ]
        for k, s in enumerate(staged):
            s.create_rust_project(tmp_path / f"m{n}_{k}", crate_name=ident("crate", n))
    assert_rustfmt_exact([tmp_path], 7 * len(LENGTHS))


def test_compositions(tmp_path: pathlib.Path) -> None:
    for n in LENGTHS:
        xs, th = SXVector.sym("xs", 2), SXVector.sym("th", 2)
        turn = Function(
            ident("turn", n),
            [xs, th],
            [[xs[0] * gg.cos(th[0]) - xs[1] * gg.sin(th[0]) + th[1], gg.tanh(xs[0] * th[1] + xs[1])]],
            [ident("xin", n), ident("par", n)],
            [ident("yout", n)],
        )
        comp = (
            ComposedFunction(ident("comp", n), SXVector.sym(ident("x0", n), 2))
            .then(turn, p=[0.3, -0.1])
            .repeat(turn, params=[SXVector.sym(f"p{k}", 2) for k in range(4)])
            .finish()
        )
        step, fold = _stage(n)
        pipe = (
            FunctionComposer(gg.map_function(step, 3))
            .feed_into(gg.reduce_function(fold, 3), arg=ident("vin", n) + "_seq")
            .compose(ident("pipe", n))
        )
        objects = [
            comp,
            comp.jacobian(),
            comp.joint(["f", "jf"]),
            comp.vjp(),
            pipe,
            pipe.gradient(),
            pipe.hvp(),
        ]
        for k, obj in enumerate(objects):
            obj.create_rust_project(tmp_path / f"k{n}_{k}", crate_name=ident("crate", n))
        (
            CodeGenerationBuilder()
            .with_backend_config(RustBackendConfig().with_crate_name(ident("crate", n)))
            .for_function(comp)
            .add_primal()
            .add_jacobian(wrt=0)
            .add_joint(FunctionBundle().add_f().add_jf(wrt=0))
            .done()
            .for_function(pipe)
            .add_primal()
            .add_gradient(wrt=0)
            .add_hvp(wrt=0)
            .done()
            .build(tmp_path / f"kb{n}")
        )
    assert_rustfmt_exact([tmp_path], 8 * len(LENGTHS))


def test_single_shooting(tmp_path: pathlib.Path) -> None:
    for n in LENGTHS:
        st, ctl, par = SXVector.sym("st", 2), SXVector.sym("ctl", 1), SXVector.sym("par", 1)
        dyn = Function(
            ident("dyn", n),
            [st, ctl, par],
            [[st[0] + par[0] * st[1], st[1] + par[0] * gg.sin(ctl[0])]],
            [ident("x", n), ident("u", n), ident("p", n)],
            [ident("nxt", n)],
        )
        ell = Function(
            ident("ell", n),
            [st, ctl, par],
            [st[0] ** 2 + gg.cos(ctl[0]) * st[1]],
            [ident("x", n), ident("u", n), ident("p", n)],
            [ident("l", n)],
        )
        vf = Function(
            ident("vf", n),
            [st, par],
            [st[0] ** 2 + st[1] ** 2],
            [ident("x", n), ident("p", n)],
            [ident("v", n)],
        )
        q = Function(
            ident("q", n),
            [st, ctl, par],
            [[st[0] - ctl[0]]],
            [ident("x", n), ident("u", n), ident("p", n)],
            [ident("r", n)],
        )
        qn = Function(ident("qn", n), [st, par], [[st[1]]], [ident("x", n), ident("p", n)], [ident("rn", n)])
        problem = (
            SingleShootingProblem(ident("ocp", n))
            .with_horizon(4)
            .with_dynamics(dyn)
            .with_costs(ell, vf)
            .with_input_names(ident("xzero", n), ident("useq", n), ident("param", n))
        )
        weighted = problem.with_penalties(q, qn, SX.sym(ident("rho", n)))
        objects = [
            problem.primal(),
            problem.primal(include_states=True),
            problem.gradient(),
            problem.hvp(),
            problem.with_stage_tape(False).gradient(),
            problem.joint(SingleShootingBundle().add_cost().add_gradient().add_hvp().add_rollout_states()),
            weighted.joint(SingleShootingBundle().add_cost().add_gradient()),
        ]
        for k, obj in enumerate(objects):
            obj.create_rust_project(tmp_path / f"o{n}_{k}", crate_name=ident("crate", n))
        (
            CodeGenerationBuilder()
            .with_backend_config(RustBackendConfig().with_crate_name(ident("crate", n)))
            .for_function(problem)
            .add_primal()
            .add_gradient(wrt=1)
            .add_hvp(wrt=1)
            .add_joint(SingleShootingBundle().add_cost().add_gradient())
            .done()
            .build(tmp_path / f"ob{n}")
        )
    assert_rustfmt_exact([tmp_path], 8 * len(LENGTHS))


# ---- custom elementary functions -----------------------------------------------------------------
T = "{{ scalar_type }}"


def formatted(snippet: str) -> str:
    """A user snippet as rustfmt prints it (the crate keeps user code as written)."""
    proc = subprocess.run(
        ["rustfmt", "--edition", "2021", "--emit", "stdout"],
        input=snippet.replace(T, "f64"),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.replace("f64", T).rstrip("\n")


@pytest.fixture
def clean_registry() -> Iterable[None]:
    gg.clear_registered_elementary_functions()
    yield
    gg.clear_registered_elementary_functions()


@pytest.mark.usefixtures("clean_registry")
def test_custom_elementary_functions(tmp_path: pathlib.Path) -> None:
    for n in LENGTHS:
        name = ident("soft", n)
        custom = gg.register_elementary_function(
            name=name,
            input_dimension=2,
            parameter_dimension=1,
            parameter_defaults=[1.0],
            eval_python=lambda x, w: w[0] * math.log1p(math.exp(x[0] * x[1])),
            jacobian=lambda x, w: [
                w[0] * x[1] / (1 + math.exp(-x[0] * x[1])),
                w[0] * x[0] / (1 + math.exp(-x[0] * x[1])),
            ],
            hessian=lambda x, w: [[0.0, 0.0], [0.0, 0.0]],
            rust_primal=formatted(
                f"fn {name}(x: &[{T}], w: &[{T}]) -> {T} {{\n    w[0] * (x[0] * x[1]).exp().ln_1p()\n}}"
            ),
            rust_jacobian=formatted(
                f"fn {name}_jacobian(x: &[{T}], w: &[{T}], out: &mut [{T}]) {{\n"
                "    out[0] = w[0] * x[1];\n    out[1] = w[0] * x[0];\n}"
            ),
            rust_hessian=formatted(
                f"fn {name}_hessian(x: &[{T}], w: &[{T}], out: &mut [{T}]) {{\n"
                "    out[0] = 0.0 * x[0] * w[0];\n    out[1] = 0.0;\n    out[2] = 0.0;\n    out[3] = 0.0;\n}"
            ),
        )
        z = SXVector.sym("z", 2)
        loss = Function(
            ident("loss", n),
            [z],
            [custom([z[0], z[1]]) + custom([z[1], z[0]], w=[2.0]) * z[0]],
            [ident("zin", n)],
            [ident("lout", n)],
        )
        (
            CodeGenerationBuilder()
            .with_backend_config(RustBackendConfig().with_crate_name(ident("crate", n)))
            .for_function(loss)
            .add_primal()
            .add_gradient()
            .add_hessian()
            .add_hvp()
            .done()
            .build(tmp_path / f"u{n}")
        )
    assert_rustfmt_exact([tmp_path], 3 * len(LENGTHS))


# ---- sanitized names -----------------------------------------------------------------------------
SANITIZED = (
    "fn",
    "type",
    "self",
    "3d point",
    "größe",
    "Ünïcode Név",
    "x" * 90 + " 1",
    "9" + "ä" * 80,
    "match",
)


def test_sanitized_names(tmp_path: pathlib.Path) -> None:
    """Reserved words, unicode, leading digits, spaces: the sanitized names stay rustfmt-exact."""
    for k, raw in enumerate(SANITIZED):
        x, t = SXVector.sym("x", 3), SX.sym("t")
        f = Function(
            raw,
            [x, t],
            [[gg.sin(x[0]) * t, x[1] + x[2]], gg.exp(t)],
            [raw + " in", raw],
            [raw + " out", raw + "-2"],
        )
        f.create_rust_project(tmp_path / f"z{k}", config=RustBackendConfig().with_emit_metadata_helpers(True))
        f.jacobian(1).create_rust_project(tmp_path / f"zg{k}")
        (
            CodeGenerationBuilder()
            .with_backend_config(RustBackendConfig().with_crate_name(f"crate_{k}"))
            .for_function(f)
            .add_primal()
            .add_jacobian(wrt=0)
            .done()
            .build(tmp_path / f"zb{k}")
        )
    assert_rustfmt_exact([tmp_path], 2 * len(SANITIZED))


def test_every_length_where_layouts_change(tmp_path: pathlib.Path) -> None:
    """Each name length from 60 to 125 characters (where statements stop fitting on one line,
    then on the next line, then anywhere): a single-function crate and staged loops."""
    for n in range(60, 126):
        _function(n).create_rust_project(
            tmp_path / f"c{n}",
            crate_name=ident("crate", n),
            config=RustBackendConfig().with_emit_metadata_helpers(True),
        )
        step, fold = _stage(n)
        gg.map_function(step, 7, name=ident("mapped", n)).jacobian(0).create_rust_project(
            tmp_path / f"m{n}", crate_name=ident("crate", n)
        )
        gg.reduce_function(fold, 6, name=ident("reduced", n)).vjp(1).create_rust_project(
            tmp_path / f"r{n}", crate_name=ident("crate", n)
        )
    assert_rustfmt_exact([tmp_path], 3 * 66)
