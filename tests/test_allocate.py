"""Scheduling and workspace allocation: the allocation is checked by *executing* it (registers
and workspace slots hold tagged values, so reading a register or slot that was overwritten fails),
and the reuse is measured on long chains and a Rosenbrock-like sum."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradgen import SX, Function, SXVector
from gradgen.errors import ConfigError, VerificationError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.ops import LEAVES, Op, evaluate
from gradgen.ir.verify import verify
from gradgen.passes.allocate import DEFAULT_MAX_CHUNK, AllocatePass, allocate
from gradgen.passes.levels import LEVELS
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import codegen_passes, simplification_passes
from gradgen.passes.schedule import SchedulePass
from tests.random_programs import HypothesisDraw, Program, chain_program, general_program, shared_program
from tests.test_passes import PROPERTY, bits, finite_inputs, kernel_inputs, random_kernels


def execute(kernel: Kernel, inputs: list[list[float]]) -> list[list[float]]:
    """Run ``kernel`` the way the generated Rust does, through its allocation."""
    alloc = kernel.allocation
    assert alloc is not None
    chunk_of = {v: c for c, ch in enumerate(alloc.chunks) for v in alloc.statements[ch.start : ch.stop]}

    def leaf(v: int) -> float:
        attr = kernel.attrs[v]
        return inputs[attr[0]][attr[1]] if kernel.ops[v] is Op.INPUT else attr

    work: list[tuple[int, float] | None] = [None] * alloc.workspace_size
    # output elements: written with their final value by the statement that defines it (a
    # ``+0.0`` constant at entry, as a filled output is; other leaves after every statement), and
    # holding values of ``alloc.scratch`` before that
    out: list[list[tuple[int, float] | None]] = [[None] * len(res) for res in kernel.results]
    writes: dict[int, list[tuple[int, int]]] = {}
    for p, res in enumerate(kernel.results):
        for j, v in enumerate(res):
            writes.setdefault(v, []).append((p, j))
            if kernel.ops[v] is Op.CONST and bits(kernel.attrs[v]) == bits(0.0):
                out[p][j] = (v, 0.0)
    for c, ch in enumerate(alloc.chunks):
        regs: dict[int, tuple[int, float]] = {}
        for v in alloc.statements[ch.start : ch.stop]:
            vals = []
            for a in kernel.args[v]:
                if kernel.ops[a] in LEAVES:
                    vals.append(leaf(a))
                    continue
                if chunk_of[a] == c:
                    held = regs.get(alloc.local[a])
                elif a in alloc.scratch:
                    p, j = alloc.scratch[a]
                    held = out[p][j]
                else:
                    assert a in alloc.slot, f"v{a} is read in chunk {c} but has no workspace slot"
                    held = work[alloc.slot[a]]
                assert held is not None and held[0] == a, f"v{a} was overwritten before v{v} read it"
                vals.append(held[1])
            value = evaluate(kernel.ops[v], kernel.attrs[v], vals)
            assert 0 <= alloc.local[v] < alloc.register_count
            regs[alloc.local[v]] = (v, value)
            if v in alloc.slot:
                work[alloc.slot[v]] = (v, value)
            if v in alloc.scratch:
                p, j = alloc.scratch[v]
                out[p][j] = (v, value)
            for p, j in writes.get(v, ()):
                out[p][j] = (v, value)
    result: list[list[float]] = []
    for res, held_row in zip(kernel.results, out, strict=True):
        row = []
        for v, held in zip(res, held_row, strict=True):
            if kernel.ops[v] in LEAVES and not (kernel.ops[v] is Op.CONST and bits(leaf(v)) == bits(0.0)):
                row.append(leaf(v))  # written after every statement
                continue
            assert held is not None and held[0] == v, f"output v{v} was overwritten after its final write"
            row.append(held[1])
        result.append(row)
    return result


def allocated(kernel: Kernel, max_chunk: int = DEFAULT_MAX_CHUNK) -> Kernel:
    return PassManager(codegen_passes(max_chunk=max_chunk)).run(kernel)


@PROPERTY
@given(
    random_kernels(),
    st.sampled_from(("none", "basic", "max")),
    st.integers(1, 8),
    st.lists(finite_inputs, min_size=3, max_size=3),
)
def test_schedule_and_allocate_give_a_valid_allocation(
    kernel: Kernel, level: str, chunk: int, xs: list[float]
) -> None:
    k = PassManager(simplification_passes(level)).run(kernel)
    out = allocated(k, chunk)
    verify(out, "allocate")
    alloc = out.allocation
    assert alloc is not None
    assert all(ch.stop - ch.start <= chunk for ch in alloc.chunks)
    want = run(k, kernel_inputs(k, xs))
    got = execute(out, kernel_inputs(out, xs))
    assert [[bits(v) for v in r] for r in want] == [[bits(v) for v in r] for r in got]


def _chain(n: int) -> Function:
    x = SX.sym("x")
    e = x
    for _ in range(n):
        e = e * e + 1
    return Function("chain", [x], [e], output_names=["y"])


def test_long_chain_with_small_chunks_reuses_one_workspace_slot() -> None:
    f = _chain(2000)
    out = allocated(f.kernel, max_chunk=10)
    alloc = out.allocation
    assert alloc is not None
    assert len(alloc.statements) == 4000 and len(alloc.chunks) == 400
    # each chunk hands one value to the next, whose first statement reads it before the chunk
    # stores its own hand-over value: one place serves every boundary, the output element, free
    # until the last statement writes the result (no workspace at all)
    assert alloc.workspace_size == 0 and not alloc.slot
    assert len(alloc.scratch) == 399 and set(alloc.scratch.values()) == {(0, 0)}
    assert alloc.register_count <= 2
    assert execute(out, [[0.001]]) == run(out, [[0.001]])


def test_values_crossing_several_chunks_keep_their_slot() -> None:
    x = SX.sym("x")
    a = x * 3
    e = a
    for _ in range(30):
        e = e * 1.5 + 0.25
    f = Function("cross", [x], [e + a], output_names=["y"])  # ``a`` is read 60 statements later
    out = allocated(f.kernel, max_chunk=4)
    alloc = out.allocation
    assert alloc is not None
    # ``a`` keeps one place across all 16 chunks, the output element (its last reader is the
    # statement that writes the output, which reads it first); the chain's hand-over values
    # share one workspace slot (a slot is free again at its last reader, which reads it before
    # storing its own value)
    assert len(alloc.chunks) == 16
    a_id = alloc.statements[0]
    assert alloc.scratch == {a_id: (0, 0)}
    assert alloc.workspace_size == 1 and set(alloc.slot.values()) == {0}
    assert execute(out, [[0.5]]) == run(out, [[0.5]])


def _rosenbrock(n: int) -> Function:
    x = SXVector.sym("x", n)
    terms = [100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1)]
    return Function("rosenbrock", [x], [SXVector(terms).sum()], output_names=["f"])


@pytest.mark.parametrize("level", ["none", "max"])
def test_rosenbrock_needs_few_registers(level: str) -> None:
    f = _rosenbrock(200)
    k = PassManager(simplification_passes(level)).run(f.kernel)
    out = allocated(k)
    alloc = out.allocation
    assert alloc is not None
    assert alloc.register_count <= 6
    assert len(alloc.chunks) == 2 and alloc.workspace_size <= 2  # chunks hand over little
    xs = [0.1 * i - 3.0 for i in range(200)]
    ref = sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(199))
    assert abs(execute(out, [xs])[0][0] - ref) <= 1e-12 * abs(ref)


def test_rosenbrock_chunked_workspace_is_small() -> None:
    out = allocated(_rosenbrock(1000).kernel, max_chunk=50)
    alloc = out.allocation
    assert alloc is not None
    assert len(alloc.chunks) > 100
    # a chunk boundary can cut a term: the running sum and up to two partial values cross it
    assert alloc.workspace_size <= 3 and alloc.register_count <= 6


def test_kernel_without_statements_has_no_chunks() -> None:
    b = KernelBuilder()
    x = b.input(0, 0)
    k = b.finish("id", [Port("x", 2)], [Port("y", 2)], [[x, b.const(3.0)]])
    out = allocated(k)
    assert out.allocation is not None
    assert out.allocation.chunks == [] and out.allocation.workspace_size == 0
    assert execute(out, [[4.0, 5.0]]) == [[4.0, 3.0]]


def test_outputs_shared_between_ports_and_duplicates() -> None:
    x = SXVector.sym("x", 2)
    s = x[0] * x[1]
    f = Function("dup", [x], [SXVector([s, s + 1, s]), s], output_names=["a", "b"])
    out = allocated(f.kernel, max_chunk=1)
    assert execute(out, [[2.0, 3.0]]) == [[6.0, 7.0, 6.0], [6.0]]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_chunk_sizes_are_config_errors(bad: object) -> None:
    with pytest.raises(
        ConfigError,
        match=r"max_chunk \(statements per generated function\) must be a positive integer, got "
        + repr(bad).replace(".", r"\."),
    ):
        AllocatePass(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"must be a positive integer"):
        allocate(_chain(1).kernel, bad)  # type: ignore[arg-type]


# ---- statement granularity: a slot is free again at its last reader ---------------------------


@st.composite
def _programs(draw: st.DrawFn) -> Program:
    d = HypothesisDraw(draw)
    pick = draw(st.integers(0, 2))
    if pick == 0:
        return general_program(d, max_nodes=60)
    if pick == 1:
        return chain_program(d, 20, 80)
    return shared_program(d, 5, 20)


@PROPERTY
@given(
    _programs(), st.sampled_from(LEVELS), st.integers(1, 12), st.lists(finite_inputs, min_size=4, max_size=4)
)
def test_random_programs_run_through_their_allocation_as_the_interpreter_runs_them(
    program: Program, level: str, chunk: int, xs: list[float]
) -> None:
    """At every level and chunk size, executing the allocation (registers and slots holding
    tagged values) gives the interpreter's bits, and the verifier accepts it."""
    k = PassManager(simplification_passes(level)).run(program.function("p").kernel)
    out = allocated(k, chunk)
    verify(out, "allocate")
    inputs = [[xs[j % len(xs)] for j in range(program.n_inputs)]]
    want = run(k, inputs)
    got = execute(out, inputs)
    assert [[bits(v) for v in r] for r in want] == [[bits(v) for v in r] for r in got]


@PROPERTY
@given(_programs(), st.integers(1, 6), st.data())
def test_an_allocation_the_verifier_accepts_runs_correctly(
    program: Program, chunk: int, data: st.DataObject
) -> None:
    """Merging two workspace slots: whenever the verifier accepts the result, executing it still
    gives the interpreter's values (the statement-granularity check is sound)."""
    k = SchedulePass().run(program.function("p").kernel)
    alloc = allocate(k, chunk)
    if alloc.workspace_size < 2:
        return
    keep, gone = data.draw(
        st.lists(st.integers(0, alloc.workspace_size - 1), min_size=2, max_size=2, unique=True)
    )
    merged = {v: keep if s == gone else s for v, s in alloc.slot.items()}
    bad = attrs.evolve(alloc, slot=merged)
    candidate = attrs.evolve(k, allocation=bad)
    inputs = [[0.5 + 0.25 * j for j in range(program.n_inputs)]]
    try:
        verify(candidate, "merged")
    except VerificationError:
        with pytest.raises(AssertionError, match="was overwritten before"):
            execute(candidate, inputs)
        return
    assert [[bits(v) for v in r] for r in execute(candidate, inputs)] == [
        [bits(v) for v in r] for r in run(k, inputs)
    ]


def test_one_statement_reads_a_slot_and_stores_its_own_value_in_it() -> None:
    out = allocated(_chain(50).kernel, max_chunk=1)
    alloc = out.allocation
    assert alloc is not None and len(alloc.chunks) == 100
    # every statement reads y[0] and then stores to it; the last one writes its final value
    assert alloc.workspace_size == 0 and len(alloc.scratch) == 99
    assert set(alloc.scratch.values()) == {(0, 0)}
    assert execute(out, [[0.25]]) == run(out, [[0.25]])
    # the same through one workspace slot: every statement reads work[0] and then stores to it
    slots = attrs.evolve(alloc, slot=dict.fromkeys(alloc.scratch, 0), scratch={}, workspace_size=1)
    verify(attrs.evolve(out, allocation=slots), "one slot")
    assert execute(attrs.evolve(out, allocation=slots), [[0.25]]) == run(out, [[0.25]])


def test_a_slot_stored_before_its_last_read_in_the_same_chunk_is_refused() -> None:
    b = KernelBuilder()
    x = b.input(0, 0)
    a = b.mul(x, b.const(3.0))  # statement 0, chunk 0
    pad = b.add(a, b.const(1.0))  # statement 1, chunk 0
    t = b.emit(Op.SIN, (x,))  # statement 2, chunk 1: read in chunk 2
    u = b.mul(a, pad)  # statement 3, chunk 1: the last read of ``a``
    y = b.add(t, u)  # statement 4, chunk 2
    k = b.finish("k", [Port("x", 1)], [Port("y", 1)], [[y]])
    chosen = allocate(k, 2)  # in id order, as listed above
    assert chosen.statements == [a, pad, t, u, y]
    # ``a`` lives in the output element (read last at statement 3, before ``y`` is written at
    # 4), ``pad`` and ``t`` in slots; ``u`` takes the element at the statement that reads ``a``
    # last
    assert chosen.scratch == {a: (0, 0), u: (0, 0)} and chosen.slot == {pad: 0, t: 1}
    assert chosen.workspace_size == 2
    verify(attrs.evolve(k, allocation=chosen), "chosen")
    assert execute(attrs.evolve(k, allocation=chosen), [[0.5]]) == run(k, [[0.5]])
    # the same with workspace slots only: ``u`` takes the slot of ``a`` at the statement that
    # reads ``a`` last, ``t`` needs a third one
    good = attrs.evolve(chosen, slot={a: 0, pad: 1, t: 2, u: 0}, scratch={}, workspace_size=3)
    verify(attrs.evolve(k, allocation=good), "good")
    assert execute(attrs.evolve(k, allocation=good), [[0.5]]) == run(k, [[0.5]])
    # ``t`` stored into the slot of ``a`` one statement before ``a`` is read there: refused
    clash = attrs.evolve(good, slot={a: 0, pad: 1, t: 0, u: 2})
    with pytest.raises(
        VerificationError, match="workspace slot 0 holds two values that are live at the same time"
    ):
        verify(attrs.evolve(k, allocation=clash), "clash")
    with pytest.raises(AssertionError, match="was overwritten before"):
        execute(attrs.evolve(k, allocation=clash), [[0.5]])
