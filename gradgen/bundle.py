"""``create_rust_derivative_bundle``: one crate per derivative of a Function, in one directory."""

from __future__ import annotations

import os
import pathlib

import attrs

from gradgen.backends.crate import resolve_crate_name
from gradgen.backends.names import sanitize
from gradgen.backends.paths import user_path
from gradgen.config import RustBackendConfig
from gradgen.errors import ConfigError, DifferentiationError, GradgenTypeError, ProjectWriteError

from .codegen import RustProjectResult, plan_rust_project, write_rust_project
from .function import Function


@attrs.frozen
class DerivativeBundle:
    """The crates written by :func:`create_rust_derivative_bundle`, keyed by directory name."""

    bundle_dir: pathlib.Path
    crates: dict[str, RustProjectResult] = attrs.field(repr=False)

    @property
    def crate_dirs(self) -> list[pathlib.Path]:
        return [self.bundle_dir / name for name in self.crates]


def bundle_functions(
    f: Function, primal: bool = True, jacobians: bool = True, hessians: bool = True
) -> dict[str, Function]:
    """Directory name -> Function: ``primal``, ``<f>_jacobian_<in>`` for every input and, when
    ``f`` has one scalar output, ``<f>_hessian_<in>`` for every input (each family only when
    its flag is set)."""
    funcs: dict[str, Function] = {"primal": f} if primal else {}
    derived = [f.jacobian(w) for w in range(len(f.input_names))] if jacobians else []
    if hessians and len(f.output_names) == 1 and f.output_sizes[0] == 1:
        derived += [f.hessian(w) for w in range(len(f.input_names))]
    for d in derived:
        key = sanitize(d.name)
        if key in funcs:
            raise DifferentiationError(
                f"derivative crates {d.name!r} and {funcs[key].name!r} of {f.name!r} would share the "
                f"directory {key!r}; rename the inputs of {f.name!r}"
            )
        funcs[key] = d
    return funcs


def create_rust_derivative_bundle(
    f: Function,
    path: str | os.PathLike[str],
    simplify_derivatives: str | int | None = None,
    config: RustBackendConfig | None = None,
    *,
    include_primal: bool = True,
    include_jacobians: bool = True,
    include_hessians: bool = True,
) -> DerivativeBundle:
    """Write crates ``primal/``, ``<f>_jacobian_<in>/`` for every input and, for a function with
    one scalar output, ``<f>_hessian_<in>/`` into the directory ``path``.

    ``config`` (a ``RustBackendConfig``) applies to every crate; ``simplify_derivatives``, when
    given, is the simplification level of the derivative crates (the primal keeps the level of
    ``config``). Each crate is named after its directory (the primal after the function's name)
    by the rule of ``backends.crate.crate_name``. Every name, level and the generated code are
    checked before anything is written.
    """
    if not isinstance(f, Function):
        raise GradgenTypeError(f"expected a gradgen Function, got {type(f).__name__}")
    config = config or RustBackendConfig()
    if not isinstance(config, RustBackendConfig):
        raise ConfigError(f"config must be a RustBackendConfig, got {type(config).__name__}")
    derived_config = (
        config if simplify_derivatives is None else config.with_simplification(simplify_derivatives)
    )
    root = user_path(path, "the bundle path")
    if root.exists() and not root.is_dir():
        raise ProjectWriteError(f"cannot create a derivative bundle at {str(root)!r}: it is a file")
    crates = {}
    for flag, value in (
        ("include_primal", include_primal),
        ("include_jacobians", include_jacobians),
        ("include_hessians", include_hessians),
    ):
        if not isinstance(value, bool):
            raise ConfigError(f"{flag} must be True or False, got {value!r}")
    for directory, fn in bundle_functions(f, include_primal, include_jacobians, include_hessians).items():
        primal = directory == "primal"
        name = resolve_crate_name(None, f.name if primal else root / directory)
        cfg = config if primal else derived_config
        # generated and checked (names, levels) for every crate before the first one is written
        crates[directory] = plan_rust_project(fn, root / directory, crate_name=name, config=cfg)
    directories = {(root / d).absolute(): d for d in crates}
    for directory, project in crates.items():
        interface = project.python_interface
        if interface is not None and interface.project_dir in directories:
            raise ProjectWriteError(
                f"the Python interface of the crate {directory!r} would be written into the directory "
                f"of the crate {directories[interface.project_dir]!r}; rename the inputs of {f.name!r}"
            )
        if interface is not None:
            directories[interface.project_dir] = directory
    written = {directory: write_rust_project(project) for directory, project in crates.items()}
    return DerivativeBundle(root, written)
