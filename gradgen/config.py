"""``RustBackendConfig``: the options of Rust code generation, as the user gives them.

They are the Rust backend's target options plus the simplification level, which the passes run
before the backend sees the kernel (the backend itself never reads the level).
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import attrs

from gradgen.backends.config import RustTargetOptions
from gradgen.backends.rust_python import DEFAULT_PYO3_VERSION, pyo3_dialect
from gradgen.errors import ConfigError
from gradgen.passes.levels import level_index


def _check_level(_: object, __: object, value: object) -> None:
    level_index(value)  # type: ignore[arg-type]


#: gradgen 0.5.2's names for the option value types (plain strings, validated by the config)
RustBackendMode: TypeAlias = Literal["std", "no_std"]
RustScalarType: TypeAlias = Literal["f64", "f32"]
BUILD_PROFILES = ("release", "debug")


def _check_flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{attribute.name} must be True or False, got {value!r}")


def _check_pyo3(_: object, __: object, value: object) -> None:
    pyo3_dialect(value)


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
    #: also write the PyO3 extension crate ``<crate>_python`` (gradgen 0.5.2's option)
    enable_python_interface: bool = attrs.field(default=False, validator=_check_flag)
    #: build that crate after writing it (0.5.2's default: on)
    build_python_interface: bool = attrs.field(default=True, validator=_check_flag)
    #: the pyo3 version requirement of that crate
    pyo3_version: str = attrs.field(default=DEFAULT_PYO3_VERSION, validator=_check_pyo3)

    def with_simplification(self, level: str | int) -> RustBackendConfig:
        return attrs.evolve(self, simplification=level)

    def with_build_crate(self, build_crate: bool = True) -> RustBackendConfig:
        """Build each written crate with ``cargo build`` (``BuildError`` when cargo is missing or
        the build fails)."""
        return attrs.evolve(self, build_crate=build_crate)

    def with_build_profile(self, profile: str) -> RustBackendConfig:
        """The cargo profile of ``with_build_crate``: ``"release"`` (default) or ``"debug"``."""
        return attrs.evolve(self, build_profile=profile)

    def with_enable_python_interface(self, enable: bool = True) -> RustBackendConfig:
        """Also write the PyO3 extension crate ``<crate>_python`` beside each crate (gradgen
        0.5.2's Python interface, see ``gradgen.python_interface``); it is built after writing
        unless ``with_build_python_interface(False)``."""
        return attrs.evolve(self, enable_python_interface=enable)

    def with_build_python_interface(self, build: bool = True) -> RustBackendConfig:
        """Build the Python extension crate with ``cargo build`` after writing it (default on;
        ``BuildError`` when cargo is missing or the build fails). Asking for a build needs
        ``with_enable_python_interface()`` first."""
        if build is True and not self.enable_python_interface:
            raise ConfigError(
                "with_build_python_interface(True) builds the Python interface, which is off: call "
                "with_enable_python_interface() first"
            )
        return attrs.evolve(self, build_python_interface=build)

    def with_pyo3_version(self, version: str) -> RustBackendConfig:
        """The pyo3 version requirement of the Python extension crate (default
        ``"0.28.2"``, what gradgen 0.5.2 writes); the generated source follows its API:
        0.17 to 0.20 or 0.23 and later."""
        return attrs.evolve(self, pyo3_version=version)

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
