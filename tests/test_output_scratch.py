"""Output elements as storage for values crossing chunks (``Allocation.scratch``).

An output element holds nothing useful until the statement that writes its final value, so the
allocator keeps cross-chunk values there when their last read comes no later; the verifier
proves every read sees the value written (tenants of one element never overlap, and none is read
after the element's final write), and the Rust printer stores and loads them through the output
slices. Checked here: the allocation executed with tagged values on random programs, a focused
case where an element must not be used, the verifier's exactness, and compiled crates (cargo,
clippy ``-D warnings``) against the interpreter, finite differences and closed forms.
"""

from __future__ import annotations

import math
import pathlib
import re

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradgen as gg
from gradgen import Function, SXVector
from gradgen.codegen import compile_kernel
from gradgen.config import RustBackendConfig
from gradgen.errors import VerificationError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.ops import Op
from gradgen.ir.verify import verify
from gradgen.passes.allocate import _FreeSet, allocate
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import simplification_passes
from gradgen.passes.schedule import SchedulePass
from tests.benchmarks import problems
from tests.random_programs import HypothesisDraw, Program, RandomDraw, general_program
from tests.test_allocate import allocated, execute
from tests.test_passes import PROPERTY, bits
from tests.test_rust_ops import build_and_run, reference


def _early_and_late() -> tuple[Kernel, dict[str, int]]:
    """Chunks of two statements: ``a`` (chunk 0) is read last by ``y`` (chunk 2); output
    ``early`` gets its final value at statement 1, before that read; ``late`` at statement 4."""
    b = KernelBuilder()
    x = b.input(0, 0)
    a = b.mul(x, b.const(3.0))  # statement 0, chunk 0
    e = b.emit(Op.SIN, (x,))  # statement 1, chunk 0: output ``early``
    t = b.emit(Op.COS, (x,))  # statement 2, chunk 1
    p = b.add(t, b.const(1.0))  # statement 3, chunk 1: read in chunk 2
    y = b.mul(a, p)  # statement 4, chunk 2: output ``late``
    k = b.finish("k", [Port("x", 1)], [Port("early", 1), Port("late", 1)], [[e], [y]])
    return k, {"a": a, "e": e, "t": t, "p": p, "y": y}


def test_an_output_written_before_the_last_read_is_not_used() -> None:
    k, ids = _early_and_late()
    alloc = allocate(k, 2)  # in id order, as listed above
    assert alloc.statements == [ids[n] for n in "aetpy"]
    # ``a`` waits in ``late[0]`` (written by its last reader); ``p`` finds ``late`` taken and
    # ``early`` written too soon (statement 1, before ``p`` even exists): a workspace slot
    assert alloc.scratch == {ids["a"]: (1, 0)} and alloc.slot == {ids["p"]: 0}
    assert alloc.workspace_size == 1
    good = attrs.evolve(k, allocation=alloc)
    verify(good, "good")
    assert execute(good, [[0.7]]) == run(k, [[0.7]])
    # ``a`` in ``early[0]``: statement 1 writes the final value there before statement 4 reads
    bad = attrs.evolve(k, allocation=attrs.evolve(alloc, scratch={ids["a"]: (0, 0)}))
    with pytest.raises(
        VerificationError,
        match=rf"v{ids['a']} is kept in output element 0\[0\] until statement 4, but the element's "
        r"final value is written by statement 1",
    ):
        verify(bad, "early")
    with pytest.raises(AssertionError, match=f"v{ids['a']} was overwritten before"):
        execute(bad, [[0.7]])
    # ``p`` sharing ``late[0]`` with ``a``: both live at statement 3
    clash = attrs.evolve(alloc, slot={}, scratch={ids["a"]: (1, 0), ids["p"]: (1, 0)}, workspace_size=0)
    with pytest.raises(VerificationError, match=r"output element 1\[0\] holds two values that are live"):
        verify(attrs.evolve(k, allocation=clash), "clash")
    # malformed records
    for scratch, slot, message in [
        ({ids["a"]: (2, 0)}, {ids["p"]: 0}, r"output element 2\[0\], which does not exist"),
        ({ids["a"]: (1, 1)}, {ids["p"]: 0}, r"output element 1\[1\], which does not exist"),
        ({ids["a"]: (1, 0)}, {ids["p"]: 0, ids["a"]: 0}, r"has both workspace slot 0 and output element"),
        ({0: (1, 0)}, {ids["p"]: 0}, r"v0 has output element 1\[0\] but is not computed"),
    ]:
        broken = attrs.evolve(alloc, scratch=scratch, slot=slot)
        with pytest.raises(VerificationError, match=message):
            verify(attrs.evolve(k, allocation=broken), "broken")


def test_a_zero_output_is_written_at_entry_and_never_used() -> None:
    """An output of ``+0.0`` constants may be filled before any statement (the printer does
    when half of it is zeros): no value is kept there, whatever its last read."""
    b = KernelBuilder()
    x = b.input(0, 0)
    a = b.mul(x, b.const(3.0))
    chain = a
    for _ in range(6):
        chain = b.add(b.mul(chain, chain), b.const(0.25))
    y = b.add(chain, a)
    zero = b.const(0.0)
    k = b.finish("z", [Port("x", 1)], [Port("zeros", 3), Port("y", 1)], [[zero, zero, x], [y]])
    alloc = allocate(k, 2)
    used = set(alloc.scratch.values())
    assert (0, 0) not in used and (0, 1) not in used
    # ``zeros[2]`` is the input, written after every statement: free for the whole call
    assert (0, 2) in used and (1, 0) in used
    verify(attrs.evolve(k, allocation=alloc), "zeros")
    assert execute(attrs.evolve(k, allocation=alloc), [[0.3]]) == run(k, [[0.3]])
    moved = {v: (0, 0) if e == (0, 2) else e for v, e in alloc.scratch.items()}
    bad = attrs.evolve(k, allocation=attrs.evolve(alloc, scratch=moved))
    with pytest.raises(
        VerificationError,
        match=r"output element 0\[0\] until statement \d+, but the element's final value is written at entry",
    ):
        verify(bad, "zero")
    with pytest.raises(AssertionError, match="overwritten after its final write"):
        execute(bad, [[0.3]])


@st.composite
def _many_outputs(draw: st.DrawFn) -> Program:
    """Random DAGs whose every computed value is an output: elements with final writes all
    along the schedule."""
    d = HypothesisDraw(draw)
    return general_program(d, max_nodes=50, every_output=draw(st.booleans()))


@PROPERTY
@given(_many_outputs(), st.sampled_from(("none", "basic", "max")), st.integers(1, 6))
def test_random_programs_with_output_storage_match_the_interpreter(
    program: Program, level: str, chunk: int
) -> None:
    k = PassManager(simplification_passes(level)).run(program.function("p").kernel)
    out = allocated(k, chunk)
    verify(out, "allocate")
    inputs = [[0.5 + 0.25 * j for j in range(program.n_inputs)]]
    assert [[bits(v) for v in r] for r in execute(out, inputs)] == [
        [bits(v) for v in r] for r in run(k, inputs)
    ]


def test_random_programs_do_keep_values_in_outputs() -> None:
    """The property above is not vacuous: over seeded programs, many values live in outputs,
    and the workspace is never larger than without output storage."""
    kept = 0
    for seed in range(40):
        program = general_program(RandomDraw(seed), max_nodes=60, every_output=seed % 2 == 0)
        k = SchedulePass().run(program.function("p").kernel)
        alloc = allocate(k, 3)
        kept += len(alloc.scratch)
        crossing = len(alloc.slot) + len(alloc.scratch)
        assert alloc.workspace_size <= crossing
        inputs = [[0.5 - 0.125 * j for j in range(program.n_inputs)]]
        got = execute(attrs.evolve(k, allocation=alloc), inputs)
        assert [[bits(v) for v in r] for r in got] == [[bits(v) for v in r] for r in run(k, inputs)]
    assert kept >= 40


@PROPERTY
@given(_many_outputs(), st.integers(1, 5), st.data())
def test_the_scratch_check_is_exact(program: Program, chunk: int, data: st.DataObject) -> None:
    """Moving one crossing value to any output element: the verifier accepts exactly the
    allocations that execute correctly."""
    k = SchedulePass().run(program.function("p").kernel)
    alloc = allocate(k, chunk)
    crossing = sorted([*alloc.slot, *alloc.scratch])
    if not crossing:
        return
    v = data.draw(st.sampled_from(crossing))
    p = data.draw(st.integers(0, len(k.results) - 1))
    j = data.draw(st.integers(0, len(k.results[p]) - 1))
    slot = {u: s for u, s in alloc.slot.items() if u != v}
    candidate = attrs.evolve(
        k, allocation=attrs.evolve(alloc, slot=slot, scratch={**alloc.scratch, v: (p, j)})
    )
    inputs = [[0.5 + 0.25 * i for i in range(program.n_inputs)]]
    try:
        verify(candidate, "moved")
    except VerificationError:
        with pytest.raises(AssertionError, match="overwritten"):
            execute(candidate, inputs)
        return
    assert [[bits(x) for x in r] for r in execute(candidate, inputs)] == [
        [bits(x) for x in r] for r in run(k, inputs)
    ]


# ---- compiled crates -----------------------------------------------------------------------------


class _Sym:
    sin = gg.sin

    @staticmethod
    def vec(name: str, n: int) -> SXVector:
        return SXVector.sym(name, n)


def _pendulum(n: int) -> Function:
    inputs, cost = problems.pendulum(_Sym, n)
    return Function("pend", inputs, [cost], input_names=["u", "x0"], output_names=["cost"])


def _chain_plus_linear() -> Function:
    """A gradient of six elements: one computed, one constant (2.0, written after every
    statement: free storage for the whole call) and four structural zeros (the output is filled
    at entry: never storage)."""
    x = SXVector.sym("x", 6)
    e = x[0]
    for _ in range(30):
        e = gg.sin(e) * 0.9 + 0.1 * x[0]
    return Function("chainlin", [x], [e + 2 * x[1]], input_names=["x"], output_names=["f"])


def _central(f: Function, point: list[list[float]], port: int, h: float = 1e-6) -> list[float]:
    """Central differences of scalar ``f`` w.r.t. input ``port`` at ``point``."""
    grad = []
    for i in range(len(point[port])):
        hi = [list(p) for p in point]
        lo = [list(p) for p in point]
        hi[port][i] += h
        lo[port][i] -= h
        grad.append((f(*hi) - f(*lo)) / (2 * h))
    return grad


def test_crate_keeping_values_in_outputs_across_chunks(tmp_path: pathlib.Path, cargo_available: None) -> None:
    """Kernels split into many chunks, handing values over through their output slices, build
    warning-free and clippy-clean, and compute the interpreter's values (which agree with
    finite differences)."""
    config = RustBackendConfig()
    pend = _pendulum(4)
    chainlin = _chain_plus_linear()
    functions = [(pend.gradient(0), 40), (pend.hvp(0), 60), (chainlin.gradient(0), 8)]
    names = [g.name for g, _ in functions]
    kernels = [
        compile_kernel(g.kernel, config, other_kernels=tuple(n for n in names if n != g.name), max_chunk=mc)
        for g, mc in functions
    ]
    for kernel in kernels:
        alloc = kernel.allocation
        assert alloc is not None and len(alloc.chunks) >= 5 and len(alloc.scratch) >= 5
    # the constant element of the last gradient holds values; its zeros (filled) never do
    used = set(kernels[2].allocation.scratch.values())  # type: ignore[union-attr]
    assert (0, 1) in used and not used & {(0, j) for j in range(2, 6)}
    u, x0, v = [0.3, -0.2, 0.5, 0.1], [0.4, -0.1], [1.0, -0.5, 0.25, 2.0]
    xs = [0.7, -1.2, 0.3, 0.4, 0.5, 0.6]
    points = [[[u, x0]], [[u, x0, v]], [[xs]]]
    results = build_and_run(tmp_path / "scratch", "gg_out_scratch", kernels, config, points)
    source = (tmp_path / "scratch" / "src" / "lib.rs").read_text()
    # a chunk reads a value an earlier chunk left in an output element
    assert re.search(r"let w\d+ = [^;]*\bgrad_u\[\d+\]", source)
    for (g, _), kernel, pts in zip(functions, kernels, points, strict=True):
        fn = kernel.notes["rust_names"].function
        got = results[(fn, 0)]
        want = reference(g, pts[0], "f64")
        assert got == want, fn  # the same IEEE operations in the same order
    grad = results[(kernels[0].notes["rust_names"].function, 0)][0]
    fd = _central(pend, [u, x0], 0)
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(grad, fd, strict=True))
    # H v against differences of the gradient along v
    h = 1e-5
    g_at = pend.gradient(0)
    plus = g_at([a + h * b for a, b in zip(u, v, strict=True)], x0)
    minus = g_at([a - h * b for a, b in zip(u, v, strict=True)], x0)
    hvp = results[(kernels[1].notes["rust_names"].function, 0)][0]
    fd_hvp = [(p - m) / (2 * h) for p, m in zip(plus, minus, strict=True)]
    assert all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6) for a, b in zip(hvp, fd_hvp, strict=True))
    lin = results[(kernels[2].notes["rust_names"].function, 0)][0]
    assert lin[1:] == [2.0, 0.0, 0.0, 0.0, 0.0]
    assert math.isclose(lin[0], _central(chainlin, [xs], 0)[0], rel_tol=1e-6)


@PROPERTY
@given(st.integers(0, 40), st.lists(st.tuples(st.sampled_from(("take", "free", "find")), st.integers(0, 45))))
def test_free_set_finds_the_first_free_position_like_a_scan(n: int, actions: list[tuple[str, int]]) -> None:
    free = _FreeSet(n)
    model = [True] * n
    for action, i in actions:
        if action == "find":
            want = next((j for j in range(i, n) if model[j]), None)
            assert free.first_from(i) == want
        elif i < n and model[i] == (action == "take"):
            model[i] = action != "take"
            (free.remove if action == "take" else free.add)(i)
