"""Many separate outputs: the length checks of the slices are one loop past a limit, so that
rustc's compile time stays linear in the number of outputs (a thousand separate early returns
made it grow about cubically: 1,000 outputs 15 s, 2,000 outputs 111 s)."""

from __future__ import annotations

import pathlib
import resource
import time

import gradgen as gg
from gradgen import Function, SXVector
from gradgen.backends.rust import GROUPED_CHECKS_MIN
from tests.cargo import build_and_lint, cargo, rustfmt_check

X = SXVector.sym("x", 3)


def _many(n: int) -> Function:
    return Function("many", [X], [gg.sin(X[i % 3]) * float(i + 1) + X[(i + 1) % 3] for i in range(n)])


def test_checks_are_one_loop_from_the_limit_on() -> None:
    below = _many(GROUPED_CHECKS_MIN - 1).generate_rust().source
    assert "for (argument, expected, actual) in [" not in below
    assert below.count("return Err(GradgenError::OutputLength {") == GROUPED_CHECKS_MIN - 1
    at = _many(GROUPED_CHECKS_MIN).generate_rust().source
    assert at.count("for (argument, expected, actual) in [") == 1
    assert at.count("return Err(GradgenError::OutputLength {") == 1
    assert f'("out{GROUPED_CHECKS_MIN - 1}", 1, out{GROUPED_CHECKS_MIN - 1}.len()),' in at
    assert rustfmt_check(at) is None


def _runner(n: int, work: int) -> str:
    outs = ", ".join("it.next().unwrap()" for _ in range(n - 1))
    return f"""//! Calls `many` with good slices, then with a last output of the wrong length.
use gg_many::*;

fn main() {{
    let x = [0.5, -1.25, 2.0];
    let mut buf = vec![0.0f64; {n}];
    let mut it = buf.chunks_mut(1);
    let last = it.next_back().unwrap();
    let mut work = vec![0.0f64; {max(work, 1)}];
    many(&x, {outs}, last, &mut work).unwrap();
    println!("{{:?}}", buf.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    let mut good = vec![0.0f64; {n - 1}];
    let mut bad = [0.0f64; 2];
    let mut it = good.chunks_mut(1);
    let err = many(&x, {outs}, &mut bad, &mut work).unwrap_err();
    println!("{{err}}");
}}
"""


def test_two_thousand_outputs_build_fast_and_check_lengths(tmp_path: pathlib.Path) -> None:
    n = 2000
    f = _many(n)
    path = tmp_path / "many"
    result = gg.create_rust_project(f, path, crate_name="gg_many")
    assert rustfmt_check(result.source) is None
    (path / "src" / "main.rs").write_text(_runner(n, result.generation.workspace_size))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    start = time.monotonic()
    cargo(["build", "--release"], path)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    wall = time.monotonic() - start
    # measured 10-13 s of CPU for 2,000 outputs (the separate checks: far beyond a minute)
    assert cpu < 60.0, f"cargo build --release of {n} outputs took {cpu:.1f} s CPU ({wall:.1f} s wall)"
    build_and_lint(path, release=True)
    out = cargo(["run", "-q", "--release"], path).stdout.splitlines()
    import ast
    import struct

    bits = ast.literal_eval(out[0])
    got = [struct.unpack("<d", struct.pack("<Q", b))[0] for b in bits]
    assert got == list(f([0.5, -1.25, 2.0]))
    assert out[1] == f"output `out{n - 1}` has length 2, expected 1"
