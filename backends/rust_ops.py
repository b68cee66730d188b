"""The one table Op -> Rust, and the module-scope helper functions.

:data:`RUST_OPS` says, for every :class:`ir.ops.Op`, how the printer writes it: an infix
operator, a method (``std``: ``w0.sin()``) or ``libm`` function (``no_std``: ``libm::sin`` /
``libm::sinf``), a comparison (``if a < b { 1.0 } else { 0.0 }``), a select
(``if c != 0.0 { a } else { b }``), or a call of a helper emitted once at module scope
(norms, ``signum``, ``powi``, ``asinh``/``acosh``, ``erf``/``erfc``). Leaves (constants and
inputs) are operands, never statements. The numeric meaning of every entry is that of ``ir.ieee``.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import re
from types import ModuleType

import attrs

from gradgen.ir.ops import Op

from .rust_literals import float_literal
from .scalars import scalar_type


class Kind(enum.Enum):
    LEAF = "leaf"  # CONST / INPUT: printed as operands
    INFIX = "infix"  # a + b
    NEG = "neg"  # -a
    COMPARE = "compare"  # if a < b { 1.0 } else { 0.0 }
    SELECT = "select"  # if c != 0.0 { a } else { b }
    MATH = "math"  # std method a.sin() / a.atan2(b); no_std libm::sin(a) / libm::atan2(a, b)
    POWI = "powi"  # multiplication for small exponents, else the powi helper
    HELPER = "helper"  # a call of a module-scope helper: signum(a), erf(a)
    NORM = "norm"  # norm2(&[a, b, c]); norm_p(p, &[a, b])
    CUSTOM = "custom"  # a user function: name(&[x..], &[w..]) (see backends.rust_custom)


@attrs.frozen
class RustOp:
    kind: Kind
    #: infix / comparison symbol
    symbol: str | None = None
    #: std method name (f64 and f32 share it)
    method: str | None = None
    #: libm function name for f64; the f32 name appends "f"
    libm: str | None = None
    #: helper function name
    helper: str | None = None


def _math(method: str, libm: str) -> RustOp:
    return RustOp(Kind.MATH, method=method, libm=libm)


RUST_OPS: dict[Op, RustOp] = {
    Op.CONST: RustOp(Kind.LEAF),
    Op.INPUT: RustOp(Kind.LEAF),
    Op.ADD: RustOp(Kind.INFIX, symbol="+"),
    Op.SUB: RustOp(Kind.INFIX, symbol="-"),
    Op.MUL: RustOp(Kind.INFIX, symbol="*"),
    Op.DIV: RustOp(Kind.INFIX, symbol="/"),
    Op.POW: _math("powf", "pow"),
    Op.ATAN2: _math("atan2", "atan2"),
    Op.HYPOT: _math("hypot", "hypot"),
    Op.MAX: _math("max", "fmax"),
    Op.MIN: _math("min", "fmin"),
    Op.LT: RustOp(Kind.COMPARE, symbol="<"),
    Op.LE: RustOp(Kind.COMPARE, symbol="<="),
    Op.GT: RustOp(Kind.COMPARE, symbol=">"),
    Op.GE: RustOp(Kind.COMPARE, symbol=">="),
    Op.EQ: RustOp(Kind.COMPARE, symbol="=="),
    Op.NE: RustOp(Kind.COMPARE, symbol="!="),
    Op.NEG: RustOp(Kind.NEG),
    Op.ABS: _math("abs", "fabs"),
    Op.SIN: _math("sin", "sin"),
    Op.COS: _math("cos", "cos"),
    Op.TAN: _math("tan", "tan"),
    Op.ASIN: _math("asin", "asin"),
    Op.ACOS: _math("acos", "acos"),
    Op.ATAN: _math("atan", "atan"),
    Op.SINH: _math("sinh", "sinh"),
    Op.COSH: _math("cosh", "cosh"),
    Op.TANH: _math("tanh", "tanh"),
    Op.ASINH: RustOp(Kind.HELPER, helper="asinh"),
    Op.ACOSH: RustOp(Kind.HELPER, helper="acosh"),
    Op.ATANH: _math("atanh", "atanh"),
    Op.EXP: _math("exp", "exp"),
    Op.EXPM1: _math("exp_m1", "expm1"),
    Op.LOG: _math("ln", "log"),
    Op.LOG1P: _math("ln_1p", "log1p"),
    Op.LOG10: _math("log10", "log10"),
    Op.SQRT: _math("sqrt", "sqrt"),
    Op.CBRT: _math("cbrt", "cbrt"),
    Op.ERF: RustOp(Kind.HELPER, helper="erf"),
    Op.ERFC: RustOp(Kind.HELPER, helper="erfc"),
    Op.FLOOR: _math("floor", "floor"),
    Op.CEIL: _math("ceil", "ceil"),
    Op.ROUND: _math("round", "round"),
    Op.TRUNC: _math("trunc", "trunc"),
    Op.SIGNUM: RustOp(Kind.HELPER, helper="signum"),
    Op.POWI: RustOp(Kind.POWI, helper="powi"),
    Op.SELECT: RustOp(Kind.SELECT),
    Op.NORM2: RustOp(Kind.NORM, helper="norm2"),
    Op.NORM2SQ: RustOp(Kind.NORM, helper="norm2sq"),
    Op.NORM1: RustOp(Kind.NORM, helper="norm1"),
    Op.NORM_INF: RustOp(Kind.NORM, helper="norm_inf"),
    Op.NORM_P: RustOp(Kind.NORM, helper="norm_p"),
    Op.NORM_P_TO_P: RustOp(Kind.NORM, helper="norm_p_to_p"),
    Op.FRACT: RustOp(Kind.HELPER, helper="fract"),
    Op.CUSTOM: RustOp(Kind.CUSTOM),
}

#: POWI exponents up to this magnitude are written as multiplications
POWI_MULTIPLY_MAX = 4


def math_call(spec: RustOp, scalar: str, no_std: bool) -> tuple[str, bool]:
    """``(name, is_method)``: the std method or the libm path for ``spec``."""
    assert spec.method is not None and spec.libm is not None
    if no_std:
        return f"libm::{spec.libm}{'f' if scalar == 'f32' else ''}", False
    return spec.method, True


# ---- helpers -----------------------------------------------------------------------------
# Each helper is rustfmt-formatted text with {T} for the scalar type, {ABS}/{SQRT}/{POW} for the
# math functions of the backend mode, and ``@name(args)`` for a call of the math function
# ``name`` of :data:`_HELPER_MATH` on plain identifiers (a method call in std, a libm call in
# no_std). {BIG} is ``2^(mantissa bits / 2)``: beyond it ``x*x + 1`` rounds to ``x*x``.
# The order here is the order of emission.

_HELPERS: dict[str, str] = {
    "norm2sq": """/// Sum of the squares of the entries of `v`, accumulated left to right.
fn norm2sq(v: &[{T}]) -> {T} {
    let mut acc = 0.0;
    for &x in v {
        acc += x * x;
    }
    acc
}
""",
    "norm2": """/// Euclidean norm of `v`; scaled by the largest magnitude when the sum of squares overflows
/// or lost digits to underflow.
fn norm2(v: &[{T}]) -> {T} {
    let s = norm2sq(v);
    if ({SAFE}..{T}::INFINITY).contains(&s) {
        return @sqrt(s);
    }
    if s.is_nan() {
        return s;
    }
    let m = norm_inf(v);
    if m == 0.0 || m == {T}::INFINITY {
        return m;
    }
    let mut acc = 0.0;
    for &x in v {
        let r = x / m;
        acc += r * r;
    }
    m * @sqrt(acc)
}
""",
    "norm1": """/// Sum of the absolute values of the entries of `v`.
fn norm1(v: &[{T}]) -> {T} {
    let mut acc = 0.0;
    for &x in v {
        acc += {ABS_OPEN}x{ABS_CLOSE};
    }
    acc
}
""",
    "norm_inf": """/// Largest absolute value of the entries of `v` (NaN if an entry is NaN).
fn norm_inf(v: &[{T}]) -> {T} {
    let mut acc = 0.0;
    for &x in v {
        let a = {ABS_OPEN}x{ABS_CLOSE};
        if a > acc || a.is_nan() {
            acc = a;
        }
    }
    acc
}
""",
    "norm_p_to_p": """/// Sum of `|v_i|^p` over the entries of `v`.
fn norm_p_to_p(p: {T}, v: &[{T}]) -> {T} {
    let mut acc = 0.0;
    for &x in v {
        acc += {POW_ABS_X_P};
    }
    acc
}
""",
    "norm_p": """/// The `p`-norm of `v`, `(sum |v_i|^p)^(1/p)`; scaled by the largest magnitude `m`, as
/// `m (sum (|v_i|/m)^p)^(1/p)`, when the sum overflows or lost digits to underflow.
fn norm_p(p: {T}, v: &[{T}]) -> {T} {
    let s = norm_p_to_p(p, v);
    let e = 1.0 / p;
    if ({SAFE}..{T}::INFINITY).contains(&s) {
        return @powf(s, e);
    }
    if s.is_nan() {
        return s;
    }
    let m = norm_inf(v);
    if m == 0.0 || m == {T}::INFINITY {
        return m;
    }
    let mut acc = 0.0;
    for &x in v {
        let r = @abs(x) / m;
        acc += @powf(r, p);
    }
    m * @powf(acc, e)
}
""",
    "asinh": """/// Inverse hyperbolic sine; `x * x` never overflows and small `x` keep full precision.
fn asinh(x: {T}) -> {T} {
    let a = @abs(x);
    let r = if a > {BIG} {
        @ln(a) + core::{T}::consts::LN_2
    } else if a > 2.0 {
        let q = a * a + 1.0;
        let h = @sqrt(q);
        let w = 2.0 * a + 1.0 / (h + a);
        @ln(w)
    } else {
        let s = a * a;
        let q = s + 1.0;
        let h = @sqrt(q);
        let w = a + s / (h + 1.0);
        @ln_1p(w)
    };
    @copysign(r, x)
}
""",
    "acosh": """/// Inverse hyperbolic cosine (NaN below 1); accurate next to 1 and up to the largest value.
fn acosh(x: {T}) -> {T} {
    if x < 1.0 {
        {T}::NAN
    } else if x < 2.0 {
        let t = x - 1.0;
        let q = t * t + 2.0 * t;
        let h = @sqrt(q);
        let w = t + h;
        @ln_1p(w)
    } else if x < {BIG} {
        let q = x * x - 1.0;
        let h = @sqrt(q);
        let w = 2.0 * x - 1.0 / (x + h);
        @ln(w)
    } else {
        @ln(x) + core::{T}::consts::LN_2
    }
}
""",
    "signum": """/// Sign of `x`: 1, -1, or 0 for both zeros; NaN for NaN.
fn signum(x: {T}) -> {T} {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else if x == 0.0 {
        0.0
    } else {
        x
    }
}
""",
    "fract": """/// Fractional part of `x`: `x - trunc(x)` (NaN for infinities and NaN).
fn fract(x: {T}) -> {T} {
    x - {TRUNC_OPEN}x{TRUNC_CLOSE}
}
""",
    "powi": """/// `x` to the integer power `n` by binary exponentiation.
fn powi(x: {T}, n: i64) -> {T} {
    let mut k = n.unsigned_abs();
    let mut base = x;
    let mut acc = 1.0;
    loop {
        if k & 1 == 1 {
            acc *= base;
        }
        k >>= 1;
        if k == 0 {
            break;
        }
        base *= base;
    }
    if n < 0 {
        1.0 / acc
    } else {
        acc
    }
}
""",
}

#: helpers needing other helpers
HELPER_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "norm2": ("norm2sq", "norm_inf"),
    "norm_p": ("norm_p_to_p", "norm_inf"),
}

ERF_NAMES: tuple[str, ...] = ("erf", "erfc")


def erf_module() -> ModuleType | None:
    """``backends.rust_erf`` when it is installed, else ``None``."""
    if importlib.util.find_spec("gradgen.backends.rust_erf") is None:
        return None
    return importlib.import_module("gradgen.backends.rust_erf")


def helper_names() -> tuple[str, ...]:
    """Every module-scope function name a generated module may define."""
    names: list[str] = [*_HELPERS, *ERF_NAMES]
    mod = erf_module()
    if mod is not None:
        names.extend(n for n in mod.ERF_HELPER_NAMES if n not in names)
    return tuple(names)


#: the math functions helpers call as ``@name(args)``: std method -> libm function
_HELPER_MATH: dict[str, str] = {
    "abs": "fabs",
    "sqrt": "sqrt",
    "ln": "log",
    "ln_1p": "log1p",
    "copysign": "copysign",
    "powf": "pow",
}
_HELPER_CALL = re.compile(r"@(\w+)\(([\w, ]+)\)")


def _helper_calls(text: str, scalar: str, no_std: bool) -> str:
    """``@name(a, b)`` -> ``a.name(b)`` (std) or ``libm::{libm}{f}(a, b)`` (no_std)."""
    f = scalar_type(scalar).libm_suffix

    def call(m: re.Match[str]) -> str:
        name, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        if no_std:
            return f"libm::{_HELPER_MATH[name]}{f}({', '.join(args)})"
        return f"{args[0]}.{name}({', '.join(args[1:])})"

    return _HELPER_CALL.sub(call, text)


def _substitutions(scalar: str, no_std: bool) -> dict[str, str]:
    f = scalar_type(scalar).libm_suffix
    double = scalar_type(scalar).bits == 64
    big = "67108864.0" if double else "4096.0"
    # SAFE: a sum of squares from 2^(smallest normal exponent + precision) up lost nothing to
    # squares that underflowed (ir.ieee.SAFE_SUM_MIN for f64)
    safe = float_literal(2.0 ** (-1022 + 53) if double else 2.0 ** (-126 + 24), scalar)
    if no_std:
        return {
            "{T}": scalar,
            "{BIG}": big,
            "{SAFE}": safe,
            "{ABS_OPEN}": f"libm::fabs{f}(",
            "{ABS_CLOSE}": ")",
            "{POW_ABS_X_P}": f"libm::pow{f}(libm::fabs{f}(x), p)",
            "{TRUNC_OPEN}": f"libm::trunc{f}(",
            "{TRUNC_CLOSE}": ")",
        }
    return {
        "{T}": scalar,
        "{BIG}": big,
        "{SAFE}": safe,
        "{ABS_OPEN}": "",
        "{ABS_CLOSE}": ".abs()",
        "{POW_ABS_X_P}": "x.abs().powf(p)",
        "{TRUNC_OPEN}": "",
        "{TRUNC_CLOSE}": ".trunc()",
    }


def helpers_source(used: set[str], scalar: str, no_std: bool) -> list[str]:
    """The Rust items of the helpers in ``used`` (plus their dependencies), in a fixed order."""
    needed = set(used)
    for name in list(needed):
        needed.update(HELPER_DEPENDENCIES.get(name, ()))
    subs = _substitutions(scalar, no_std)
    items: list[str] = []
    for name, text in _HELPERS.items():
        if name in needed:
            for key, value in subs.items():
                text = text.replace(key, value)
            items.append(_helper_calls(text, scalar, no_std))
    if needed & set(ERF_NAMES):
        mod = erf_module()
        if mod is None:
            from .errors import BuildError

            raise BuildError("erf/erfc need backends.rust_erf, which is not installed in this checkout")
        text = str(mod.erf_helpers_source(scalar, "no_std" if no_std else "std"))
        items.append(text.rstrip("\n") + "\n")
    return items
