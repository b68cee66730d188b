"""The Python interface of gradgen 0.5.2: the PyO3 extension crate ``<crate>_python``.

Generation is checked on the files (manifests, rustfmt-exact source for every pyo3 dialect,
regeneration, errors before any write); the wrappers are built against Debian's pyo3 0.17 (the
only pyo3 reachable here, through the offline registry of ``tests/cargo.py``), imported into this
interpreter and called, and their results compared with gradgen's Python evaluation of the same
functions and with finite differences.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import shutil
import subprocess
import sys
import tomllib
from types import ModuleType
from typing import Any

import pytest

import gradgen as gg
from gradgen import SX, CodeGenerationBuilder, Function, FunctionBundle, RustBackendConfig, SXVector
from gradgen.backends.rust_python import DEFAULT_PYO3_VERSION, pyo3_dialect
from gradgen.ir.interp import run
from gradgen.python_interface import RustPythonInterfaceProjectResult, build_python_interface
from tests.cargo import DEBIAN_REGISTRY, cargo_env, rustfmt_check

#: the pyo3 Debian ships (librust-pyo3-dev)
DEBIAN_PYO3 = "0.17"
HAVE_PYO3 = any(DEBIAN_REGISTRY.glob("pyo3-0.17*")) and shutil.which("cargo") is not None
needs_pyo3 = pytest.mark.skipif(not HAVE_PYO3, reason="needs cargo and Debian's librust-pyo3-dev")

#: configs that write the wrapper without building it
WRITE_ONLY = RustBackendConfig().with_enable_python_interface().with_build_python_interface(False)


def energy() -> Function:
    x, u = SXVector.sym("x", 3), SX.sym("u")
    return Function("energy", [x, u], [x.norm2sq() * u + gg.sin(x[0]), x * gg.exp(u)], ["x", "u"], ["e", "g"])


def rosen() -> Function:
    z = SXVector.sym("z", 2)
    return Function("rosen", [z], [(1.0 - z[0]) ** 2 + 100.0 * (z[1] - z[0] ** 2) ** 2], ["z"], ["r"])


def load(interface: RustPythonInterfaceProjectResult, directory: pathlib.Path) -> ModuleType:
    """Import the built extension: its shared library copied as ``<module>.so``."""
    assert interface.library is not None and interface.library.is_file()
    target = directory / f"{interface.module_name}.so"
    shutil.copy(interface.library, target)
    spec = importlib.util.spec_from_file_location(interface.module_name, target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(interface: RustPythonInterfaceProjectResult | None, directory: pathlib.Path) -> ModuleType:
    assert interface is not None
    return load(build_python_interface(interface, "debug", env=cargo_env()), directory)


def close(actual: Any, expected: Any, rel: float = 1e-12, abs_: float = 1e-12) -> bool:
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(close(a, e, rel, abs_) for a, e in zip(actual, expected, strict=True))
        )
    return isinstance(actual, float) and math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)


# ---- configuration ------------------------------------------------------------------------------------


def test_config_options_and_their_errors() -> None:
    config = RustBackendConfig()
    assert (config.enable_python_interface, config.build_python_interface) == (False, True)
    assert config.pyo3_version == DEFAULT_PYO3_VERSION == "0.28.2"  # what gradgen 0.5.2 writes
    enabled = config.with_enable_python_interface()
    assert (
        enabled.enable_python_interface
        and enabled.with_build_python_interface(False).build_python_interface is False
    )
    assert enabled.with_enable_python_interface(False).enable_python_interface is False
    with pytest.raises(gg.ConfigError, match=r"call with_enable_python_interface\(\) first"):
        config.with_build_python_interface(True)
    assert config.with_build_python_interface(False).build_python_interface is False
    with pytest.raises(gg.ConfigError, match="enable_python_interface must be True or False"):
        config.with_enable_python_interface("yes")  # type: ignore[arg-type]
    for good in ("0.17", "0.17.3", "=0.20.3", "^0.23", "~0.18.1", "0.28.2", "0.30"):
        assert config.with_pyo3_version(good).pyo3_version == good
    for bad in ("0.16", "0.21", "0.22.1", "1.0", "latest", ">=0.17", "0.17.*", " 0.17", "^ 0.23", 17, None):
        with pytest.raises(gg.ConfigError, match="pyo3 version"):
            config.with_pyo3_version(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "dialect", "varargs", "feature"),
    [
        ("0.17", "gil-refs", '#[pyfunction(args = "*")]', True),
        ("0.20.3", "gil-refs", "#[pyo3(signature = (*args))]", True),
        ("0.23", "bound", "#[pyo3(signature = (*args))]", True),
        ("0.28.2", "bound", "#[pyo3(signature = (*args))]", False),
    ],
)
def test_source_per_pyo3_version_is_rustfmt_exact(
    tmp_path: pathlib.Path, version: str, dialect: str, varargs: str, feature: bool
) -> None:
    config = WRITE_ONLY.with_pyo3_version(version).with_crate_name("demo")
    built = CodeGenerationBuilder().with_backend_config(config).for_function(energy()).add_primal().done()
    result = built.build(tmp_path / "demo")
    interface = result.python_interface
    assert interface is not None and pyo3_dialect(version).name == dialect
    source = interface.lib_rs.read_text()
    assert rustfmt_check(source) is None
    assert varargs in source and "use ::demo as low;" in source
    gil = dialect == "gil-refs"
    assert ("type Object<'py> = &'py PyAny;" in source) is gil
    assert ("type Object<'py> = Bound<'py, PyAny>;" in source) is not gil
    assert ("fn python_module(m: &Bound<'_, PyModule>)" in source) is not gil
    manifest = tomllib.loads(interface.cargo_toml.read_text())
    assert manifest["dependencies"]["pyo3"]["version"] == version
    assert ("extension-module" in manifest["dependencies"]["pyo3"].get("features", [])) is feature
    pyproject = tomllib.loads(interface.pyproject.read_text())
    maturin = pyproject["build-system"]["requires"][0]
    assert maturin == ("maturin>=1.0,<2.0" if feature else "maturin>=1.9.4,<2.0")


@pytest.mark.parametrize(("count", "stem"), [(40, "v"), (12, "an_input_with_an_extraordinarily_long_name_")])
def test_wide_and_long_named_functions_stay_rustfmt_exact(
    tmp_path: pathlib.Path, count: int, stem: str
) -> None:
    """Long names and many arguments: the layouts rustfmt chooses for them (values and attributes
    moved to their own lines, packed arrays, a call broken after ``=``)."""
    ins = [SX.sym(f"{stem}{k}") for k in range(count)]
    f = Function(
        "fn_" + stem * 2, ins, [sum(ins), ins[0] * ins[-1]], [f"{stem}{k}" for k in range(count)], ["a", "b"]
    )
    for version in ("0.17", "0.18", DEFAULT_PYO3_VERSION):
        crate = "c" + version.replace(".", "_")
        config = WRITE_ONLY.with_pyo3_version(version).with_crate_name(crate).with_emit_metadata_helpers(True)
        result = (
            CodeGenerationBuilder()
            .with_backend_config(config)
            .for_function(f)
            .add_primal()
            .add_jacobian()
            .done()
        ).build(tmp_path / crate)
        assert result.python_interface is not None and len(result.functions) == count + 1
        assert rustfmt_check(result.python_interface.lib_rs.read_text()) is None
        if stem == "v":  # the metadata helpers of the generated crate pack their arrays the same way
            assert rustfmt_check((result.project_dir / "src" / "lib.rs").read_text()) is None


# ---- files --------------------------------------------------------------------------------------------


def test_sibling_crate_layout_and_low_level_crate_unchanged(tmp_path: pathlib.Path) -> None:
    f = energy()
    plain = gg.create_rust_project(f, tmp_path / "plain" / "energy_crate")
    project = gg.create_rust_project(
        f, tmp_path / "energy_crate", config=WRITE_ONLY.with_pyo3_version("0.17")
    )
    interface = project.python_interface
    assert isinstance(interface, gg.RustPythonInterfaceProjectResult)
    assert interface.project_dir == (tmp_path / "energy_crate_python").absolute()
    assert interface.module_name == interface.low_level_crate_name == "energy_crate"
    assert (
        interface.function_names == ("energy",) and interface.version == "0.1.0" and interface.library is None
    )
    files = sorted(
        str(p.relative_to(interface.project_dir)) for p in interface.project_dir.rglob("*") if p.is_file()
    )
    assert files == ["Cargo.toml", "README.md", "pyproject.toml", "src/lib.rs"]
    # the generated crate is the same with or without its Python interface
    for name in ("src/lib.rs", "Cargo.toml", "metadata.json"):
        assert (project.project_dir / name).read_text() == (plain.project_dir / name).read_text()
    assert "#![forbid(unsafe_code)]" in (project.project_dir / "src" / "lib.rs").read_text()
    manifest = tomllib.loads(interface.cargo_toml.read_text())
    assert manifest["package"]["name"] == "energy_crate_python"
    assert manifest["lib"]["crate-type"] == ["cdylib", "rlib"]
    dependency = interface.project_dir / manifest["dependencies"]["energy_crate"]["path"]
    assert dependency.resolve() == project.project_dir.resolve()
    pyproject = tomllib.loads(interface.pyproject.read_text())
    assert pyproject["tool"]["maturin"]["module-name"] == "energy_crate"
    assert (
        pyproject["project"]["name"] == "energy_crate_python" and pyproject["project"]["version"] == "0.1.0"
    )
    readme = interface.readme.read_text()
    assert "`energy(x, u, workspace=None)` -> dict of `e`, `g`" in readme and "maturin develop" in readme


def test_regeneration_bumps_the_version_and_keeps_user_files(tmp_path: pathlib.Path) -> None:
    f = energy()
    config = WRITE_ONLY.with_pyo3_version("0.17")
    first = gg.create_rust_project(f, tmp_path / "regen", config=config).python_interface
    assert first is not None and first.version == "0.1.0"
    (first.project_dir / "Cargo.lock").write_text("# the user's lock file\n")
    (first.project_dir / "tests").mkdir()
    (first.project_dir / "tests" / "test_mine.py").write_text("import regen\n")
    second = gg.create_rust_project(f, tmp_path / "regen", config=config).python_interface
    third = gg.create_rust_project(f, tmp_path / "regen", config=config).python_interface
    assert second is not None and third is not None
    assert (second.version, third.version) == ("0.2.0", "0.3.0")
    assert tomllib.loads(third.cargo_toml.read_text())["package"]["version"] == "0.3.0"
    assert tomllib.loads(third.pyproject.read_text())["project"]["version"] == "0.3.0"
    assert (third.project_dir / "Cargo.lock").read_text() == "# the user's lock file\n"
    assert (third.project_dir / "tests" / "test_mine.py").is_file()


def test_builder_names_are_those_of_052(tmp_path: pathlib.Path) -> None:
    result = (
        CodeGenerationBuilder()
        .with_backend_config(WRITE_ONLY.with_crate_name("multi"))
        .for_function(energy())
        .add_primal()
        .add_jacobian(wrt="x")
        .add_joint(FunctionBundle().add_f().add_jf(wrt=0))
        .done()
        .for_function(rosen(), lambda blk: blk.add_primal().add_gradient().add_hvp())
        .build(tmp_path / "multi")
    )
    interface = result.python_interface
    assert interface is not None
    assert interface.function_names == (
        "energy",
        "energy_jf_x",
        "energy_f_jf_x",
        "rosen",
        "rosen_grad",
        "rosen_hvp",
    )
    assert result.function_names[0] == "multi_energy_f"
    source = interface.lib_rs.read_text()
    assert 'name: "energy",\n    rust_name: "multi_energy_f",' in source
    # 0.5.2's multi-function entry point is the builder: the same interface
    multi = gg.create_multi_function_rust_project([energy(), rosen()], tmp_path / "mf", config=WRITE_ONLY)
    assert multi.python_interface is not None and multi.python_interface.function_names == ("energy", "rosen")


def _nothing_written(root: pathlib.Path, before: set[pathlib.Path]) -> bool:
    return set(root.rglob("*")) == before


def test_bad_configuration_is_refused_before_any_file_is_written(tmp_path: pathlib.Path) -> None:
    f = energy()
    # a directory of the user's where the wrapper would go
    (tmp_path / "mine_python").mkdir()
    (tmp_path / "mine_python" / "notes.txt").write_text("mine")
    before = set(tmp_path.rglob("*"))
    with pytest.raises(gg.ProjectWriteError, match=r"mine_python.*files that gradgen did not generate"):
        gg.create_rust_project(f, tmp_path / "mine", config=WRITE_ONLY)
    assert _nothing_written(tmp_path, before)
    # overwrite=True writes both crates there and keeps the user's file
    project = gg.create_rust_project(f, tmp_path / "mine", config=WRITE_ONLY, overwrite=True)
    assert project.python_interface is not None and project.python_interface.lib_rs.is_file()
    assert (tmp_path / "mine_python" / "notes.txt").read_text() == "mine"
    shutil.rmtree(tmp_path / "mine")
    shutil.rmtree(tmp_path / "mine_python")
    (tmp_path / "mine_python").mkdir()
    (tmp_path / "mine_python" / "notes.txt").write_text("mine")
    before = set(tmp_path.rglob("*"))
    # ... and the same through the builder
    block = CodeGenerationBuilder().with_backend_config(WRITE_ONLY).for_function(f).add_primal().done()
    with pytest.raises(gg.ProjectWriteError, match="mine_python"):
        block.build(tmp_path / "mine")
    assert _nothing_written(tmp_path, before)
    # a crate named after its wrapper's directory
    with pytest.raises(gg.ProjectWriteError, match="into the crate's own directory"):
        gg.create_rust_project(f, tmp_path / "other_python", crate_name="other", config=WRITE_ONLY)
    # a module Python cannot import, a crate named like the dependency
    with pytest.raises(gg.InvalidNameError, match="Python cannot import"):
        gg.create_rust_project(f, tmp_path / "lambda", config=WRITE_ONLY)
    with pytest.raises(gg.InvalidNameError, match="depends on pyo3"):
        gg.create_rust_project(f, tmp_path / "pyo3", config=WRITE_ONLY)
    # a function whose Python name is one the module defines itself
    x = SX.sym("x")
    clash = Function("call", [x], [x * x])
    with pytest.raises(gg.InvalidNameError, match="'call', a name the module defines itself"):
        gg.create_rust_project(clash, tmp_path / "clash", config=WRITE_ONLY)
    assert _nothing_written(tmp_path, before)
    # derivative bundle: a wrapper would land in another crate's directory
    y, y_python = SX.sym("y"), SX.sym("y_python")
    g = Function("g", [y, y_python], [y * y_python], ["y", "y_python"], ["out"])
    with pytest.raises(
        gg.ProjectWriteError, match=r"g_jacobian_y.*directory of the crate 'g_jacobian_y_python'"
    ):
        gg.create_rust_derivative_bundle(g, tmp_path / "bundle", config=WRITE_ONLY, include_hessians=False)
    assert _nothing_written(tmp_path, before)


def test_build_error_without_cargo(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    config = RustBackendConfig().with_enable_python_interface()  # builds by default, as 0.5.2
    with pytest.raises(gg.BuildError, match=r"with_build_python_interface\(True\) runs `cargo build`"):
        gg.create_rust_project(energy(), tmp_path / "nocargo", config=config)
    # both crates were written before the build was tried
    assert (tmp_path / "nocargo" / "src" / "lib.rs").is_file()
    assert (tmp_path / "nocargo_python" / "src" / "lib.rs").is_file()


# ---- built and imported -------------------------------------------------------------------------------


@needs_pyo3
def test_builder_crate_no_std_imported_and_called(tmp_path: pathlib.Path) -> None:
    """One builder crate (no_std, f64): primal with a vector output, Jacobian, joint kernel,
    gradient, Hessian (dense and sparse), HVP and a staged map kernel; the module's API."""
    f, r = energy(), rosen()
    s = SXVector.sym("s", 2)
    step = Function("step", [s], [[s[1], -0.5 * s[0] + gg.cos(s[1])]], ["s"], ["s_next"])
    pairs = gg.map_function(step, 3)
    config = WRITE_ONLY.with_pyo3_version(DEBIAN_PYO3).with_crate_name("pyb").with_backend_mode("no_std")
    result = (
        CodeGenerationBuilder()
        .with_backend_config(config)
        .for_function(f)
        .add_primal()
        .add_jacobian(wrt="x")
        .add_joint(FunctionBundle().add_f().add_jf(wrt=[0, 1]))
        .done()
        .for_function(r)
        .add_gradient()
        .add_hessian()
        .add_hessian(sparse=True, triangle="lower")
        .add_hvp()
        .done()
        .for_function(pairs)
        .add_primal()
        .done()
        .build(tmp_path / "pyb")
    )
    assert "#![no_std]" in (result.project_dir / "src" / "lib.rs").read_text()
    interface = result.python_interface
    assert interface is not None
    assert rustfmt_check(interface.lib_rs.read_text()) is None
    mod = build(interface, tmp_path)
    env = {**cargo_env(), "PYO3_PYTHON": sys.executable, "PYO3_BUILD_EXTENSION_MODULE": "1"}
    clippy = ["cargo", "clippy", "--", "-D", "warnings"]
    proc = subprocess.run(
        clippy, cwd=interface.project_dir, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr

    names = list(interface.function_names)
    assert mod.all_functions() == names
    assert names == [
        "energy", "energy_jf_x", "energy_f_jf_x_u", "rosen_grad", "rosen_hessian",
        "rosen_hessian_sparse", "rosen_hvp", "step_map",
    ]  # fmt: skip
    assert mod.__version__ == "0.1.0"
    assert set(mod.__all__) >= {"GradgenError", "Workspace", "call", "function_info", "all_functions", *names}
    assert issubclass(mod.GradgenError, ValueError)

    x, u, z, seq = [0.3, -1.2, 2.0], 0.7, [-1.1, 1.4], [0.5, -0.25, 1.0, 2.0, -3.0, 0.125]
    args = {"energy": (x, u), "rosen": (z,), "step_map": (seq,)}
    # every function against the Python evaluation of its kernel, by attribute and by call()
    for fn in result.functions:
        py_name = names[result.function_names.index(fn.name)]
        inputs = list(args[fn.source_function])
        if fn.kind == "hvp":
            inputs.append([0.25, -2.0])
        expected = run(result.crate.kernel(fn.name), [v if isinstance(v, list) else [v] for v in inputs])
        got = getattr(mod, py_name)(*inputs)
        assert list(got) == list(fn.output_names)
        for (key, value), ref, scalar in zip(
            got.items(), expected, [a.scalar for a in fn.signature.outputs], strict=True
        ):
            assert close(value, ref[0] if scalar else ref), (py_name, key, value, ref)
        assert mod.call(py_name, *inputs) == got == mod.call(fn.name, *inputs)
        info = mod.function_info(fn.name)
        assert info == mod.function_info(py_name)
        assert info["name"] == py_name and info["rust_name"] == fn.name
        assert (info["input_names"], info["input_sizes"]) == (list(fn.input_names), list(fn.input_sizes))
        assert (info["output_names"], info["output_sizes"]) == (list(fn.output_names), list(fn.output_sizes))
        assert info["workspace_size"] == fn.workspace_size

    # independent references: the Function itself, math, finite differences
    value = mod.energy(x, u)
    e_ref, g_ref = f(x, u)
    assert close(value["e"], e_ref) and close(value["g"], g_ref)
    assert close(value["e"], sum(v * v for v in x) * u + math.sin(x[0]))
    assert close(value["g"], [v * math.exp(u) for v in x])
    grad = mod.rosen_grad(z)["grad_z"]
    h = 1e-6
    for k in range(2):
        zp, zm = list(z), list(z)
        zp[k] += h
        zm[k] -= h
        assert math.isclose(grad[k], (r(zp) - r(zm)) / (2 * h), rel_tol=1e-6)
    staged = mod.step_map(seq)
    assert close(next(iter(staged.values())), pairs(seq))

    # a workspace allocated once and reused; the workspace of another function is refused
    work = mod.workspace_for_function("rosen_hessian")
    assert (
        len(work) == result.function("pyb_rosen_hessian").workspace_size
        and work.function_name == "pyb_rosen_hessian"
    )
    assert mod.rosen_hessian(z, work) == mod.rosen_hessian(z) == mod.call("rosen_hessian", z, work)
    with pytest.raises(mod.GradgenError, match="was given the workspace of pyb_rosen_hessian"):
        mod.rosen_grad(z, work)
    with pytest.raises(TypeError, match="must be workspace_for_function"):
        mod.rosen_grad(z, [0.0])
    # errors: a wrong length is the generated function's own error, mapped to GradgenError
    with pytest.raises(mod.GradgenError, match=r"input `x` has length 2, expected 3"):
        mod.energy([1.0, 2.0], u)
    with pytest.raises(ValueError, match=r"input `z` has length 3, expected 2"):
        mod.call("rosen_grad", [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=r"takes 2 input\(s\) \(x, u\) and an optional workspace, got 1"):
        mod.energy(x)
    with pytest.raises(TypeError, match="must be a number or a sequence of numbers"):
        mod.energy("abc", u)
    with pytest.raises(
        mod.GradgenError, match='no generated function is named "nope"; the module has energy, energy_jf_x'
    ):
        mod.function_info("nope")
    with pytest.raises(TypeError, match="call\\(\\) takes the name"):
        mod.call()


@needs_pyo3
def test_single_function_f32_built_by_the_config(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``with_build_python_interface(True)`` builds after writing; the result names the library."""
    for key, value in cargo_env().items():
        monkeypatch.setenv(key, value)
    f = energy()
    config = (
        RustBackendConfig()
        .with_enable_python_interface()
        .with_build_python_interface(True)
        .with_pyo3_version(DEBIAN_PYO3)
        .with_build_profile("debug")
        .with_scalar_type("f32")
    )
    project = gg.create_rust_project(f, tmp_path / "ef32", config=config)
    interface = project.python_interface
    assert interface is not None and interface.library is not None
    assert interface.library.name == "libef32_python.so"
    mod = load(interface, tmp_path)
    x, u = [0.3, -1.2, 2.0], 0.7
    got = mod.energy(x, u)
    e_ref, g_ref = f(x, u)
    assert close(got["e"], e_ref, rel=1e-6, abs_=1e-6) and close(got["g"], g_ref, rel=1e-6, abs_=1e-6)
    assert got["e"] != e_ref  # computed in f32
    assert mod.function_info("energy")["input_scalar"] == [False, True]
    assert mod.energy(x, [u]) == got  # a length-1 input as a number or a list
    with pytest.raises(mod.GradgenError, match="expected 1"):
        mod.energy(x, [u, u])


@needs_pyo3
def test_derivative_bundle_wrappers(tmp_path: pathlib.Path) -> None:
    r = rosen()
    config = WRITE_ONLY.with_pyo3_version(DEBIAN_PYO3)
    bundle = gg.create_rust_derivative_bundle(r, tmp_path / "rb", config=config)
    wrappers = {name: p.python_interface for name, p in bundle.crates.items()}
    assert {name: w.project_dir.name for name, w in wrappers.items() if w is not None} == {
        "primal": "rosen_python",
        "rosen_jacobian_z": "rosen_jacobian_z_python",
        "rosen_hessian_z": "rosen_hessian_z_python",
    }
    mod = build(wrappers["rosen_hessian_z"], tmp_path)
    z = [-1.1, 1.4]
    hessian = next(iter(mod.rosen_hessian_z(z).values()))
    exact = [2 - 400 * (z[1] - 3 * z[0] ** 2), -400 * z[0], -400 * z[0], 200.0]
    assert close(hessian, exact, rel=1e-12, abs_=1e-9)
