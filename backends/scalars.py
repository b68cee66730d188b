"""The scalar types a generated module can compute in: one row per type, read by the printer, the
name sanitizer, the crate metadata and the ctypes caller."""

from __future__ import annotations

import ctypes

import attrs

from gradgen.ir.errors import ConfigError


@attrs.frozen
class ScalarType:
    """A Rust floating-point type and its counterparts on the Python side."""

    #: the Rust type name, also the value of ``scalar_type`` in configs and metadata
    name: str
    bits: int
    #: appended to a ``libm`` function name for this type (``sin`` / ``sinf``)
    libm_suffix: str
    #: machine epsilon (distance from 1.0 to the next larger value)
    epsilon: float
    ctypes_type: type[ctypes.c_double] | type[ctypes.c_float]
    numpy_dtype: str


F64 = ScalarType("f64", 64, "", 2.0**-52, ctypes.c_double, "float64")
F32 = ScalarType("f32", 32, "f", 2.0**-23, ctypes.c_float, "float32")

#: Rust type name -> scalar type, the default first
SCALARS: dict[str, ScalarType] = {s.name: s for s in (F64, F32)}
SCALAR_TYPES: tuple[str, ...] = tuple(SCALARS)


def scalar_type(name: object) -> ScalarType:
    """The scalar type called ``name`` (a :class:`ConfigError` for any other value)."""
    info = SCALARS.get(name) if isinstance(name, str) else None
    if info is None:
        raise ConfigError(f"unknown scalar type {name!r}; use one of {', '.join(SCALAR_TYPES)}")
    return info
