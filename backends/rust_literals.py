"""Rust float literals for every ``f64`` value, in ``f64`` or ``f32``.

``f64`` literals are Python's shortest round-trip ``repr``; ``f32`` literals are the shortest
decimal that round-trips through ``f32`` (so clippy's ``excessive_precision`` stays quiet).
Infinities and NaN print as the associated constants (``f64::INFINITY``), values beyond the
``f32`` range become infinities exactly as Rust's ``as f32`` would round them, and ``-0.0``
keeps its sign. :func:`near_std_constant` tells the printer when clippy's ``approx_constant``
could fire, so it can put a targeted ``allow`` on that function.
"""

from __future__ import annotations

import math
import struct

from .scalars import scalar_type

#: the constants clippy's ``approx_constant`` compares literals against
STD_CONSTANTS: tuple[float, ...] = (
    math.e,
    1 / math.pi,
    math.sqrt(0.5),
    2 / math.pi,
    2 / math.sqrt(math.pi),
    math.pi / 2,
    math.pi / 3,
    math.pi / 4,
    math.pi / 6,
    math.pi / 8,
    math.log(10),
    math.log(2),
    math.log10(math.e),
    math.log2(math.e),
    math.log2(10),
    math.log10(2),
    math.pi,
    math.sqrt(2),
    math.tau,
)


def to_f32(value: float) -> float:
    """``value as f32`` (round to nearest even; overflow to infinity), as a Python float."""
    if math.isnan(value) or math.isinf(value):
        return value
    try:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def _normalize(text: str) -> str:
    """Python float text -> Rust literal text (``1e+16`` -> ``1e16``, ``1e-05`` -> ``1e-5``)."""
    if "e" not in text:
        return text if ("." in text or "inf" in text or "nan" in text) else text + ".0"
    mant, exp = text.split("e")
    sign = "-" if exp.startswith("-") else ""
    digits = exp.lstrip("+-").lstrip("0") or "0"
    return f"{mant}e{sign}{digits}"


def shortest_f32(value: float) -> str:
    """Shortest decimal text whose nearest ``f32`` is ``value`` (already an ``f32`` value)."""
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if to_f32(float(text)) == value:
            return _normalize(repr(float(text)))
    return _normalize(repr(value))  # unreachable: 9 significant digits always round-trip


def float_literal(value: float, scalar: str) -> str:
    """The Rust expression for the constant ``value`` in the scalar type ``scalar``."""
    single = scalar_type(scalar).bits == 32
    if single:
        value = to_f32(value)
    if math.isnan(value):
        return f"{scalar}::NAN"
    if math.isinf(value):
        return f"{scalar}::INFINITY" if value > 0 else f"{scalar}::NEG_INFINITY"
    if single:
        return shortest_f32(value)
    return _normalize(repr(value))


def near_std_constant(value: float) -> bool:
    """True when ``|value|`` is within 1% of a constant clippy's ``approx_constant`` knows."""
    a = abs(value)
    return any(abs(a - c) <= 0.01 * c for c in STD_CONSTANTS)


def conversion_loss(value: float, scalar: str) -> str | None:
    """What happens to the ``f64`` constant ``value`` in ``scalar``, when it does not survive
    (``None`` when it does): overflow to infinity, underflow to zero, or a subnormal that keeps
    fewer significant bits than the type's precision."""
    if scalar_type(scalar).bits == 64 or not math.isfinite(value) or value == 0.0:
        return None
    converted = to_f32(value)
    if math.isinf(converted):
        return f"is {float_literal(value, scalar)} (beyond the {scalar} range)"
    if converted == 0.0:
        return f"is 0.0 (below the smallest {scalar})"
    if abs(converted - value) > scalar_type(scalar).epsilon * abs(value):
        return f"is the subnormal {converted!r} (precision lost)"
    return None
