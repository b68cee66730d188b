"""The Rust ``erf``/``erfc`` helpers of ``backends.rust_erf``, compiled and measured in ulps.

One crate holds the helpers for every (scalar, mode) pair: a ``#![no_std]`` library with the
``no_std`` variants (which proves they need nothing from ``std``) and a binary with the ``std``
variants that reads argument bit patterns on stdin and prints every result's bits. The results are
compared with Python's ``math.erf``/``math.erfc`` (the platform libm) and with an independent
50-digit ``decimal`` evaluation (Maclaurin series, Laplace continued fraction), in ulps.
"""

from __future__ import annotations

import math
import pathlib
import random
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal, localcontext

import pytest

from gradgen.backends.rust_erf import ERF_HELPER_NAMES, erf_helpers_source
from gradgen.errors import ConfigError
from tests.cargo import BUILD, TARGET_DIR, build_and_lint, rustfmt_check

CONFIGS = [("f64", "std"), ("f64", "no_std"), ("f32", "std"), ("f32", "no_std")]
CRATE = "gradgen_erf_check"

_MANIFEST = f"""[package]
name = "{CRATE}"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
libm = "0.2"
"""

_MAIN = """#![forbid(unsafe_code)]

mod f32_std;
mod f32_std_erf_only;
mod f64_std;
mod f64_std_erfc_only;

use gradgen_erf_check::{f32_no_std, f32_no_std_erfc_only, f64_no_std, f64_no_std_erf_only};
use std::io::{BufRead, Write};

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line.expect("stdin is readable");
        let mut words = line.split_whitespace();
        let x = f64::from_bits(u64::from_str_radix(words.next().expect("f64 bits"), 16).expect("hex"));
        let y = f32::from_bits(u32::from_str_radix(words.next().expect("f32 bits"), 16).expect("hex"));
        let (a, b) = f64_std::eval(x);
        let (c, d) = f64_no_std::eval(x);
        let (e, f) = f32_std::eval(y);
        let (g, h) = f32_no_std::eval(y);
        let only = [
            f64_std_erfc_only::eval(x).to_bits(),
            f64_no_std_erf_only::eval(x).to_bits(),
            u64::from(f32_std_erf_only::eval(y).to_bits()),
            u64::from(f32_no_std_erfc_only::eval(y).to_bits()),
        ];
        writeln!(
            out,
            "{:x} {:x} {:x} {:x} {:x} {:x} {:x} {:x} {:x} {:x} {:x} {:x}",
            a.to_bits(),
            b.to_bits(),
            c.to_bits(),
            d.to_bits(),
            e.to_bits(),
            f.to_bits(),
            g.to_bits(),
            h.to_bits(),
            only[0],
            only[1],
            only[2],
            only[3]
        )
        .expect("stdout is writable");
    }
}
"""

_LIB = """#![no_std]
#![forbid(unsafe_code)]

pub mod f32_no_std;
pub mod f32_no_std_erfc_only;
pub mod f64_no_std;
pub mod f64_no_std_erf_only;
"""

# Which entry points each module's ``eval`` calls: both, or only one (no dead-code warning either way).
_MODULES = {
    "f64_std": ("f64", "std", "(erf(x), erfc(x))", "(f64, f64)"),
    "f64_no_std": ("f64", "no_std", "(erf(x), erfc(x))", "(f64, f64)"),
    "f32_std": ("f32", "std", "(erf(x), erfc(x))", "(f32, f32)"),
    "f32_no_std": ("f32", "no_std", "(erf(x), erfc(x))", "(f32, f32)"),
    "f64_std_erfc_only": ("f64", "std", "erfc(x)", "f64"),
    "f64_no_std_erf_only": ("f64", "no_std", "erf(x)", "f64"),
    "f32_std_erf_only": ("f32", "std", "erf(x)", "f32"),
    "f32_no_std_erfc_only": ("f32", "no_std", "erfc(x)", "f32"),
}


def _module_source(scalar: str, mode: str, body: str, ret: str) -> str:
    return erf_helpers_source(scalar, mode) + f"\npub fn eval(x: {scalar}) -> {ret} {{\n    {body}\n}}\n"


# ---------------------------------------------------------------------------------------------
# Arguments


def _f32_of(x: float) -> float:
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _arguments() -> list[float]:
    rng = random.Random(20261108)
    xs = [k / 1024 for k in range(-6 * 1024, 28 * 1024 + 1)]  # [-6, 28] every 2**-10
    xs += [rng.uniform(-6.5, 28.0) for _ in range(20000)]
    xs += [rng.uniform(-1.6, 1.6) for _ in range(6000)]  # the double-double series region
    xs += [math.ldexp(1.0, -e) * s for e in range(1, 1075, 7) for s in (1.0, -1.0)]  # tiny ... subnormal
    special = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 1e-310, 1e-300, 1e-20, 1e-9]
    special += [1.5, -1.5, 26.0, 27.5, 27.2, 1.7976931348623157e308, -1.7976931348623157e308, 1e10, -1e10]
    for edge in (1.5, -1.5, 27.5, 0.4769362762044699):
        special += [math.nextafter(edge, math.inf), math.nextafter(edge, -math.inf)]
    return xs + special


def _bits64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _from64(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def _bits32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _from32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


class Results:
    """The 12 results per argument (see ``_MAIN``), keyed by the argument's bits (so -0.0 != 0.0)."""

    def __init__(self) -> None:
        self._rows: dict[int, list[float]] = {}

    def add(self, x: float, row: list[float]) -> None:
        self._rows[_bits64(x)] = row

    def __getitem__(self, x: float) -> list[float]:
        return self._rows[_bits64(x)]

    def items(self) -> Iterator[tuple[float, list[float]]]:
        for bits, row in self._rows.items():
            yield _from64(bits), row

    def arguments(self, lo: float, hi: float) -> list[float]:
        return sorted(x for x, _ in self.items() if lo <= x <= hi)


# ---------------------------------------------------------------------------------------------
# The crate, built once per module


@pytest.fixture(scope="module")
def erf_crate(cargo_available: None) -> Iterator[pathlib.Path]:
    """The check crate in a temporary directory under ``build/`` (removed afterwards)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    crate = pathlib.Path(tempfile.mkdtemp(prefix="test-erf-", dir=BUILD))
    try:
        (crate / "src").mkdir()
        (crate / "Cargo.toml").write_text(_MANIFEST)
        (crate / "src" / "lib.rs").write_text(_LIB)
        (crate / "src" / "main.rs").write_text(_MAIN)
        for name, (scalar, mode, body, ret) in _MODULES.items():
            (crate / "src" / f"{name}.rs").write_text(_module_source(scalar, mode, body, ret))
        yield crate
    finally:
        shutil.rmtree(crate, ignore_errors=True)


@pytest.fixture(scope="module")
def results(erf_crate: pathlib.Path) -> Results:
    """Build the crate (warnings denied, clippy -D warnings) and run it on every argument."""
    build_and_lint(erf_crate)
    xs = _arguments()
    stdin = "".join(f"{_bits64(x):x} {_bits32(_f32_of(x)):x}\n" for x in xs)
    proc = subprocess.run(
        [str(TARGET_DIR / "debug" / CRATE)], input=stdin, capture_output=True, text=True, check=True
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == len(xs)
    table = Results()
    for x, line in zip(xs, lines, strict=True):
        words = [int(w, 16) for w in line.split()]
        row = [_from64(w) for w in words[:4]] + [_from32(w) for w in words[4:8]]
        row += [_from64(words[8]), _from64(words[9]), _from32(words[10]), _from32(words[11])]
        table.add(x, row)
    return table


# ---------------------------------------------------------------------------------------------
# Measuring


def _ordered64(v: float) -> int:
    i = struct.unpack("<q", struct.pack("<d", v))[0]
    return i if i >= 0 else -(i & 0x7FFF_FFFF_FFFF_FFFF)


def _ordered32(v: float) -> int:
    i = struct.unpack("<i", struct.pack("<f", v))[0]
    return i if i >= 0 else -(i & 0x7FFF_FFFF)


def ulps64(a: float, b: float) -> int:
    """How many f64 values lie between ``a`` and ``b`` (0 when equal, -0.0 == 0.0)."""
    return abs(_ordered64(a) - _ordered64(b))


def ulps32(a: float, b: float) -> int:
    return abs(_ordered32(a) - _ordered32(b))


def _max_ulps(
    table: Results,
    column: int,
    reference: Callable[[float], float],
    lo: float,
    hi: float,
    f32: bool = False,
) -> int:
    worst = 0
    for x, row in table.items():
        if f32:
            x = _f32_of(x)
        if lo <= x <= hi:
            if f32:
                worst = max(worst, ulps32(row[column], _f32_of(reference(x))))
            else:
                worst = max(worst, ulps64(row[column], reference(x)))
    return worst


# An independent reference carried with 50 significant digits.


def _pi() -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60

        def arctan_inv(n: int) -> Decimal:
            x = Decimal(1) / n
            x2, s, t, k = x * x, x, x, 1
            while True:
                t *= -x2
                k += 2
                if abs(t / k) < Decimal(10) ** -58:
                    return s
                s += t / k

        return 4 * (4 * arctan_inv(5) - arctan_inv(239))


_PI = _pi()


def ref_erf_series(x: float) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        d = Decimal(x)
        z, a, s, n = d * d, d, d, 0
        while True:
            n += 1
            a = a * (-z) / n
            t = a / (2 * n + 1)
            s += t
            if abs(t) <= abs(s) * Decimal(10) ** -55:
                return 2 * s / _PI.sqrt()


def ref_erfc_fraction(x: float) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        d = Decimal(x)
        z = 2 * d * d
        n = int(600 / x**2) + 30
        t = z + 4 * n + 1
        for k in range(n - 1, -1, -1):
            t = z + 4 * k + 1 - (2 * k + 1) * (2 * k + 2) / t
        return (-(d * d)).exp() * 2 * d / t / _PI.sqrt()


def ref_erf(x: float) -> Decimal:
    if abs(x) < 3:
        return ref_erf_series(x)
    r = 1 - ref_erfc_fraction(abs(x))
    return r if x > 0 else -r


def ref_erfc(x: float) -> Decimal:
    if x < 2.5:
        with localcontext() as ctx:
            ctx.prec = 60
            return 1 - ref_erf_series(x)
    return ref_erfc_fraction(x)


def true_ulps(v: float, ref: Decimal, f32: bool = False) -> float:
    """``|v - ref|`` in units of the last place of the format at ``ref`` (subnormal spacing below)."""
    _, exp = math.frexp(float(ref))
    digits, emin = (24, -149) if f32 else (53, -1074)
    unit = Decimal(2) ** max(exp - digits, emin)
    return float(abs(Decimal(v) - ref) / unit)


def _sample(table: Results, lo: float, hi: float, count: int) -> list[float]:
    xs = table.arguments(lo, hi)
    step = max(1, len(xs) // count)
    return xs[::step]


# ---------------------------------------------------------------------------------------------
# The source text


@pytest.mark.parametrize("scalar, mode", CONFIGS)
def test_source_is_rustfmt_clean_and_defines_the_listed_names(scalar: str, mode: str) -> None:
    source = erf_helpers_source(scalar, mode)
    assert rustfmt_check(source) is None
    defined = re.findall(r"^fn (\w+)\(", source, flags=re.MULTILINE)
    assert tuple(defined) == ERF_HELPER_NAMES
    assert all(name.startswith("erf") for name in ERF_HELPER_NAMES)
    assert {"erf", "erfc"} <= set(defined)
    assert f"fn erf(x: {scalar}) -> {scalar} {{" in source
    assert f"fn erfc(x: {scalar}) -> {scalar} {{" in source
    assert "unsafe" not in source and "\nuse " not in source and not source.startswith("use ")
    assert ("libm::" in source) == (mode == "no_std")


def test_unknown_scalar_or_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown scalar type 'f16' for erf helpers"):
        erf_helpers_source("f16", "std")
    with pytest.raises(ConfigError, match="unknown backend mode 'alloc' for erf helpers"):
        erf_helpers_source("f64", "alloc")


def test_crate_builds_without_warnings_and_passes_clippy(erf_crate: pathlib.Path) -> None:
    # A no_std library (the no_std helpers) plus a std binary; modules using only erf or only erfc
    # prove that neither entry point is dead code when the other is used.
    build_and_lint(erf_crate)
    for name in _MODULES:
        assert rustfmt_check((erf_crate / "src" / f"{name}.rs").read_text()) is None, name


# ---------------------------------------------------------------------------------------------
# Special values


def test_special_values(results: Results) -> None:
    row = results
    for column in range(8):
        erf_col = column % 2 == 0
        assert math.isnan(row[math.nan][column])
        if erf_col:
            assert row[math.inf][column] == 1.0 and row[-math.inf][column] == -1.0
            assert math.copysign(1.0, row[-0.0][column]) == -1.0 and row[-0.0][column] == 0.0
            assert math.copysign(1.0, row[0.0][column]) == 1.0 and row[0.0][column] == 0.0
            assert row[1.7976931348623157e308][column] == 1.0
        else:
            assert row[math.inf][column] == 0.0 and math.copysign(1.0, row[math.inf][column]) == 1.0
            assert row[-math.inf][column] == 2.0
            assert row[0.0][column] == 1.0 and row[-0.0][column] == 1.0
            assert row[1e10][column] == 0.0 and row[-1e10][column] == 2.0


def test_single_entry_point_modules_agree(results: Results) -> None:
    # Modules that call only erf or only erfc compiled without dead-code warnings; same values.
    for x, row in results.items():
        for only, full in ((8, 1), (9, 2), (10, 4), (11, 7)):
            assert ulps64(row[only], row[full]) == 0 or (math.isnan(row[only]) and math.isnan(row[full])), x


# ---------------------------------------------------------------------------------------------
# Accuracy against math.erf / math.erfc (the platform libm, itself off by up to ~2.3 ulp)

# (column, reference, lo, hi, bound in ulps)
F64_VS_MATH = [
    (0, math.erf, -6.0, 6.0, 1),
    (1, math.erfc, -6.0, -1.5, 1),
    (1, math.erfc, -1.5, 1.5, 3),
    (1, math.erfc, 1.5, 6.0, 3),
    (1, math.erfc, 6.0, 26.0, 3),
    (1, math.erfc, 26.0, 27.5, 2),  # subnormal results
]


@pytest.mark.parametrize("mode_column", [0, 2], ids=["std", "no_std"])
@pytest.mark.parametrize("case", F64_VS_MATH, ids=lambda c: f"{c[1].__name__}[{c[2]},{c[3]}]")
def test_f64_against_math(results: Results, mode_column: int, case: tuple) -> None:
    column, reference, lo, hi, bound = case
    assert _max_ulps(results, mode_column + column, reference, lo, hi) <= bound


@pytest.mark.parametrize("mode_column", [4, 6], ids=["std", "no_std"])
def test_f32_against_math_rounded_to_f32(results: Results, mode_column: int) -> None:
    assert _max_ulps(results, mode_column, math.erf, -6.0, 6.0, f32=True) <= 1
    assert _max_ulps(results, mode_column + 1, math.erfc, -6.0, 10.5, f32=True) <= 1


# ---------------------------------------------------------------------------------------------
# Accuracy against the 50-digit reference (true errors, real-valued ulps)

# erf and erfc below 1.5 are nearly correctly rounded (erfc below -1.5 is 1 - erf: <= 0.75 ulp);
# the tail is exp's rounding plus one final rounding.
F64_TRUE = [
    (0, "erf", -6.0, 6.0, 0.51),
    (1, "erfc", -6.0, 1.5, 0.76),
    (1, "erfc", 1.5, 26.0, 1.5),
    (1, "erfc", 26.0, 27.3, 1.55),  # subnormal results: error in units of 2**-1074
]


@pytest.mark.parametrize("mode_column", [0, 2], ids=["std", "no_std"])
@pytest.mark.parametrize("case", F64_TRUE, ids=lambda c: f"{c[1]}[{c[2]},{c[3]}]")
def test_f64_true_error(results: Results, mode_column: int, case: tuple) -> None:
    column, name, lo, hi, bound = case
    reference = ref_erf if name == "erf" else ref_erfc
    worst = max(
        true_ulps(results[x][mode_column + column], reference(x)) for x in _sample(results, lo, hi, 1500)
    )
    assert worst <= bound


@pytest.mark.parametrize("mode_column", [4, 6], ids=["std", "no_std"])
def test_f32_true_error(results: Results, mode_column: int) -> None:
    worst_erf = max(
        true_ulps(results[x][mode_column], ref_erf(_f32_of(x)), f32=True)
        for x in _sample(results, -6, 6, 1500)
    )
    worst_erfc = max(
        true_ulps(results[x][mode_column + 1], ref_erfc(_f32_of(x)), f32=True)
        for x in _sample(results, -6, 10.5, 1500)
    )
    # One f64 -> f32 rounding (erf) and, below -1.5, erfc = 1 - erf rounded in f32 (<= 0.75 ulp).
    assert worst_erf <= 0.52 and worst_erfc <= 0.76
