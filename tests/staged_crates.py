"""Test helpers shared by the staged-code tests: central differences over packed inputs, and one
crate holding many compiled kernels, built, linted and run against the Python evaluation."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence
from typing import Any

from gradgen.backends.crate import write_crate
from gradgen.backends.rust_literals import to_f32
from gradgen.backends.rust_module import emit_module
from gradgen.config import RustBackendConfig
from gradgen.pipeline import compile_kernel
from tests.cargo import build_and_lint, cargo, rustfmt_check
from tests.test_autodiff_rust import _main_rs

#: one kernel of a test crate: its Rust name, what to compile and evaluate (anything with a
#: ``kernel`` that is callable on its packed inputs), and those inputs
Case = tuple[str, Any, list[list[float]]]

Outputs = dict[str, list[float]]

#: horizons whose generated code must differ only in constants: one pair per parity (a loop
#: that runs two stages per iteration runs the last stage of an odd horizon after it)
HORIZON_PAIRS = ((6, 500), (5, 501))


def central_columns(
    fn: Callable[..., Any], args: list[list[float]], wrt: int, h: float = 1e-6
) -> list[list[float]]:
    """Central differences of ``fn`` (outputs flattened) w.r.t. packed input ``wrt``: one column
    per element of that input."""
    cols = []
    for j in range(len(args[wrt])):
        plus = [list(a) for a in args]
        minus = [list(a) for a in args]
        plus[wrt][j] += h
        minus[wrt][j] -= h
        fp, fm = fn(*plus), fn(*minus)
        fp = [fp] if isinstance(fp, float) else list(fp)
        fm = [fm] if isinstance(fm, float) else list(fm)
        cols.append([(a - b) / (2 * h) for a, b in zip(fp, fm, strict=True)])
    return cols


def build_and_compare(
    root: pathlib.Path,
    crate: str,
    cases: Sequence[Case],
    config: RustBackendConfig,
    compile_options: dict[str, dict[str, Any]] | None = None,
    check: Callable[[str, list[Any]], None] | None = None,
) -> tuple[Outputs, Outputs]:
    """Compile every case into one crate (inputs rounded to f32 for an f32 crate), check the
    module is rustfmt-exact (and ``check(source, kernels)``), build it with cargo and clippy
    -D warnings, run it, and return ``(rust, python)``: each output ``<name>.<k>`` as the crate
    and as the Python evaluation compute it."""
    f32 = config.scalar_type == "f32"
    compiled = []
    names: list[str] = []
    python: Outputs = {}
    for name, fn, args in cases:
        if f32:
            args = [[to_f32(v) for v in a] for a in args]
        options = (compile_options or {}).get(name, {})
        kernel = compile_kernel(fn.kernel, config, name, other_kernels=tuple(names), **options)
        names.append(name)
        compiled.append((name, kernel, args))
        outs = fn(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        for k, o in enumerate(outs):
            python[f"{name}.{k}"] = [o] if isinstance(o, float) else list(o)
    source = emit_module([k for _, k, _ in compiled], config)
    assert rustfmt_check(source) is None
    if check is not None:
        check(source, [k for _, k, _ in compiled])
    write_crate(root, crate, source, names, config.no_std)
    (root / "src" / "main.rs").write_text(_main_rs(crate, compiled, config.scalar_type))
    build_and_lint(root)  # cargo build, clippy -D warnings
    out = cargo(["run", "-q", "--bin", crate], root).stdout
    rust: Outputs = {}
    for line in out.splitlines():
        label, *vals = line.split(" ")
        rust[label] = [float(v) for v in vals]
    assert set(rust) == set(python)
    return rust, python
