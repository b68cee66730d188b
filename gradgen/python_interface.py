"""The Python interface of a written crate: the PyO3 extension crate ``<crate>_python``.

With ``RustBackendConfig().with_enable_python_interface()``, every crate written by
``create_rust_project``, ``CodeGenerationBuilder.build``, ``create_multi_function_rust_project``
and ``create_rust_derivative_bundle`` gets a sibling directory ``<crate name>_python`` holding the
wrapper crate of :mod:`backends.rust_python` (it depends on the crate by relative path), written
through :func:`backends.writes.write_project` like the crate itself: regenerating updates it in
place, keeps the user's files (``Cargo.lock``, ``target/``) and bumps its minor version, so a
reinstalled package is seen as new. Names and paths are checked before any file of either crate is
written. With ``build_python_interface`` (0.5.2's default: on) it is then built with ``cargo
build``; the result records the shared library, which Python imports once copied or linked as
``<module>.so`` (see GUIDE.md). ``gradgen.compile`` needs none of this.

Python names: a crate of ``create_rust_project`` exports its function under its Rust name; a
builder crate exports each function under its Rust name without the ``<crate>_`` prefix, and a
primal without its ``_f`` suffix (gradgen 0.5.2's names: ``energy``, ``energy_grad_x``);
``call`` and ``function_info`` accept both names.
"""

from __future__ import annotations

import os
import pathlib
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence

import attrs

from gradgen.backends.rust_python import PythonFunction, python_crate_files
from gradgen.backends.signature import FunctionSignature
from gradgen.backends.writes import MANIFEST, plan_write, read_marker, write_project
from gradgen.errors import ProjectWriteError

from .cargo_build import cargo_build_library
from .config import RustBackendConfig

#: suffix of the directory and package name of the wrapper crate
SUFFIX = "_python"
FIRST_VERSION = "0.1.0"
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@attrs.frozen
class RustPythonInterfaceProjectResult:
    """The Python extension crate of a generated crate (gradgen 0.5.2's result record)."""

    project_dir: pathlib.Path
    #: the name ``import`` uses (the generated crate's name)
    module_name: str
    low_level_crate_name: str
    #: the package version (``__version__`` of the module), bumped on each regeneration
    version: str
    pyo3_version: str
    #: the Python names of the generated functions, in order
    function_names: tuple[str, ...]
    files: Mapping[str, str] = attrs.field(repr=False)
    #: the shared library cargo built (``None`` until built)
    library: pathlib.Path | None = None

    @property
    def cargo_toml(self) -> pathlib.Path:
        return self.project_dir / "Cargo.toml"

    @property
    def pyproject(self) -> pathlib.Path:
        return self.project_dir / "pyproject.toml"

    @property
    def readme(self) -> pathlib.Path:
        return self.project_dir / "README.md"

    @property
    def lib_rs(self) -> pathlib.Path:
        return self.project_dir / "src" / "lib.rs"


def builder_python_name(crate_name: str, rust_name: str, kind: str) -> str:
    """gradgen 0.5.2's Python name of a builder function: without the ``<crate>_`` prefix (and a
    primal without its ``_f``); the Rust name when that would not be an identifier."""
    prefix = crate_name.strip("_") + "_"
    name = rust_name.removeprefix(prefix)
    if kind == "primal":
        name = name.removesuffix("_f")
    return name if name.isidentifier() and not name[:1].isdigit() else rust_name


def _next_version(directory: pathlib.Path) -> str:
    """The version of a wrapper (re)written at ``directory``: the first one, or the minor version
    after the one gradgen wrote there last."""
    if not directory.is_dir() or read_marker(directory) is None:
        return FIRST_VERSION
    try:
        version = tomllib.loads((directory / MANIFEST).read_text())["package"]["version"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return FIRST_VERSION
    m = _SEMVER.fullmatch(version) if isinstance(version, str) else None
    return f"{m.group(1)}.{int(m.group(2)) + 1}.0" if m else FIRST_VERSION


def plan_python_interface(
    crate_dir: pathlib.Path,
    crate_name: str,
    functions: Sequence[tuple[str, FunctionSignature]],
    config: RustBackendConfig,
) -> RustPythonInterfaceProjectResult:
    """The wrapper crate of the crate ``crate_name`` written at ``crate_dir``, whose functions are
    ``(Python name, signature)`` pairs; names are checked, nothing is written."""
    crate_dir = crate_dir.absolute()
    project_dir = crate_dir.parent / f"{crate_name}{SUFFIX}"
    if project_dir == crate_dir:
        raise ProjectWriteError(
            f"the Python interface of the crate {crate_name!r} would be written into the crate's own "
            f"directory {str(crate_dir)!r}; name the crate after its directory or choose another one"
        )
    version = _next_version(project_dir)
    dependency = pathlib.Path(os.path.relpath(crate_dir, project_dir)).as_posix()
    wrapped = [PythonFunction(name, signature) for name, signature in functions]
    files = python_crate_files(
        crate_name, crate_name, dependency, wrapped, config.scalar_type, config.pyo3_version, version
    )
    return RustPythonInterfaceProjectResult(
        project_dir=project_dir,
        module_name=crate_name,
        low_level_crate_name=crate_name,
        version=version,
        pyo3_version=config.pyo3_version,
        function_names=tuple(f.python_name for f in wrapped),
        files=files,
    )


def check_python_interface(interface: RustPythonInterfaceProjectResult, overwrite: bool = False) -> None:
    """Every check of writing ``interface`` (see :func:`backends.writes.plan_write`), nothing written."""
    plan_write(interface.project_dir, list(interface.files), overwrite)


def write_python_interface(interface: RustPythonInterfaceProjectResult, overwrite: bool = False) -> None:
    """Write the wrapper crate (all or nothing, see :func:`backends.writes.write_project`)."""
    write_project(interface.project_dir, interface.files, overwrite=overwrite)


def built_python_interface(
    interface: RustPythonInterfaceProjectResult, config: RustBackendConfig
) -> RustPythonInterfaceProjectResult:
    """``interface`` built with ``config.build_profile`` when ``config.build_python_interface``
    (see :func:`build_python_interface`), else as it is."""
    if not config.build_python_interface:
        return interface
    return build_python_interface(interface, config.build_profile)


def build_python_interface(
    interface: RustPythonInterfaceProjectResult,
    profile: str = "release",
    env: Mapping[str, str] | None = None,
) -> RustPythonInterfaceProjectResult:
    """``cargo build`` the wrapper for this Python interpreter (``PYO3_PYTHON``, unless ``env``
    sets it) as an extension module; the record with ``library`` set. Raises ``BuildError``."""
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("PYO3_PYTHON", sys.executable)
    run_env.setdefault("PYO3_BUILD_EXTENSION_MODULE", "1")
    package = interface.low_level_crate_name + SUFFIX
    library = cargo_build_library(interface.project_dir, package, profile, run_env)
    return attrs.evolve(interface, library=library)
