"""Rust source of the ``erf`` and ``erfc`` helpers that generated crates include when they need them.

No library erf is called: the helpers are derived here from published mathematics and compute in
``f64`` (the ``f32`` entry points widen, compute in ``f64`` and round once); the only library
functions used are ``exp``, ``abs`` and ``copysign`` (inherent methods in ``std`` mode, ``libm`` in
``no_std`` mode):

* ``|x| < 1.5``: the Maclaurin series ``erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))``
  summed in double-double arithmetic (pairs ``hi + lo`` built from Knuth's two-sum and Dekker's
  two-product with Veltkamp splitting, so no fused multiply-add is needed) until the terms fall
  below 1e-6 of the sum; the remaining terms are summed in plain ``f64``. Its cancellation costs
  only a few of the ~106 bits, so ``erf`` there is nearly correctly rounded and
  ``erfc = 1 - erf`` is formed in double-double too, without the usual cancellation.
* ``x >= 1.5``: ``erfc(x) = exp(-x^2) * (2/sqrt(pi)) * x / D(x)`` with the even part of Laplace's
  continued fraction ``D(x) = 2x^2 + 1 - 1*2 / (2x^2 + 5 - 3*4 / (2x^2 + 9 - ...))`` evaluated
  backwards from a depth ``5 + 140/x^2`` (at most 67 levels; truncation error below 2^-63);
  its last level, the quotient and the constant are again carried in double-double.
  ``exp(-x^2)`` avoids the rounding error of ``x*x``: ``x = h + l`` where ``h`` keeps 26
  significant bits, so ``h*h`` is exact, ``x^2 = h*h + l*(x + h)``, and the two-sum of both parts
  ``y + dy`` gives ``exp(-x^2) = exp(y) * (1 + dy)``. The result is the product of the
  double-double factor with ``exp(y)``, rounded once; beyond ``x = 27.5`` erfc is below half the
  smallest subnormal and is returned as ``0``.
* ``erf(x) = sign(x) (1 - erfc(|x|))`` for ``|x| >= 1.5`` and ``erfc(x) = 1 - erf(x)`` for
  ``x < -1.5``: neither subtraction cancels there, and each entry point calls the other, so a
  crate that uses only one of them has no dead code.

Measured (tests/test_erf.py) against a 50-digit reference: erf within 0.51 ulp (0.75 for subnormal
arguments), erfc within 0.5 ulp on (-1.5, 1.5), 0.75 ulp below -1.5 and 1.5 ulp above 1.5 (the
rounding of ``exp`` plus the final rounding); f32 within 0.53 (erf) and 0.75 (erfc) f32 ulp.

Special values: NaN gives NaN, ``erf(+-inf) = +-1``, ``erfc(+inf) = 0``, ``erfc(-inf) = 2``, and
``erf(-0.0) = -0.0`` (the sign is copied from the argument). Every loop has a fixed bound.
"""

from __future__ import annotations

from gradgen.backends.config import BACKEND_MODES
from gradgen.backends.scalars import SCALAR_TYPES, scalar_type
from gradgen.ir.errors import ConfigError

ERF_HELPER_NAMES: tuple[str, ...] = (
    "erf_two_sum",
    "erf_fast_two_sum",
    "erf_split",
    "erf_two_prod",
    "erf_dd_add",
    "erf_dd_mul",
    "erf_dd_div",
    "erf_series",
    "erfc_tail",
    "erf",
    "erfc",
)
"""Every top-level function the helper source defines, in the order it defines them."""

# The f64 kernel shared by every configuration; ``{exp}`` and ``{abs}`` are filled per mode.
_CORE = """\
fn erf_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

fn erf_fast_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

fn erf_split(a: f64) -> (f64, f64) {
    let c = 134_217_729.0 * a;
    let h = c - (c - a);
    (h, a - h)
}

fn erf_two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    let (ah, al) = erf_split(a);
    let (bh, bl) = erf_split(b);
    (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
}

fn erf_dd_add(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (s, e) = erf_two_sum(a.0, b.0);
    let (t, f) = erf_two_sum(a.1, b.1);
    let (s, e) = erf_fast_two_sum(s, e + t);
    erf_fast_two_sum(s, e + f)
}

fn erf_dd_mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (p, e) = erf_two_prod(a.0, b.0);
    erf_fast_two_sum(p, e + (a.0 * b.1 + a.1 * b.0))
}

fn erf_dd_div(a: (f64, f64), b: f64) -> (f64, f64) {
    let q = a.0 / b;
    let (p, e) = erf_two_prod(q, b);
    erf_fast_two_sum(q, ((a.0 - p) - e + a.1) / b)
}

fn erf_series(x: f64) -> (f64, f64) {
    let z = erf_two_prod(x, x);
    let mut power = (x, 0.0);
    let mut sum = (x, 0.0);
    let mut next = 40;
    for n in 1..40 {
        let k = f64::from(n);
        power = erf_dd_div(erf_dd_mul(power, z), -k);
        let term = erf_dd_div(power, 2.0 * k + 1.0);
        sum = erf_dd_add(sum, term);
        if {abs_term} <= {abs_sum} * 1e-6 {
            next = n + 1;
            break;
        }
    }
    let mut p = power.0;
    let mut rest = 0.0;
    for n in next..next + 40 {
        let k = f64::from(n);
        p *= -z.0 / k;
        let t = p / (2.0 * k + 1.0);
        rest += t;
        if {abs_t} <= {abs_sum} * 1e-22 {
            break;
        }
    }
    let two_over_sqrt_pi = (core::f64::consts::FRAC_2_SQRT_PI, 1.533_545_961_316_588e-17);
    erf_dd_mul(erf_dd_add(sum, (rest, 0.0)), two_over_sqrt_pi)
}

fn erfc_tail(x: f64) -> f64 {
    if x >= 27.5 {
        return 0.0;
    }
    let (zh, zl) = erf_two_prod(2.0 * x, x);
    let depth = (140.0 / (x * x)) as u32 + 5;
    let mut d = zh + f64::from(4 * depth + 1);
    for k in (1..depth).rev() {
        d = zh + f64::from(4 * k + 1) - f64::from((2 * k + 1) * (2 * k + 2)) / d;
    }
    let (s, e) = erf_two_sum(zh, 1.0 - 2.0 / d);
    let (dh, dl) = erf_fast_two_sum(s, e + zl);
    let qh = x / dh;
    let (p, pe) = erf_two_prod(qh, dh);
    let q = erf_fast_two_sum(qh, ((x - p) - pe - qh * dl) / dh);
    let two_over_sqrt_pi = (core::f64::consts::FRAC_2_SQRT_PI, 1.533_545_961_316_588e-17);
    let (mh, ml) = erf_dd_mul(q, two_over_sqrt_pi);
    let h = f64::from_bits(x.to_bits() & 0xffff_ffff_f800_0000);
    let (y, dy) = erf_two_sum(-(h * h), -((x - h) * (x + h)));
    let g = {exp_y};
    let (r, re) = erf_two_prod(g, mh);
    r + (re + g * (ml + mh * dy))
}
"""

# The entry points in the crate's scalar type; ``{to64}``/``{from64}`` wrap widening/narrowing.
_ENTRY = """
fn erf(x: {T}) -> {T} {
    let a = {abs_x};
    let r = if a < 1.5 {
        let (hi, lo) = erf_series({a64});
        {sum_hi_lo}
    } else {
        1.0 - erfc(a)
    };
    {copysign}
}

fn erfc(x: {T}) -> {T} {
    if x.is_nan() {
        x
    } else if x < -1.5 {
        1.0 - erf(x)
    } else if x < 1.5 {
        let (hi, lo) = erf_series({x64});
        let (s, e) = erf_two_sum(1.0, -hi);
        {one_minus}
    } else {
        {tail}
    }
}
"""


def _check(scalar: str, mode: str) -> None:
    if scalar not in SCALAR_TYPES:
        raise ConfigError(
            f"unknown scalar type {scalar!r} for erf helpers; use one of {', '.join(SCALAR_TYPES)}"
        )
    if mode not in BACKEND_MODES:
        raise ConfigError(
            f"unknown backend mode {mode!r} for erf helpers; use one of {', '.join(BACKEND_MODES)}"
        )


def erf_helpers_source(scalar: str, mode: str) -> str:
    """Rust items defining ``fn erf(x: T) -> T`` and ``fn erfc(x: T) -> T`` (``T`` = ``scalar``).

    ``scalar`` is ``"f64"`` or ``"f32"``; ``mode`` is ``"std"`` (inherent float methods, no
    dependencies) or ``"no_std"`` (``libm`` functions). The text is module-level items only (all
    private, named in :data:`ERF_HELPER_NAMES`), exactly as ``rustfmt --edition 2021`` prints it,
    free of ``unsafe`` and of clippy warnings. Raises ``ConfigError`` for an unknown scalar or mode.
    """
    _check(scalar, mode)
    std = mode == "std"
    suffix = scalar_type(scalar).libm_suffix
    wide = scalar_type(scalar).bits == 64
    core = (
        _CORE.replace("{abs_term}", "term.0.abs()" if std else "libm::fabs(term.0)")
        .replace("{abs_sum}", "sum.0.abs()" if std else "libm::fabs(sum.0)")
        .replace("{abs_t}", "t.abs()" if std else "libm::fabs(t)")
        .replace("{exp_y}", "y.exp()" if std else "libm::exp(y)")
    )

    def widen(name: str) -> str:
        return name if wide else f"f64::from({name})"

    def narrow(expr: str) -> str:
        return expr if wide else f"({expr}) as f32"

    entry = (
        _ENTRY.replace("{T}", scalar)
        .replace("{abs_x}", "x.abs()" if std else f"libm::fabs{suffix}(x)")
        .replace("{a64}", widen("a"))
        .replace("{x64}", widen("x"))
        .replace("{sum_hi_lo}", narrow("hi + lo"))
        .replace("{one_minus}", narrow("s + (e - lo)"))
        .replace("{tail}", "erfc_tail(x)" if wide else "erfc_tail(f64::from(x)) as f32")
        .replace("{copysign}", "r.copysign(x)" if std else f"libm::copysign{suffix}(r, x)")
    )
    return core + entry
