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
from gradgen.backends.rust import RustGenerationResult, emit_module, generation_result
from gradgen.backends.writes import write_project
from gradgen.config import RustBackendConfig
from gradgen.errors import ConfigError
from gradgen.ir.nogc import paused_gc

from .pipeline import compile_kernel as compile_kernel  # re-exported for callers of codegen

if TYPE_CHECKING:  # pragma: no cover
    from .function import Function


@attrs.frozen
class RustProjectResult:
    """A crate written to disk."""

    project_dir: pathlib.Path
    crate_name: str
    source: str = attrs.field(repr=False)
    generation: RustGenerationResult = attrs.field(repr=False)

    @property
    def function_name(self) -> str:
        return self.generation.function_name


@paused_gc()
def generate_rust(f: Function, config: RustBackendConfig | None = None) -> RustGenerationResult:
    """Generate the Rust module of ``f`` in memory (see ``RustBackendConfig`` for the options)."""
    config = config or RustBackendConfig()
    if not isinstance(config, RustBackendConfig):
        raise ConfigError(f"config must be a RustBackendConfig, got {type(config).__name__}")
    kernel = compile_kernel(f.kernel, config, config.function_name)
    return generation_result(kernel, emit_module([kernel], config), config)


def create_rust_project(
    f: Function,
    path: str | os.PathLike[str],
    crate_name: str | None = None,
    function_name: str | None = None,
    config: RustBackendConfig | None = None,
    overwrite: bool = False,
) -> RustProjectResult:
    """Write a Cargo project for ``f`` at ``path``: ``Cargo.toml``, ``README.md``, ``src/lib.rs``.

    The crate name is ``crate_name``, else ``config.crate_name``, else the sanitized directory
    name; ``function_name`` overrides ``config.function_name``. Every name is validated before
    any file is written. A ``path`` holding files gradgen did not generate is refused with a
    ``ProjectWriteError`` unless ``overwrite=True``; a crate gradgen generated there before is
    replaced atomically and the user's own files in it (``tests/``, ``benches/``, ...) are kept.
    """
    project = plan_rust_project(f, path, crate_name, function_name, config)
    write_rust_project(project, overwrite)
    return project


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
    return RustProjectResult(
        project_dir=project_dir, crate_name=name, source=result.source, generation=result
    )


def write_rust_project(project: RustProjectResult, overwrite: bool = False) -> None:
    """Write a planned crate (see :func:`plan_rust_project`); its ``Cargo.toml`` also describes
    the function for ``gradgen.compile``."""
    result = project.generation
    files = crate_files(
        project.crate_name,
        result.source,
        [result.signature],
        result.config,
        ffi=False,
        metadata_file=False,
    )
    write_project(project.project_dir, files, overwrite=overwrite)
