"""``RustBackendConfig``: the options of Rust code generation, as the user gives them.

They are the Rust backend's target options plus the simplification level, which the passes run
before the backend sees the kernel (the backend itself never reads the level).
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import attrs

from gradgen.backends.config import RustTargetOptions
from gradgen.errors import ConfigError
from gradgen.passes.levels import level_index

from . import compat


def _check_level(_: object, __: object, value: object) -> None:
    level_index(value)  # type: ignore[arg-type]


#: gradgen 0.5.2's names for the option value types (plain strings, validated by the config)
RustBackendMode: TypeAlias = Literal["std", "no_std"]
RustScalarType: TypeAlias = Literal["f64", "f32"]
BUILD_PROFILES = ("release", "debug")


def _check_flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{attribute.name} must be True or False, got {value!r}")


def _check_profile(_: object, __: object, value: object) -> None:
    if value not in BUILD_PROFILES:
        raise ConfigError(f"build_profile must be 'release' or 'debug', got {value!r}")


@attrs.frozen
class RustBackendConfig(RustTargetOptions):
    """Options of the Rust backend; every ``with_*`` method returns a new, validated config.

    ``backend_mode`` is ``"std"`` or ``"no_std"`` (``no_std`` crates use ``libm``),
    ``scalar_type`` is ``"f64"`` or ``"f32"``, ``function_name`` and ``crate_name`` are explicit
    Rust identifiers (validated strictly; ``None`` derives them from the function or directory
    name), ``simplification`` is a level ``"none" .. "max"`` or ``0 .. 4``.
    """

    simplification: str | int = attrs.field(default="basic", validator=_check_level)
    #: run ``cargo build`` on every crate written with this config (gradgen 0.5.2's option)
    build_crate: bool = attrs.field(default=False, validator=_check_flag)
    #: the cargo profile of ``build_crate``: ``"release"`` or ``"debug"``
    build_profile: str = attrs.field(default="release", validator=_check_profile)

    def with_simplification(self, level: str | int) -> RustBackendConfig:
        return attrs.evolve(self, simplification=level)

    def with_build_crate(self, build_crate: bool = True) -> RustBackendConfig:
        """Build each written crate with ``cargo build`` (``BuildError`` when cargo is missing or
        the build fails)."""
        return attrs.evolve(self, build_crate=build_crate)

    def with_build_profile(self, profile: str) -> RustBackendConfig:
        """The cargo profile of ``with_build_crate``: ``"release"`` (default) or ``"debug"``."""
        return attrs.evolve(self, build_profile=profile)

    # gradgen 0.5.2 options this library does not provide: an error naming what to use
    def with_enable_python_interface(self, *args: object, **kwargs: object) -> RustBackendConfig:
        raise compat.unsupported(
            "RustBackendConfig.",
            "with_enable_python_interface",
            compat.UNSUPPORTED_OPTIONS["with_enable_python_interface"],
        )

    def with_build_python_interface(self, *args: object, **kwargs: object) -> RustBackendConfig:
        raise compat.unsupported(
            "RustBackendConfig.",
            "with_build_python_interface",
            compat.UNSUPPORTED_OPTIONS["with_build_python_interface"],
        )

    @property
    def target(self) -> RustTargetOptions:
        """The options the backend reads (everything but the simplification level)."""
        return RustTargetOptions(
            backend_mode=self.backend_mode,
            scalar_type=self.scalar_type,
            function_name=self.function_name,
            crate_name=self.crate_name,
            header=self.header,
            additional_dependencies=self.additional_dependencies,
            emit_metadata_helpers=self.emit_metadata_helpers,
            self_tests=self.self_tests,
        )
