"""``RustTargetOptions``: the immutable, validated options of the Rust backend."""

from __future__ import annotations

from typing import Self

import attrs

from gradgen.ir.errors import ConfigError

from .names import validate_explicit
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


def _check_self_tests(_: object, __: object, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"self_tests must be True or False, got {value!r}")


@attrs.frozen
class RustTargetOptions:
    """What the Rust backend needs to know; every ``with_*`` method returns a new, validated copy.

    ``backend_mode`` is ``"std"`` or ``"no_std"`` (``no_std`` crates use ``libm``),
    ``scalar_type`` is ``"f64"`` or ``"f32"``, ``function_name`` and ``crate_name`` are explicit
    Rust identifiers (validated strictly; ``None`` derives them from the function or directory
    name). ``self_tests`` (default ``True``) gives every crate written to disk a
    ``tests/reference.rs`` that ``cargo test`` runs (see ``backends.self_tests``).
    """

    backend_mode: str = attrs.field(default="std", validator=_check_mode)
    scalar_type: str = attrs.field(default=F64.name, validator=_check_scalar)
    function_name: str | None = attrs.field(default=None, validator=_check_function_name)
    crate_name: str | None = attrs.field(default=None, validator=_check_crate_name)
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

    def with_self_tests(self, enabled: bool = True) -> Self:
        """Whether a written crate gets its self-tests (``tests/reference.rs``, default on)."""
        return attrs.evolve(self, self_tests=enabled)

    @property
    def no_std(self) -> bool:
        return self.backend_mode == "no_std"

    @property
    def scalar(self) -> ScalarType:
        return scalar_type(self.scalar_type)
