"""Rust code generation entry points: ``generate_rust`` and ``create_rust_project``.

The compiler work happens in ``passes`` (simplification pipeline, scheduling, allocation,
``SanitizePass``) and ``backends`` (printing, crate files and writing); this module only wires
them. Python's cyclic garbage collector is paused while a module is generated (see
:mod:`ir.nogc`).
"""

from __future__ import annotations

import os
import pathlib
from typing import TYPE_CHECKING

import attrs

from gradgen.backends.crate import crate_files, resolve_crate_name
from gradgen.backends.paths import user_path
from gradgen.backends.rust_module import RustGenerationResult, emit_module, generation_result
from gradgen.backends.writes import plan_write, write_project
from gradgen.config import RustBackendConfig
from gradgen.errors import ConfigError, GradgenTypeError
from gradgen.ir.kernel import Kernel
from gradgen.ir.nogc import paused_gc

from .cargo_build import cargo_build
from .pipeline import compile_kernel as compile_kernel  # re-exported for callers of codegen
from .python_interface import (
    RustPythonInterfaceProjectResult,
    built_python_interface,
    check_python_interface,
    plan_python_interface,
    write_python_interface,
)

if TYPE_CHECKING:  # pragma: no cover
    from .function import Function


@attrs.frozen
class RustProjectResult:
    """A crate written to disk."""

    project_dir: pathlib.Path
    crate_name: str
    source: str = attrs.field(repr=False)
    generation: RustGenerationResult = attrs.field(repr=False)
    #: the PyO3 extension crate written beside it (``with_enable_python_interface()``)
    python_interface: RustPythonInterfaceProjectResult | None = attrs.field(default=None, repr=False)

    @property
    def function_name(self) -> str:
        return self.generation.function_name


def with_overrides(
    config: RustBackendConfig | None,
    function_name: str | None = None,
    backend_mode: str | None = None,
    scalar_type: str | None = None,
    math_library: str | None = None,
) -> RustBackendConfig:
    """``config`` (default: a default config) with the keyword options of gradgen 0.5.2's
    ``generate_rust`` / ``create_rust_project`` applied (``math_library`` may only name the
    library the backend mode implies: ``libm`` for ``no_std``)."""
    config = config or RustBackendConfig()
    if not isinstance(config, RustBackendConfig):
        raise ConfigError(f"config must be a RustBackendConfig, got {type(config).__name__}")
    if function_name is not None:
        config = config.with_function_name(function_name)
    if backend_mode is not None:
        config = config.with_backend_mode(backend_mode)
    if scalar_type is not None:
        config = config.with_scalar_type(scalar_type)
    if math_library is not None and math_library != "libm":
        raise ConfigError(
            f"math_library {math_library!r} is not supported: no_std crates use libm, std crates the "
            "standard library (give backend_mode='no_std' for libm)"
        )
    return config


@paused_gc()
def generate_rust(
    f: Function,
    config: RustBackendConfig | None = None,
    *,
    function_name: str | None = None,
    backend_mode: str | None = None,
    scalar_type: str | None = None,
    math_library: str | None = None,
) -> RustGenerationResult:
    """Generate the Rust module of ``f`` in memory (see ``RustBackendConfig`` for the options;
    the keyword options override the config's, as in gradgen 0.5.2)."""
    if not isinstance(getattr(f, "kernel", None), Kernel):
        raise GradgenTypeError(
            f"generate_rust expects a gradgen Function, got {type(f).__name__}; for several kernels "
            "use CodeGenerationBuilder or create_multi_function_rust_project"
        )
    config = with_overrides(config, function_name, backend_mode, scalar_type, math_library)
    kernel = compile_kernel(f.kernel, config, config.function_name)
    return generation_result(kernel, emit_module([kernel], config), config)


def create_rust_project(
    f: Function,
    path: str | os.PathLike[str],
    crate_name: str | None = None,
    function_name: str | None = None,
    config: RustBackendConfig | None = None,
    overwrite: bool = False,
    *,
    backend_mode: str | None = None,
    scalar_type: str | None = None,
    math_library: str | None = None,
) -> RustProjectResult:
    """Write a Cargo project for ``f`` at ``path``: ``Cargo.toml``, ``README.md``,
    ``metadata.json``, ``src/lib.rs``.

    The crate name is ``crate_name``, else ``config.crate_name``, else the sanitized directory
    name; ``function_name`` overrides ``config.function_name``. Every name is validated before
    any file is written. A ``path`` holding files gradgen did not generate is refused with a
    ``ProjectWriteError`` unless ``overwrite=True``; a crate gradgen generated there before is
    updated in place, all or nothing, and the user's own files in it (``tests/``, ``benches/``, ...) are kept.
    """
    config = with_overrides(config, None, backend_mode, scalar_type, math_library)
    project = plan_rust_project(f, path, crate_name, function_name, config)
    return write_rust_project(project, overwrite)


def plan_rust_project(
    f: Function,
    path: str | os.PathLike[str],
    crate_name: str | None = None,
    function_name: str | None = None,
    config: RustBackendConfig | None = None,
) -> RustProjectResult:
    """Everything :func:`create_rust_project` checks and generates, with nothing written (so
    several crates can all be validated before the first one is written)."""
    config = config or RustBackendConfig()
    if function_name is not None:
        config = config.with_function_name(function_name)
    if crate_name is not None:
        config = config.with_crate_name(crate_name)
    project_dir = user_path(path, "the project path")
    name = resolve_crate_name(config.crate_name, project_dir)
    result = generate_rust(f, config)
    interface = None
    if config.enable_python_interface:
        interface = plan_python_interface(
            project_dir, name, [(result.signature.function_name, result.signature)], config
        )
    return RustProjectResult(
        project_dir=project_dir,
        crate_name=name,
        source=result.source,
        generation=result,
        python_interface=interface,
    )


def write_rust_project(project: RustProjectResult, overwrite: bool = False) -> RustProjectResult:
    """Write a planned crate (see :func:`plan_rust_project`) with its ``metadata.json``; its
    ``Cargo.toml`` also describes the function for ``gradgen.compile``. A planned Python interface
    is checked with the crate, written after it and built when its config asks; the result
    records it."""
    result = project.generation
    files = crate_files(
        project.crate_name,
        result.source,
        [result.signature],
        result.config,
        ffi=False,
        metadata_file=True,
        embed_in_manifest=True,
        kernels=[result.kernel],
    )
    interface = project.python_interface
    if interface is not None:  # both crates checked before either is written
        plan_write(project.project_dir, list(files), overwrite)
        check_python_interface(interface, overwrite)
    write_project(project.project_dir, files, overwrite=overwrite)
    if interface is not None:
        write_python_interface(interface, overwrite)
    config = result.config
    if isinstance(config, RustBackendConfig) and config.build_crate:
        cargo_build(project.project_dir, config.build_profile)
    if interface is not None and isinstance(config, RustBackendConfig):
        project = attrs.evolve(project, python_interface=built_python_interface(interface, config))
    return project
