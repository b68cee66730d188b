"""Self-tests of a generated crate: ``tests/reference.rs``, run by ``cargo test`` without Python.

For every generated function the file has two tests:

* ``<fn>_matches_the_python_evaluator``: the function called at :data:`POINTS` seeded points,
  each output compared with the value gradgen's Python evaluator (:func:`ir.interp.run`, the
  IEEE semantics of the generated code) computed for the same compiled kernel at generation
  time. The points are ``0.25 + m / 1024`` (``m`` from a fixed hash, so every input is exact in
  ``f32`` and ``f64`` and positive, inside the domain of ``log`` and ``sqrt``). An element
  passes when ``|got - want| <= tol * (|want| + scale)``, ``scale`` being the largest finite
  ``|want|`` of that output (so cancellation inside one output does not count as an error);
  ``tol`` follows the scalar type (:func:`tolerance`): a few ulps for ``f64`` (only the math
  library of the target differs from the evaluator), and for ``f32``, whose arithmetic is
  compared with the ``f64`` reference, ``f32`` ulps scaled by the square root of the number of
  operations. A NaN reference wants a NaN, an infinite one the same infinity.
* ``<fn>_rejects_wrong_lengths``: every input and output slice one element too short and one
  too long, and the workspace one element too short (when it has a minimum), each must return
  the matching ``GradgenError`` variant naming that argument with the expected and actual
  lengths, and leave every output slice as it was (filled with a sentinel).

The tests are an integration test of the crate (``tests/``), so a ``no_std`` crate is tested on
the host with ``std`` available to the test only. The file is laid out as ``rustfmt`` prints it
and is clean under ``cargo clippy --all-targets -- -D warnings``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel

from .emitter import (
    ARRAY_WIDTH,
    MAX_WIDTH,
    Call,
    Emitter,
    _array_items,
    emit_assign,
    emit_call_statement,
    emit_fn_header,
)
from .names import find_rust_names
from .rust_literals import float_literal
from .scalars import scalar_type
from .signature import FunctionSignature

#: the path of the self-tests inside the crate
SELF_TESTS_FILE = "tests/reference.rs"
#: seeded points per function
POINTS = 3
#: relative tolerance in ulps of the scalar type (times sqrt(op count) for f32)
ULPS = 16
#: what output slices hold before a call that must fail (and still hold after it)
SENTINEL = 7.0

_HELPERS = """const SENTINEL: {t} = {sentinel};

fn check(what: &str, got: &[{t}], want: &[{t}], tol: {t}) {{
    assert_eq!(got.len(), want.len(), "{{what}}: length");
    let scale = want
        .iter()
        .filter(|w| w.is_finite())
        .fold(0.0, |m: {t}, w| m.max(w.abs()));
    for (k, (g, w)) in got.iter().zip(want).enumerate() {{
        let ok = if w.is_nan() {{
            g.is_nan()
        }} else if w.is_infinite() {{
            g == w
        }} else {{
            (g - w).abs() <= tol * (w.abs() + scale)
        }};
        assert!(
            ok,
            "{{what}}[{{k}}] = {{g:e}}, expected {{w:e}} (tolerance {{tol:e}})"
        );
    }}
}}

fn untouched(what: &str, out: &[{t}]) {{
    assert!(
        out.iter().all(|v| v.to_bits() == SENTINEL.to_bits()),
        "{{what}}: an output was written before the error"
    );
}}
"""

#: the ``GradgenError`` variant of each argument role
_VARIANTS = {"input": "InputLength", "output": "OutputLength", "workspace": "WorkspaceLength"}


def _error_helper(role: str) -> str:
    """``fn <role>(argument, expected, actual)``: the error a wrong slice of that role returns."""
    head = f"fn {role}(argument: &'static str, expected: usize, actual: usize) -> Result<(), GradgenError> {{"
    fields = "".join(f"        {f},\n" for f in ("argument", "expected", "actual"))
    return f"{head}\n    Err(GradgenError::{_VARIANTS[role]} {{\n{fields}    }})\n}}\n"


def tolerance(scalar: str, op_count: int) -> float:
    """The relative tolerance of the self-tests (see the module documentation)."""
    info = scalar_type(scalar)
    growth = 1.0 if info.bits == 64 else max(1.0, math.sqrt(op_count))
    return ULPS * info.epsilon * growth


def seeded_point(kernel_index: int, point: int, sizes: Sequence[int]) -> list[list[float]]:
    """The inputs of seeded point ``point`` of the ``kernel_index``-th function: values
    ``0.25 + m / 1024`` with ``m`` in ``0..1023`` from a fixed hash."""
    out = []
    for p, n in enumerate(sizes):
        block = []
        for j in range(n):
            m = (7919 * kernel_index + 104729 * point + 1299709 * p + 15485863 * j + 31) % 1024
            block.append(0.25 + m / 1024)
        out.append(block)
    return out


def _const_array(e: Emitter, name: str, scalar: str, values: Sequence[float]) -> None:
    items = [float_literal(v, scalar) for v in values]
    head = f"const {name}: [{scalar}; {len(items)}] = "
    joined = ", ".join(items)
    if len(joined) <= ARRAY_WIDTH:
        if len(head) + len(joined) + 3 <= MAX_WIDTH:
            e.line(f"{head}[{joined}];")
        else:
            e.line(head.rstrip())
            e.lines.append(f"    [{joined}];")
        return
    e.line(head + "[")
    _array_items(e, items, ";")


def render_self_tests(
    crate_name: str, signatures: Sequence[FunctionSignature], kernels: Sequence[Kernel], scalar: str
) -> str:
    """The text of ``tests/reference.rs`` for the functions of one crate (``kernels``: the
    compiled, named kernels in the order of ``signatures``)."""
    e = Emitter()
    e.line(f"//! Self-tests of `{crate_name}`, generated by gradgen: every function at seeded points")
    e.line("//! against the values of gradgen's Python evaluator, and every slice-length error.")
    e.line("//! Run them with `cargo test`.")
    e.line("#![allow(")
    e.line("clippy::approx_constant,")
    e.line("clippy::excessive_precision,")
    e.line("clippy::useless_vec")
    e.line(")]")
    e.line()
    # the functions are called by path, so no helper below can shadow one of them
    e.line(f"use {crate_name}::GradgenError;")
    e.line()
    e.block(_HELPERS.format(t=scalar, sentinel=float_literal(SENTINEL, scalar)))
    used = {"input", "output"} | ({"workspace"} if any(s.workspace_size for s in signatures) else set())
    for variant in ("input", "output", "workspace"):
        if variant in used:
            e.line()
            e.block(_error_helper(variant))
    for k, (sig, kernel) in enumerate(zip(signatures, kernels, strict=True)):
        _reference_test(e, crate_name, k, sig, kernel, scalar)
        _error_test(e, crate_name, sig, kernel, scalar)
    return e.getvalue()


def _reference_test(
    e: Emitter, crate_name: str, k: int, sig: FunctionSignature, kernel: Kernel, scalar: str
) -> None:
    fn = sig.function_name
    points = []
    for p in range(POINTS):
        inputs = seeded_point(k, p, sig.input_sizes)
        points.append((inputs, run(kernel, inputs)))
    for p, (inputs, outputs) in enumerate(points):
        e.line()
        for j, block in enumerate(inputs):
            _const_array(e, f"REF_{k}_{p}_IN_{j}", scalar, block)
        for j, block in enumerate(outputs):
            _const_array(e, f"REF_{k}_{p}_OUT_{j}", scalar, block)
    tol = float_literal(tolerance(scalar, kernel.op_count()), scalar)
    e.line()
    e.line("#[test]")
    emit_fn_header(e, "", f"{fn}_matches_the_python_evaluator", (), "")
    for j, a in enumerate(sig.outputs):
        e.line(f"let mut out_{j} = vec![0.0_{scalar}; {a.size}];")
    e.line(f"let mut work = vec![0.0_{scalar}; {sig.workspace_size}];")
    for p in range(POINTS):
        args = [f"&REF_{k}_{p}_IN_{j}" for j in range(len(sig.inputs))]
        args += [f"&mut out_{j}" for j in range(len(sig.outputs))]
        args.append("&mut work")
        emit_assign(e, "let result = ", Call(f"{crate_name}::{fn}", tuple(args)))
        e.line("assert_eq!(result, Ok(()));")
        for j, a in enumerate(sig.outputs):
            what = f'"{fn}: `{a.name}` at point {p}"'
            call = Call("check", (what, f"&out_{j}", f"&REF_{k}_{p}_OUT_{j}", tol))
            emit_call_statement(e, call)
    e.line("}")


def _error_test(e: Emitter, crate_name: str, sig: FunctionSignature, kernel: Kernel, scalar: str) -> None:
    fn = sig.function_name
    names = find_rust_names(kernel)
    assert names is not None
    e.line()
    e.line("#[test]")
    emit_fn_header(e, "", f"{fn}_rejects_wrong_lengths", (), "")
    for j, a in enumerate(sig.inputs):
        e.line(f"let in_{j} = vec![0.5_{scalar}; {a.size + 1}];")
    for j, a in enumerate(sig.outputs):
        e.line(f"let mut out_{j} = vec![SENTINEL; {a.size + 1}];")
    w = sig.workspace_size
    e.line(f"let mut work = vec![0.0_{scalar}; {w}];")

    def call(bad: str, length: int) -> Call:
        args = []
        for j, a in enumerate(sig.inputs):
            n = length if bad == f"in_{j}" else a.size
            args.append(f"&in_{j}[..{n}]")
        for j, a in enumerate(sig.outputs):
            n = length if bad == f"out_{j}" else a.size
            args.append(f"&mut out_{j}[..{n}]")
        args.append(f"&mut work[..{length}]" if bad == "work" else "&mut work")
        return Call(f"{crate_name}::{fn}", tuple(args))

    cases: list[tuple[str, int, str, str, int]] = []
    for j, a in enumerate(sig.inputs):
        cases += [
            (f"in_{j}", a.size - 1, "input", a.name, a.size),
            (f"in_{j}", a.size + 1, "input", a.name, a.size),
        ]
    for j, a in enumerate(sig.outputs):
        cases += [
            (f"out_{j}", a.size - 1, "output", a.name, a.size),
            (f"out_{j}", a.size + 1, "output", a.name, a.size),
        ]
    if w:
        cases.append(("work", w - 1, "workspace", names.work, w))
    checks = Emitter()  # the same checks after every refused call: laid out once
    checks.level = e.level
    for j in range(len(sig.outputs)):
        emit_call_statement(checks, Call("untouched", (f'"{fn}"', f"&out_{j}")))
    untouched = checks.lines
    for bad, length, variant, arg, expected in cases:
        emit_assign(e, "let result = ", call(bad, length))
        expected_error = Call(variant, (f'"{arg}"', str(expected), str(length)))
        emit_call_statement(e, Call("assert_eq!", ("result", expected_error)))
        e.lines += untouched
    e.line("}")
