"""``RustBackendConfig``: the immutable, validated options of the Rust backend."""

from __future__ import annotations

import attrs

from gradgen.backends.names import validate_explicit
from gradgen.ir.errors import ConfigError
from gradgen.passes.pipelines import level_index

BACKEND_MODES: tuple[str, ...] = ("std", "no_std")
SCALAR_TYPES: tuple[str, ...] = ("f64", "f32")


def _check_mode(_: object, __: object, value: object) -> None:
    if value not in BACKEND_MODES:
        raise ConfigError(f"unknown backend mode {value!r}; use one of {', '.join(BACKEND_MODES)}")


def _check_scalar(_: object, __: object, value: object) -> None:
    if value not in SCALAR_TYPES:
        raise ConfigError(f"unknown scalar type {value!r}; use one of {', '.join(SCALAR_TYPES)}")


def _check_function_name(_: object, __: object, value: str | None) -> None:
    if value is not None:
        validate_explicit("function name", value)


def _check_crate_name(_: object, __: object, value: str | None) -> None:
    if value is not None:
        validate_explicit("crate name", value)


def _check_level(_: object, __: object, value: object) -> None:
    level_index(value)  # type: ignore[arg-type]


@attrs.frozen
class RustBackendConfig:
    """Options of the Rust backend; every ``with_*`` method returns a new, validated config.

    ``backend_mode`` is ``"std"`` or ``"no_std"`` (``no_std`` crates use ``libm``),
    ``scalar_type`` is ``"f64"`` or ``"f32"``, ``function_name`` and ``crate_name`` are explicit
    Rust identifiers (validated strictly; ``None`` derives them from the function or directory
    name), ``simplification`` is a level ``"none" .. "max"`` or ``0 .. 4``.
    """

    backend_mode: str = attrs.field(default="std", validator=_check_mode)
    scalar_type: str = attrs.field(default="f64", validator=_check_scalar)
    function_name: str | None = attrs.field(default=None, validator=_check_function_name)
    crate_name: str | None = attrs.field(default=None, validator=_check_crate_name)
    simplification: str | int = attrs.field(default="basic", validator=_check_level)

    def with_backend_mode(self, mode: str) -> RustBackendConfig:
        return attrs.evolve(self, backend_mode=mode)

    def with_scalar_type(self, scalar_type: str) -> RustBackendConfig:
        return attrs.evolve(self, scalar_type=scalar_type)

    def with_function_name(self, name: str | None) -> RustBackendConfig:
        return attrs.evolve(self, function_name=name)

    def with_crate_name(self, name: str | None) -> RustBackendConfig:
        return attrs.evolve(self, crate_name=name)

    def with_simplification(self, level: str | int) -> RustBackendConfig:
        return attrs.evolve(self, simplification=level)

    @property
    def no_std(self) -> bool:
        return self.backend_mode == "no_std"
