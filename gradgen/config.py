"""``RustBackendConfig``: the options of Rust code generation, as the user gives them.

They are the Rust backend's target options plus the simplification level, which the passes run
before the backend sees the kernel (the backend itself never reads the level).
"""

from __future__ import annotations

import attrs

from gradgen.backends.config import RustTargetOptions
from gradgen.passes.levels import level_index


def _check_level(_: object, __: object, value: object) -> None:
    level_index(value)  # type: ignore[arg-type]


@attrs.frozen
class RustBackendConfig(RustTargetOptions):
    """Options of the Rust backend; every ``with_*`` method returns a new, validated config.

    ``backend_mode`` is ``"std"`` or ``"no_std"`` (``no_std`` crates use ``libm``),
    ``scalar_type`` is ``"f64"`` or ``"f32"``, ``function_name`` and ``crate_name`` are explicit
    Rust identifiers (validated strictly; ``None`` derives them from the function or directory
    name), ``simplification`` is a level ``"none" .. "max"`` or ``0 .. 4``.
    """

    simplification: str | int = attrs.field(default="basic", validator=_check_level)

    def with_simplification(self, level: str | int) -> RustBackendConfig:
        return attrs.evolve(self, simplification=level)

    @property
    def target(self) -> RustTargetOptions:
        """The options the backend reads (everything but the simplification level)."""
        return RustTargetOptions(
            self.backend_mode,
            self.scalar_type,
            self.function_name,
            self.crate_name,
            self_tests=self.self_tests,
        )
