"""``RustTargetOptions``: the immutable, validated options of the Rust backend."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Self

import attrs

from gradgen.ir.errors import ConfigError

from .errors import InvalidNameError
from .names import validate_explicit
from .rust_custom import check_template
from .scalars import F64, SCALAR_TYPES, ScalarType, scalar_type

BACKEND_MODES: tuple[str, ...] = ("std", "no_std")

__all__ = ["BACKEND_MODES", "SCALAR_TYPES", "RustTargetOptions"]


def _check_mode(_: object, __: object, value: object) -> None:
    if value not in BACKEND_MODES:
        raise ConfigError(f"unknown backend mode {value!r}; use one of {', '.join(BACKEND_MODES)}")


def _check_scalar(_: object, __: object, value: object) -> None:
    scalar_type(value)


def _check_function_name(_: object, __: object, value: str | None) -> None:
    if value is not None:
        validate_explicit("function name", value)


def _check_crate_name(_: object, __: object, value: str | None) -> None:
    if value is not None:
        validate_explicit("crate name", value)


#: a cargo package name as ``Cargo.toml`` accepts it in ``[dependencies]``
CARGO_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
#: a version requirement: cargo's operators, digits, letters, dots, commas, spaces, wildcards
CARGO_VERSION = re.compile(r"[A-Za-z0-9_.*^~<>=, +-]+")


def _header(value: object) -> str | None:
    if value is None:
        return None
    return check_template("the crate header", value)


def _dependencies(value: object) -> tuple[tuple[str, str | None], ...]:
    """``[(name, version or None), ...]`` checked: cargo names, plain version requirements, no
    name twice."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"additional dependencies must be a list of (name, version) pairs, got {value!r}")
    deps: list[tuple[str, str | None]] = []
    for item in value:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ConfigError(f"a dependency must be a (name, version or None) pair, got {item!r}")
        name, version = item
        if not isinstance(name, str) or not CARGO_NAME.fullmatch(name):
            raise InvalidNameError(
                f"dependency name {name!r} is not a cargo package name "
                "(it must match [A-Za-z0-9_][A-Za-z0-9_-]*)"
            )
        if version is not None and (
            not isinstance(version, str) or not CARGO_VERSION.fullmatch(version) or not version.strip()
        ):
            raise ConfigError(f"dependency {name!r}: version {version!r} is not a cargo version requirement")
        if any(name.replace("-", "_") == d.replace("-", "_") for d, _ in deps):
            raise ConfigError(f"dependency {name!r} is listed twice")
        deps.append((name, version))
    return tuple(deps)


def _check_self_tests(_: object, __: object, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"self_tests must be True or False, got {value!r}")


@attrs.frozen
class RustTargetOptions:
    """What the Rust backend needs to know; every ``with_*`` method returns a new, validated copy.

    ``backend_mode`` is ``"std"`` or ``"no_std"`` (``no_std`` crates use ``libm``),
    ``scalar_type`` is ``"f64"`` or ``"f32"``, ``function_name`` and ``crate_name`` are explicit
    Rust identifiers (validated strictly; ``None`` derives them from the function or directory
    name), ``header`` is Rust code placed after the crate attributes,
    ``additional_dependencies`` extra cargo dependencies, and ``emit_metadata_helpers`` adds a
    ``<function>_meta()`` function per kernel.
    ``self_tests`` (default ``True``) gives every crate written to disk a
    ``tests/reference.rs`` that ``cargo test`` runs (see ``backends.self_tests``).
    """

    backend_mode: str = attrs.field(default="std", validator=_check_mode)
    scalar_type: str = attrs.field(default=F64.name, validator=_check_scalar)
    function_name: str | None = attrs.field(default=None, validator=_check_function_name)
    crate_name: str | None = attrs.field(default=None, validator=_check_crate_name)
    #: Rust text inserted after the crate attributes (placeholders of ``backends.rust_custom``)
    header: str | None = attrs.field(default=None, converter=_header)
    #: extra ``[dependencies]`` of the generated ``Cargo.toml``: (name, version or ``None`` = "*")
    additional_dependencies: tuple[tuple[str, str | None], ...] = attrs.field(
        default=(), converter=_dependencies
    )
    #: emit the ``FunctionMetadata`` struct and one ``<function>_meta()`` per function
    emit_metadata_helpers: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    #: written crates get ``tests/reference.rs`` (``backends.self_tests``), run by ``cargo test``
    self_tests: bool = attrs.field(default=True, validator=_check_self_tests, kw_only=True)

    def with_backend_mode(self, mode: str) -> Self:
        return attrs.evolve(self, backend_mode=mode)

    def with_scalar_type(self, scalar_type: str) -> Self:
        return attrs.evolve(self, scalar_type=scalar_type)

    def with_function_name(self, name: str | None) -> Self:
        return attrs.evolve(self, function_name=name)

    def with_crate_name(self, name: str | None) -> Self:
        return attrs.evolve(self, crate_name=name)

    def with_header(self, header: str | None) -> Self:
        return attrs.evolve(self, header=header)

    def with_additional_dependencies(self, dependencies: Iterable[tuple[str, str | None]]) -> Self:
        return attrs.evolve(self, additional_dependencies=dependencies)

    def with_emit_metadata_helpers(self, emit: bool = True) -> Self:
        if not isinstance(emit, bool):
            raise ConfigError(f"emit_metadata_helpers must be True or False, got {emit!r}")
        return attrs.evolve(self, emit_metadata_helpers=emit)

    def with_self_tests(self, enabled: bool = True) -> Self:
        """Whether a written crate gets its self-tests (``tests/reference.rs``, default on)."""
        return attrs.evolve(self, self_tests=enabled)

    @property
    def no_std(self) -> bool:
        return self.backend_mode == "no_std"

    @property
    def scalar(self) -> ScalarType:
        return scalar_type(self.scalar_type)
