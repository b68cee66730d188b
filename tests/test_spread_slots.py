"""Workspace slots spread over a long workspace (``passes/allocate.py``, ``SPREAD_MIN``).

Values crossing chunks one after the other used to take neighbouring slots, the stores LLVM's SLP
vectorizer starts from; in a workspace of at least ``SPREAD_MIN`` slots slot ``s`` becomes
``s * step % size``. The tests check that this is a bijection that keeps the allocation valid
(the verifier, the interpreter, a compiled crate against the interpreter and finite
differences), that neighbouring slots are gone, and that a short workspace keeps its numbering.
"""

from __future__ import annotations

import math
import pathlib
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradgen.passes.allocate as allocate_module
from gradgen import Function, RustBackendConfig
from gradgen.codegen import compile_kernel
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel
from gradgen.ir.verify import verify
from gradgen.passes.allocate import SPREAD_MIN, allocate
from gradgen.passes.schedule import SchedulePass
from tests.bench_kernels import Ours
from tests.benchmarks import problems
from tests.random_programs import HypothesisDraw, chain_program
from tests.test_allocate import execute
from tests.test_passes import bits
from tests.test_rust_ops import build_and_run, reference


def _pendulum(n: int) -> Function:
    inputs, cost = problems.pendulum(Ours, n)
    return Function("pend", inputs, [cost], input_names=["u", "x0"], output_names=["cost"])


def _neighbours(kernel: Kernel) -> tuple[int, int, list[int]]:
    """(workspace size, pairs of values stored one after the other in neighbouring slots,
    the sorted slots in use)."""
    alloc = kernel.allocation
    assert alloc is not None
    at = {v: k for k, v in enumerate(alloc.statements)}
    stored = sorted(alloc.slot, key=at.__getitem__)
    pairs = sum(abs(alloc.slot[a] - alloc.slot[b]) == 1 for a, b in pairwise(stored))
    return alloc.workspace_size, pairs, sorted(set(alloc.slot.values()))


@pytest.mark.parametrize(("kernel", "size", "stored"), [("grad", 99, 99), ("hvp", 222, 239)])
def test_a_long_workspace_has_no_neighbouring_slots_in_store_order(
    kernel: str, size: int, stored: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pendulum(20): unspread, almost every value stored after another sits in the next slot;
    spread, none does, and the same slots are used (a bijection of the workspace)."""
    f = _pendulum(20)
    g = f.gradient(0) if kernel == "grad" else f.hvp(0)
    spread = compile_kernel(g.kernel, RustBackendConfig())
    monkeypatch.setattr(allocate_module, "SPREAD_MIN", 10**9)
    plain = compile_kernel(g.kernel, RustBackendConfig())
    n, pairs, used = _neighbours(spread)
    n0, pairs0, used0 = _neighbours(plain)
    assert n == n0 == size >= SPREAD_MIN
    assert used == used0 == list(range(size))
    assert len(spread.allocation.slot) == stored  # type: ignore[union-attr]
    assert pairs0 >= 0.75 * stored and pairs == 0
    point = [[0.3 - 0.05 * j for j in range(20)], [0.4, -0.1]]
    if kernel == "hvp":
        point.append([1.0 - 0.1 * j for j in range(20)])
    assert execute(spread, point) == execute(plain, point) == run(g.kernel, point)


def test_a_short_workspace_keeps_its_numbering() -> None:
    """Below ``SPREAD_MIN`` slots the first value stored takes slot 0, the next new one slot 1."""
    k = compile_kernel(_pendulum(4).gradient(0).kernel, RustBackendConfig(), max_chunk=40)
    n, pairs, used = _neighbours(k)
    assert 1 < n < SPREAD_MIN and used == list(range(n))
    alloc = k.allocation
    assert alloc is not None
    first = min(alloc.slot, key=alloc.statements.index)
    assert alloc.slot[first] == 0 and pairs >= 1


@st.composite
def _chain_gradients(draw: st.DrawFn) -> Kernel:
    """The gradient of a random chain of 70-160 steps: its reverse sweep reads a value of
    every step, so in short chunks 100-odd values cross at once."""
    program = chain_program(HypothesisDraw(draw), 70, 160)
    return program.function("p", scalar_output=True).gradient(0).kernel


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chain_gradients(), st.integers(1, 8))
def test_spread_allocations_of_random_gradients_match_the_interpreter(kernel: Kernel, chunk: int) -> None:
    """Every workspace here reaches ``SPREAD_MIN`` slots and is spread: the same slots are
    used, and the allocation is valid and computes the interpreter's values."""
    k = SchedulePass().run(kernel)
    alloc = allocate(k, chunk)
    out = k.with_annotations(allocation=alloc)
    verify(out, "allocate")
    n, _, used = _neighbours(out)
    assert n >= SPREAD_MIN and used == list(range(n))
    inputs = [[0.5 + 0.125 * j for j in range(kernel.inputs[0].size)]]
    assert [[bits(v) for v in r] for r in execute(out, inputs)] == [
        [bits(v) for v in r] for r in run(k, inputs)
    ]


def test_crate_with_spread_slots(tmp_path: pathlib.Path, cargo_available: None) -> None:
    """The pendulum(20) gradient and HVP (99 and 222 spread slots) build warning-free and
    clippy-clean, compute the interpreter's values bit for bit, and the gradient agrees with
    central differences."""
    config = RustBackendConfig()
    f = _pendulum(20)
    functions = [f.gradient(0), f.hvp(0)]
    names = [g.name for g in functions]
    kernels = [
        compile_kernel(g.kernel, config, other_kernels=tuple(n for n in names if n != g.name))
        for g in functions
    ]
    assert [k.allocation.workspace_size for k in kernels] == [99, 222]  # type: ignore[union-attr]
    u, x0 = [0.3 - 0.05 * j for j in range(20)], [0.4, -0.1]
    v = [1.0 - 0.1 * j for j in range(20)]
    points = [[[u, x0]], [[u, x0, v]]]
    results = build_and_run(tmp_path / "spread", "gg_spread_slots", kernels, config, points)
    for g, kernel, pts in zip(functions, kernels, points, strict=True):
        got = results[(kernel.notes["rust_names"].function, 0)]
        assert got == reference(g, pts[0], "f64")
    grad = results[(kernels[0].notes["rust_names"].function, 0)][0]
    h = 1e-6
    for i in (0, 7, 19):
        hi, lo = list(u), list(u)
        hi[i] += h
        lo[i] -= h
        fd = (f(hi, x0) - f(lo, x0)) / (2 * h)
        assert math.isclose(grad[i], fd, rel_tol=1e-6, abs_tol=1e-7)


def test_spread_min_is_a_measured_threshold() -> None:
    """The logsumexp(20) gradient (19 slots) keeps its numbering, the pendulum(20) gradient
    (99) is spread: the kernels of ``tests/benchmarks/KERNEL_SPEED.md`` on either side."""
    inputs, expr = problems.PROBLEMS["logsumexp"](Ours, 20)
    lse = Function("lse", inputs, [expr], input_names=["x"], output_names=["y"])
    k = compile_kernel(lse.gradient(0).kernel, RustBackendConfig())
    n, pairs, _ = _neighbours(k)
    assert n == 19 < SPREAD_MIN and pairs == 18
