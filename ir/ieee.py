"""IEEE-754 scalar semantics in Python, matching what the generated Rust computes.

Python's ``math`` module raises on domain and range errors (``math.log(-1)``, ``math.exp(1000)``,
``1.0 / 0.0``); Rust's ``f64`` methods return NaN or +-inf instead. Every function here follows
the Rust (C99 Annex F) result so that Python evaluation, constant folding and the generated code
agree. Conventions that are gradgen's own choice (documented in the user guide):

* ``signum(x)`` is the mathematical sign: -1, 0 or 1 (and NaN for NaN); ``signum(-0.0)`` is 0.
* ``maximum``/``minimum`` follow ``f64::max``/``f64::min``: a NaN operand is ignored.
* ``round`` rounds half away from zero (``f64::round``), not to even like Python's ``round``.
* comparisons return 1.0 or 0.0; any comparison with NaN is 0.0 except ``ne``.
* ``select(c, a, b)`` is ``a`` when ``c != 0`` (NaN counts as true), else ``b``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

INF = math.inf
NAN = math.nan


def _is_odd_integer(y: float) -> bool:
    return math.isfinite(y) and y == math.floor(y) and math.fmod(y, 2.0) != 0.0


def add(a: float, b: float) -> float:
    return a + b


def sub(a: float, b: float) -> float:
    return a - b


def mul(a: float, b: float) -> float:
    return a * b


def div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if math.isnan(a) or a == 0.0:
            return NAN
        sign = math.copysign(1.0, a) * math.copysign(1.0, b)
        return math.copysign(INF, sign)


def powf(x: float, y: float) -> float:
    """C ``pow`` / Rust ``powf`` without exceptions."""
    try:
        return math.pow(x, y)
    except OverflowError:
        if x < 0.0 and _is_odd_integer(y):
            return -INF
        return INF
    except ValueError:
        if x == 0.0 and y < 0.0:
            if _is_odd_integer(y):
                return math.copysign(INF, x)
            return INF
        return NAN


def powi(x: float, n: int) -> float:
    """``x`` to an integer power by binary exponentiation, as the generated helper does."""
    if n == 0:
        return 1.0
    if n < 0:
        return div(1.0, powi(x, -n))
    result = 1.0
    base = x
    first = True
    while n > 0:
        if n & 1:
            result = base if first else mul(result, base)
            first = False
        n >>= 1
        if n:
            base = mul(base, base)
    return result


def neg(x: float) -> float:
    return -x


def fabs(x: float) -> float:
    return math.fabs(x)


def sin(x: float) -> float:
    return math.sin(x) if math.isfinite(x) else NAN


def cos(x: float) -> float:
    return math.cos(x) if math.isfinite(x) else NAN


def tan(x: float) -> float:
    return math.tan(x) if math.isfinite(x) else NAN


def asin(x: float) -> float:
    return math.asin(x) if -1.0 <= x <= 1.0 else NAN


def acos(x: float) -> float:
    return math.acos(x) if -1.0 <= x <= 1.0 else NAN


def atan(x: float) -> float:
    return math.atan(x)


def sinh(x: float) -> float:
    try:
        return math.sinh(x)
    except OverflowError:
        return math.copysign(INF, x)


def cosh(x: float) -> float:
    try:
        return math.cosh(x)
    except OverflowError:
        return INF


def tanh(x: float) -> float:
    return math.tanh(x)


def asinh(x: float) -> float:
    return math.asinh(x)


def acosh(x: float) -> float:
    if math.isnan(x) or x < 1.0:
        return NAN
    return math.acosh(x)


def atanh(x: float) -> float:
    if math.isnan(x) or x < -1.0 or x > 1.0:
        return NAN
    if x == 1.0 or x == -1.0:
        return math.copysign(INF, x)
    return math.atanh(x)


def exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def expm1(x: float) -> float:
    try:
        return math.expm1(x)
    except OverflowError:
        return INF


def _log_family(fn: Callable[[float], float], x: float, pole: float = 0.0) -> float:
    if math.isnan(x) or x < pole:
        return NAN
    if x == pole:
        return -INF
    return fn(x)


def log(x: float) -> float:
    return _log_family(math.log, x)


def log1p(x: float) -> float:
    return _log_family(math.log1p, x, -1.0)


def log10(x: float) -> float:
    return _log_family(math.log10, x)


def sqrt(x: float) -> float:
    if math.isnan(x) or x < 0.0:
        return NAN
    return math.sqrt(x)


def cbrt(x: float) -> float:
    return math.cbrt(x)


def erf(x: float) -> float:
    return math.erf(x)


def erfc(x: float) -> float:
    return math.erfc(x)


def _integral(fn: Callable[[float], int], x: float) -> float:
    """``fn`` (floor/ceil/trunc) as Rust computes it: inf and NaN pass through, and a zero
    result keeps the sign of ``x`` (``floor(-0.0)``, ``ceil(-0.5)`` and ``trunc(-0.7)`` are -0.0)."""
    if not math.isfinite(x):
        return x
    r = float(fn(x))
    return math.copysign(r, x) if r == 0.0 else r


def floor(x: float) -> float:
    return _integral(math.floor, x)


def ceil(x: float) -> float:
    return _integral(math.ceil, x)


def trunc(x: float) -> float:
    return _integral(math.trunc, x)


def fract(x: float) -> float:
    """Rust's ``x.fract()``: ``x - x.trunc()`` (NaN for infinities, the sign of ``x`` kept)."""
    return x - trunc(x)


def round_half_away(x: float) -> float:
    if not math.isfinite(x):
        return x
    t = float(math.trunc(x))
    if math.fabs(x - t) >= 0.5:
        t += math.copysign(1.0, x)
    return math.copysign(t, x) if t == 0.0 else t


def signum(x: float) -> float:
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return x * 0.0 if math.isnan(x) else 0.0


def atan2(y: float, x: float) -> float:
    return math.atan2(y, x)


def hypot(a: float, b: float) -> float:
    return math.hypot(a, b)


def fmax(a: float, b: float) -> float:
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return max(b, a)


def fmin(a: float, b: float) -> float:
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return min(b, a)


def lt(a: float, b: float) -> float:
    return 1.0 if a < b else 0.0


def le(a: float, b: float) -> float:
    return 1.0 if a <= b else 0.0


def gt(a: float, b: float) -> float:
    return 1.0 if a > b else 0.0


def ge(a: float, b: float) -> float:
    return 1.0 if a >= b else 0.0


def eq(a: float, b: float) -> float:
    return 1.0 if a == b else 0.0


def ne(a: float, b: float) -> float:
    return 1.0 if a != b else 0.0


def select(c: float, a: float, b: float) -> float:
    return a if c != 0.0 else b


# Vector reductions. They accumulate left to right exactly like the generated Rust helpers.

#: a sum of squares at least this large lost nothing to squares that underflowed (each lost at
#: most half the smallest subnormal, 2^-1075, far below half an ulp of the sum)
SAFE_SUM_MIN = 2.0**-969


def norm2sq(*xs: float) -> float:
    acc = 0.0
    for v in xs:
        acc += v * v
    return acc


def norm2(*xs: float) -> float:
    """``sqrt(sum x^2)``; when the sum overflows or underflows (it is infinite or below
    :data:`SAFE_SUM_MIN`), ``m sqrt(sum (x/m)^2)`` with ``m`` the largest magnitude."""
    s = norm2sq(*xs)
    if SAFE_SUM_MIN <= s < INF:
        return math.sqrt(s)
    if math.isnan(s):
        return s
    m = norm_inf(*xs)
    if m == 0.0 or m == INF:
        return m
    acc = 0.0
    for v in xs:
        r = v / m
        acc += r * r
    return m * math.sqrt(acc)


def norm1(*xs: float) -> float:
    acc = 0.0
    for v in xs:
        acc += math.fabs(v)
    return acc


def norm_inf(*xs: float) -> float:
    """Largest magnitude; a NaN entry makes the result NaN."""
    acc = 0.0
    for v in xs:
        a = math.fabs(v)
        if a > acc or math.isnan(a):
            acc = a
    return acc


def norm_p_to_p(p: float, *xs: float) -> float:
    acc = 0.0
    for v in xs:
        acc += powf(math.fabs(v), p)
    return acc


def norm_p(p: float, *xs: float) -> float:
    """``(sum |x|^p)^(1/p)``; when that sum overflows or underflows (it is infinite or below
    :data:`SAFE_SUM_MIN`), ``m (sum (|x|/m)^p)^(1/p)`` with ``m`` the largest magnitude."""
    s = norm_p_to_p(p, *xs)
    e = div(1.0, p)
    if SAFE_SUM_MIN <= s < INF:
        return powf(s, e)
    if math.isnan(s):
        return s
    m = norm_inf(*xs)
    if m == 0.0 or m == INF:
        return m
    acc = 0.0
    for v in xs:
        acc += powf(math.fabs(v) / m, p)
    return m * powf(acc, e)
