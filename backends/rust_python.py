"""The Python extension crate of a generated crate (gradgen 0.5.2's "Python interface").

:func:`python_crate_files` prints a separate ``std`` crate, ``<crate>_python``, that depends on the
generated crate by path and wraps each of its functions for Python with PyO3: ``Cargo.toml``
(``crate-type = ["cdylib", "rlib"]``, the pyo3 version the user named), a maturin
``pyproject.toml``, a ``README.md`` and ``src/lib.rs``. The generated crate itself is not touched:
it keeps ``#![forbid(unsafe_code)]`` and its ``no_std`` mode.

The module it builds exports, per generated function, a Python function (its *Python name*)
taking the inputs in order (a float for a length-1 input, else a sequence of floats) and an
optional :class:`Workspace`, and returning a dict ``{output name: float or list}`` (a float for
an output declared scalar); ``all_functions()``, ``function_info(name)``,
``workspace_for_function(name)``, ``call(name, *inputs)``, ``__version__`` (the crate version),
``__all__`` and the exception ``GradgenError`` (a ``ValueError``) that a refused call raises
(a wrong input length: the generated function's own ``GradgenError``, as its message says).

**pyo3 versions.** The API of pyo3 changed twice in ways one source cannot bridge: 0.21 replaced
GIL-bound references (``&PyAny``) by ``Bound<PyAny>``, and 0.23 removed the old API and renamed the
constructors. :func:`pyo3_dialect` reads the version requirement and picks the source to print:
0.17-0.20 (GIL references; 0.17 spells varargs ``#[pyfunction(args = "*")]``, 0.18 on
``#[pyo3(signature = (*args))]``) or 0.23 and later (``Bound``); 0.21 and 0.22, the
transition releases, and versions before 0.17 are refused. Everything but the types, the
varargs attribute and the module function's signature is the same text in every dialect. From
0.28 pyo3 deprecates its ``extension-module`` feature (maturin sets
``PYO3_BUILD_EXTENSION_MODULE``): the feature is only written for older versions.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Sequence

import attrs

from gradgen.ir.errors import ConfigError

from .emitter import (
    Call,
    Emitter,
    attribute,
    emit_array,
    emit_assign,
    emit_field,
    emit_fn_header,
)
from .errors import InvalidNameError
from .metadata import array_field
from .signature import FunctionSignature

#: the pyo3 version gradgen 0.5.2 writes, and ours by default
DEFAULT_PYO3_VERSION = "0.28.2"
#: names the module defines itself; a generated function cannot take one of them
MODULE_API = ("GradgenError", "Workspace", "all_functions", "call", "function_info", "workspace_for_function")
#: a version requirement we can read: an optional operator, then MAJOR.MINOR[.PATCH]
_VERSION = re.compile(r"(\^|=|~)?(\d+)\.(\d+)(?:\.(\d+))?")
#: a Python identifier as an attribute of a module (ASCII, as Rust identifiers are)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


#: the attribute naming the Python module (``MODULE`` replaced by its name)
MODULE_NAME = '#[pyo3(name = "MODULE")]'


@attrs.frozen
class Pyo3Dialect:
    """The pyo3-version-specific parts of the wrapper source."""

    #: ``"gil-refs"`` (pyo3 0.17-0.20) or ``"bound"`` (0.23 and later)
    name: str
    #: the attribute lines of a function taking ``*args``
    varargs: tuple[str, ...]
    #: the Rust type of the ``*args`` tuple parameter
    args_type: str
    #: the type aliases ``Object`` and ``Dict``
    aliases: tuple[str, str]
    #: the module function's header and, for the bound API, the line naming ``py``
    module_header: tuple[str, ...]
    #: whether Cargo.toml enables pyo3's ``extension-module`` feature
    extension_module: bool


_GIL_ALIASES = (
    "/// A Python object passed to the module (a GIL-bound reference of pyo3 before 0.21).\n"
    "type Object<'py> = &'py PyAny;",
    "/// A dictionary returned to Python.\ntype Dict<'py> = &'py PyDict;",
)
_BOUND_ALIASES = (
    "/// A Python object passed to the module.\ntype Object<'py> = Bound<'py, PyAny>;",
    "/// A dictionary returned to Python.\ntype Dict<'py> = Bound<'py, PyDict>;",
)


def pyo3_dialect(version: object) -> Pyo3Dialect:
    """The dialect of the wrapper source for the pyo3 version requirement ``version`` (``"0.17"``,
    ``"0.28.2"``, ``"^0.23"``, ``"=0.20.3"``, ``"~0.18.1"``); a :class:`ConfigError` for anything
    else, or a version whose API the wrapper is not written for."""
    if not isinstance(version, str) or (m := _VERSION.fullmatch(version)) is None:
        raise ConfigError(
            f"pyo3 version {version!r} is not a version requirement gradgen can read; give a version "
            f'such as "{DEFAULT_PYO3_VERSION}" or "0.17" (optionally after ^, = or ~)'
        )
    major, minor = int(m.group(2)), int(m.group(3))
    supported = "pyo3 0.17 to 0.20 (GIL-reference API) or 0.23 and later 0.x (Bound API)"
    if major != 0 or minor < 17 or minor in (21, 22):
        raise ConfigError(
            f"pyo3 version {version!r} is not supported by the Python interface: use {supported}"
        )
    module_name = MODULE_NAME
    if minor <= 20:
        varargs = (
            ('#[pyfunction(args = "*")]',)
            if minor == 17
            else ("#[pyfunction]", "#[pyo3(signature = (*args))]")
        )
        return Pyo3Dialect(
            "gil-refs",
            varargs,
            "&'py PyTuple",
            _GIL_ALIASES,
            ("#[pymodule]", module_name, "fn python_module(py: Python<'_>, m: &PyModule) -> PyResult<()> {"),
            True,
        )
    return Pyo3Dialect(
        "bound",
        ("#[pyfunction]", "#[pyo3(signature = (*args))]"),
        "&Bound<'py, PyTuple>",
        _BOUND_ALIASES,
        (
            "#[pymodule]",
            module_name,
            "fn python_module(m: &Bound<'_, PyModule>) -> PyResult<()> {",
            "let py = m.py();",
        ),
        minor < 28,
    )


@attrs.frozen
class PythonFunction:
    """A generated function as the Python module exports it."""

    #: the name of the module attribute (``call`` and ``function_info`` also take the Rust name)
    python_name: str
    signature: FunctionSignature


def check_module(module: str, functions: Sequence[PythonFunction]) -> None:
    """The module name and every Python name can be imported and called by attribute; no two
    functions share a name; none takes a name of the module's own API. Raises
    :class:`InvalidNameError`."""
    if not _IDENTIFIER.fullmatch(module) or keyword.iskeyword(module):
        raise InvalidNameError(
            f"the Python module would be named {module!r}, which Python cannot import; choose another "
            "crate name with RustBackendConfig().with_crate_name(...)"
        )
    if module == "pyo3":
        raise InvalidNameError("a crate named 'pyo3' cannot have a Python interface (it depends on pyo3)")
    seen: dict[str, str] = {}
    for f in functions:
        name = f.python_name
        rust = f.signature.function_name
        if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name) or name.startswith("__"):
            raise InvalidNameError(
                f"the generated function {rust!r} would be the Python function {name!r}, which is not a "
                "usable attribute name; rename the function"
            )
        if name in MODULE_API:
            raise InvalidNameError(
                f"the generated function {rust!r} would be the Python function {name!r}, a name the "
                f"module defines itself ({', '.join(MODULE_API)}); rename the function"
            )
        for key in {name, rust}:
            if key in seen and seen[key] != rust:
                raise InvalidNameError(
                    f"the generated functions {seen[key]!r} and {rust!r} would both be called {key!r} "
                    "in Python; rename one of them"
                )
            seen[key] = rust


def _text_signature(f: FunctionSignature) -> str:
    return "(" + ", ".join([*f.input_names, "workspace=None"]) + ")"


def _attribute(e: Emitter, item: str) -> None:
    """``#[pyo3(item)]``; rustfmt puts a too long item on a line of its own."""
    e.block(attribute("pyo3", item, e.indent))


def _kernel_entry(e: Emitter, index: int, f: PythonFunction) -> None:
    s = f.signature
    e.line(f"/// The generated function `{s.function_name}`.")
    e.line(f"static KERNEL_{index}: Kernel = Kernel {{")
    emit_field(e, "name", json.dumps(f.python_name))
    emit_field(e, "rust_name", json.dumps(s.function_name))
    fields = (
        ("input_names", [json.dumps(a.name) for a in s.inputs]),
        ("input_sizes", [str(a.size) for a in s.inputs]),
        ("input_scalar", ["true" if a.scalar else "false" for a in s.inputs]),
        ("output_names", [json.dumps(a.name) for a in s.outputs]),
        ("output_sizes", [str(a.size) for a in s.outputs]),
        ("output_scalar", ["true" if a.scalar else "false" for a in s.outputs]),
    )
    for name, items in fields:
        e.lines.extend(array_field(name, items, " " * e.indent))
    e.line(f"workspace_size: {s.workspace_size},")
    e.line(f"run: run_{index},")
    e.line("};")


def _adapter(e: Emitter, index: int, f: PythonFunction, scalar: str) -> None:
    s = f.signature
    e.line(f"/// Calls [`low::{s.function_name}`] with the argument vectors of [`KERNEL_{index}`].")
    emit_fn_header(
        e,
        "",
        f"run_{index}",
        [f"inputs: &[Vec<{scalar}>]", f"outputs: &mut [Vec<{scalar}>]", f"work: &mut [{scalar}]"],
        " -> Outcome",
    )
    e.line("let mut inputs = inputs.iter();")
    e.line("let mut outputs = outputs.iter_mut();")
    args = ["inputs.next().ok_or(Failure::Arity)?"] * len(s.inputs)
    args += ["outputs.next().ok_or(Failure::Arity)?"] * len(s.outputs)
    call = Call(f"low::{s.function_name}", (*args, "work"))
    emit_assign(e, "let result = ", call)
    e.line("result.map_err(Failure::Kernel)")
    e.line("}")


def _python_function(e: Emitter, index: int, f: PythonFunction, dialect: Pyo3Dialect) -> None:
    s = f.signature
    outputs = ", ".join(f"`{a.name}`" for a in s.outputs) or "nothing"
    inputs = ", ".join(f"`{a.name}` ({a.size})" for a in s.inputs) or "no inputs"
    e.line(f"/// `{f.python_name}{_text_signature(s)}`: the generated function `{s.function_name}`.")
    e.line("///")
    e.line(f"/// Takes {inputs}; returns a dict of {outputs}.")
    for line in dialect.varargs:
        e.line(line)
    _attribute(e, f"name = {json.dumps(f.python_name)}")
    _attribute(e, f"text_signature = {json.dumps(_text_signature(s))}")
    emit_fn_header(
        e,
        "",
        f"kernel_{index}<'py>",
        ["py: Python<'py>", f"args: {dialect.args_type}"],
        " -> PyResult<Dict<'py>>",
    )
    e.line("let args: Vec<Object<'py>> = args.iter().collect();")
    e.line(f"invoke(py, &KERNEL_{index}, &args)")
    e.line("}")


_HEAD = """//! Python bindings (PyO3) of the generated crate `CRATE`. Generated by gradgen; do not edit.
//!
//! The extension module `MODULE` exports one function per generated function (see
//! `all_functions()`), each returning a dict of its outputs, and `call`, `function_info`,
//! `workspace_for_function`, `Workspace` and the exception `GradgenError`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyAny, PyDict, PyTuple};

use ::CRATE as low;

/// The scalar type of the generated crate.
type Real = SCALAR;
"""

_CORE = """
pyo3::create_exception!(
    MODULE,
    GradgenError,
    pyo3::exceptions::PyValueError,
    "A generated function refused its arguments (a wrong length, an unknown function name)."
);

/// Why calling a generated function failed.
enum Failure {
    /// The generated function refused its arguments.
    Kernel(low::GradgenError),
    /// The wrapper passed the wrong number of vectors (a bug of the wrapper).
    Arity,
}

/// What a call of a generated function returns.
type Outcome = Result<(), Failure>;

/// A call of a generated function: its inputs, its outputs and the workspace.
type Runner = fn(&[Vec<Real>], &mut [Vec<Real>], &mut [Real]) -> Outcome;

/// A generated function as the module sees it.
struct Kernel {
    /// Its name in Python.
    name: &'static str,
    /// Its name in the generated crate.
    rust_name: &'static str,
    input_names: &'static [&'static str],
    input_sizes: &'static [usize],
    /// Whether each input was declared a scalar.
    input_scalar: &'static [bool],
    output_names: &'static [&'static str],
    output_sizes: &'static [usize],
    /// Whether each output was declared a scalar (returned as a float, not a list).
    output_scalar: &'static [bool],
    /// Minimum length of the workspace.
    workspace_size: usize,
    /// Calls the generated function.
    run: Runner,
}

/// The workspace of one generated function, allocated once and reused by every call given it.
#[pyclass(module = "MODULE")]
struct Workspace {
    /// The Rust name of the function it belongs to.
    function: &'static str,
    values: Vec<Real>,
}

#[pymethods]
impl Workspace {
    /// The Rust name of the generated function this workspace belongs to.
    #[getter]
    fn function_name(&self) -> &'static str {
        self.function
    }

    fn __len__(&self) -> usize {
        self.values.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Workspace(function_name={:?}, size={})",
            self.function,
            self.values.len()
        )
    }
}

/// The generated function called `name` in Python or in Rust.
fn find(name: &str) -> PyResult<&'static Kernel> {
    let found = KERNELS
        .iter()
        .copied()
        .find(|k| k.name == name || k.rust_name == name);
    match found {
        Some(kernel) => Ok(kernel),
        None => {
            let names: Vec<&str> = KERNELS.iter().map(|k| k.name).collect();
            Err(GradgenError::new_err(format!(
                "no generated function is named {name:?}; the module has {}",
                names.join(", ")
            )))
        }
    }
}

/// The values of input `k` of `kernel`: a number for a length-1 input, else a sequence.
fn input_values(kernel: &Kernel, k: usize, arg: &Object<'_>) -> PyResult<Vec<Real>> {
    if kernel.input_sizes.get(k) == Some(&1) {
        if let Ok(value) = arg.extract::<Real>() {
            return Ok(vec![value]);
        }
    }
    arg.extract::<Vec<Real>>().map_err(|_| {
        let name = kernel.input_names.get(k).copied().unwrap_or("?");
        PyTypeError::new_err(format!(
            "input {name:?} of {} must be a number or a sequence of numbers",
            kernel.name
        ))
    })
}

/// Runs `kernel` on `inputs` with the workspace `work`; its outputs in order.
fn run(kernel: &Kernel, inputs: &[Vec<Real>], work: &mut [Real]) -> PyResult<Vec<Vec<Real>>> {
    let mut outputs: Vec<Vec<Real>> = kernel.output_sizes.iter().map(|&n| vec![0.0; n]).collect();
    match (kernel.run)(inputs, &mut outputs, work) {
        Ok(()) => Ok(outputs),
        Err(Failure::Kernel(error)) => {
            Err(GradgenError::new_err(format!("{}: {error}", kernel.name)))
        }
        Err(Failure::Arity) => Err(GradgenError::new_err(format!(
            "{}: the wrapper passed the wrong number of slices",
            kernel.name
        ))),
    }
}

/// Calls `kernel` with the Python arguments `args` (its inputs, then optionally a workspace).
fn invoke<'py>(py: Python<'py>, kernel: &Kernel, args: &[Object<'py>]) -> PyResult<Dict<'py>> {
    let count = kernel.input_names.len();
    if args.len() != count && args.len() != count + 1 {
        return Err(PyTypeError::new_err(format!(
            "{}() takes {count} input(s) ({}) and an optional workspace, got {} argument(s)",
            kernel.name,
            kernel.input_names.join(", "),
            args.len()
        )));
    }
    let mut inputs = Vec::with_capacity(count);
    for (k, arg) in args.iter().take(count).enumerate() {
        inputs.push(input_values(kernel, k, arg)?);
    }
    let outputs = match args.get(count) {
        None => run(kernel, &inputs, &mut vec![0.0; kernel.workspace_size])?,
        Some(arg) => {
            let mut workspace: PyRefMut<'_, Workspace> = arg.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "the last argument of {}() must be workspace_for_function({:?})",
                    kernel.name, kernel.name
                ))
            })?;
            if workspace.function != kernel.rust_name {
                return Err(GradgenError::new_err(format!(
                    "{}() was given the workspace of {}",
                    kernel.name, workspace.function
                )));
            }
            run(kernel, &inputs, &mut workspace.values)?
        }
    };
    let result = PyDict::new(py);
    let named = kernel.output_names.iter().zip(kernel.output_scalar);
    for ((name, scalar), values) in named.zip(outputs) {
        match (scalar, values.first()) {
            (true, Some(value)) => result.set_item(*name, *value)?,
            _ => result.set_item(*name, values)?,
        }
    }
    Ok(result)
}

/// The Python names of the generated functions, in the order of the crate.
#[pyfunction]
fn all_functions() -> Vec<&'static str> {
    KERNELS.iter().map(|k| k.name).collect()
}

/// Names and sizes of a generated function (by its Python or Rust name).
#[pyfunction]
fn function_info(py: Python<'_>, name: String) -> PyResult<Dict<'_>> {
    let kernel = find(&name)?;
    let info = PyDict::new(py);
    info.set_item("name", kernel.name)?;
    info.set_item("rust_name", kernel.rust_name)?;
    info.set_item("workspace_size", kernel.workspace_size)?;
    info.set_item("input_names", kernel.input_names.to_vec())?;
    info.set_item("input_sizes", kernel.input_sizes.to_vec())?;
    info.set_item("input_scalar", kernel.input_scalar.to_vec())?;
    info.set_item("output_names", kernel.output_names.to_vec())?;
    info.set_item("output_sizes", kernel.output_sizes.to_vec())?;
    info.set_item("output_scalar", kernel.output_scalar.to_vec())?;
    Ok(info)
}

/// A workspace for the generated function `name`, to pass as its last argument.
#[pyfunction]
fn workspace_for_function(name: String) -> PyResult<Workspace> {
    let kernel = find(&name)?;
    Ok(Workspace {
        function: kernel.rust_name,
        values: vec![0.0; kernel.workspace_size],
    })
}

/// `call(name, *inputs)`: calls the generated function `name` (its Python or Rust name).
VARARGS
#[pyo3(text_signature = "(name, *inputs)")]
fn call<'py>(py: Python<'py>, args: ARGS) -> PyResult<Dict<'py>> {
    let args: Vec<Object<'py>> = args.iter().collect();
    let Some((name, rest)) = args.split_first() else {
        return Err(PyTypeError::new_err(
            "call() takes the name of a generated function, then its arguments",
        ));
    };
    let name: String = name.extract()?;
    invoke(py, find(&name)?, rest)
}
"""

_MODULE_BODY = """m.add("__version__", env!("CARGO_PKG_VERSION"))?;
m.add("GradgenError", py.get_type::<GradgenError>())?;
m.add_class::<Workspace>()?;
m.add_function(wrap_pyfunction!(all_functions, m)?)?;
m.add_function(wrap_pyfunction!(function_info, m)?)?;
m.add_function(wrap_pyfunction!(workspace_for_function, m)?)?;
m.add_function(wrap_pyfunction!(call, m)?)?;"""


def render_python_lib(
    crate: str, module: str, functions: Sequence[PythonFunction], scalar: str, dialect: Pyo3Dialect
) -> str:
    """``src/lib.rs`` of the wrapper crate of ``crate`` (rustfmt layout)."""
    e = Emitter()
    e.block(_HEAD.replace("CRATE", crate).replace("SCALAR", scalar).replace("MODULE", module))
    module_item = f"module = {json.dumps(module)}"
    e.line()
    for alias in dialect.aliases:
        e.block(alias)
        e.line()
    core = _CORE.replace('#[pyclass(module = "MODULE")]', attribute("pyclass", module_item))
    core = core.replace("MODULE", module).replace("VARARGS", "\n".join(dialect.varargs))
    e.block(core.replace("ARGS", dialect.args_type).strip("\n"))
    e.line()
    for index, f in enumerate(functions):
        _kernel_entry(e, index, f)
        e.line()
    e.line("/// Every generated function of the crate, in order.")
    emit_array(
        e, f"static KERNELS: [&Kernel; {len(functions)}] = ", [f"&KERNEL_{i}" for i in range(len(functions))]
    )
    for index, f in enumerate(functions):
        e.line()
        _adapter(e, index, f, scalar)
    for index, f in enumerate(functions):
        e.line()
        _python_function(e, index, f, dialect)
    e.line()
    e.line(f"/// The Python module `{module}`: the generated functions of `{crate}`.")
    for line in dialect.module_header:
        if line == MODULE_NAME:
            e.block(attribute("pyo3", f"name = {json.dumps(module)}"))
        else:
            e.line(line.replace("MODULE", module))
    for line in _MODULE_BODY.split("\n"):
        e.line(line)
    for index in range(len(functions)):
        e.line(f"m.add_function(wrap_pyfunction!(kernel_{index}, m)?)?;")
    e.line("Ok(())")
    e.line("}")
    return e.getvalue()


def _toml(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def python_cargo_toml(crate: str, dependency_path: str, version: str, pyo3_version: str) -> str:
    dialect = pyo3_dialect(pyo3_version)
    features = '\nfeatures = ["extension-module"]' if dialect.extension_module else ""
    # pyo3 before 0.21 expands to a cfg newer compilers do not know (a warning, not an error)
    lints = (
        '\n[lints.rust]\nunexpected_cfgs = { level = "warn", check-cfg = ["cfg(addr_of)"] }\n'
        if dialect.name == "gil-refs"
        else ""
    )
    return (
        f'[package]\nname = "{crate}_python"\nversion = "{version}"\nedition = "2021"\n'
        f'description = "Python bindings (PyO3) of the generated crate {crate}"\n\n'
        '[lib]\npath = "src/lib.rs"\ncrate-type = ["cdylib", "rlib"]\n\n'
        f"[dependencies]\n{crate} = {{ path = {_toml(dependency_path)} }}\n\n"
        f"[dependencies.pyo3]\nversion = {_toml(pyo3_version)}{features}\n{lints}"
    )


def python_pyproject(crate: str, module: str, version: str, pyo3_version: str) -> str:
    # maturin sets PYO3_BUILD_EXTENSION_MODULE (needed from pyo3 0.28 on) since 1.9.4
    maturin = "maturin>=1.0,<2.0" if pyo3_dialect(pyo3_version).extension_module else "maturin>=1.9.4,<2.0"
    return (
        f'[build-system]\nrequires = ["{maturin}"]\nbuild-backend = "maturin"\n\n'
        f'[project]\nname = "{crate}_python"\nversion = "{version}"\n'
        f'description = "Python bindings (PyO3) of the generated crate {crate}"\n'
        'requires-python = ">=3.8"\n\n'
        f'[tool.maturin]\nmodule-name = "{module}"\n'
    )


def python_readme(crate: str, module: str, functions: Sequence[PythonFunction], pyo3_version: str) -> str:
    lines = "\n".join(
        f"- `{f.python_name}{_text_signature(f.signature)}` -> dict of "
        + (", ".join(f"`{a.name}`" for a in f.signature.outputs) or "nothing")
        + f" (Rust: `{f.signature.function_name}`)"
        for f in functions
    )
    return (
        f"# {crate}_python\n\n"
        f"Python bindings (PyO3 {pyo3_version}) of the generated crate `{crate}`, generated by gradgen.\n"
        f"The extension module is `{module}`. Do not edit `src/lib.rs` by hand; regenerate it.\n\n"
        "Install it into the active Python environment with maturin:\n\n"
        "```sh\npip install .          # or: maturin develop\n```\n\n"
        "or build it with `cargo build --release` and copy `target/release/lib"
        f"{crate}_python.so` to\n`{module}.so` (`.pyd` on Windows) next to your script.\n\n"
        "Functions (inputs in order, then an optional workspace):\n\n"
        f"{lines}\n\n"
        "Also `all_functions()`, `function_info(name)`, `workspace_for_function(name)`,\n"
        "`call(name, *inputs)` and `__version__`. A wrong input length raises\n"
        f"`{module}.GradgenError` (a `ValueError`).\n"
    )


def python_crate_files(
    crate: str,
    module: str,
    dependency_path: str,
    functions: Sequence[PythonFunction],
    scalar: str,
    pyo3_version: str,
    version: str,
) -> dict[str, str]:
    """The files (relative path -> text) of the wrapper crate ``<crate>_python`` of the generated
    crate ``crate`` found at ``dependency_path`` (relative to the wrapper)."""
    check_module(module, functions)
    dialect = pyo3_dialect(pyo3_version)
    return {
        "Cargo.toml": python_cargo_toml(crate, dependency_path, version, pyo3_version),
        "pyproject.toml": python_pyproject(crate, module, version, pyo3_version),
        "README.md": python_readme(crate, module, functions, pyo3_version),
        "src/lib.rs": render_python_lib(crate, module, functions, scalar, dialect),
    }
