"""The shortcuts that keep the build pipeline fast, checked against the work they replace.

No timing here: each shortcut is checked to give exactly what the long way gives (a rebuild, a
re-emission, a full verification, the iterative post-order), and where it skips work, the test
checks *that* it skipped it (the same object comes back) rather than how long it took.
"""

from __future__ import annotations

import gc
import math

import attrs
import pytest
from hypothesis import given

from gradgen import SX, Function, SXVector
from gradgen.errors import VerificationError
from gradgen.ir.expr import iter_dag
from gradgen.ir.fold import STRUCTURAL, peephole
from gradgen.ir.kernel import Allocation, Chunk, Kernel, KernelBuilder, Port, rebuild
from gradgen.ir.lower import lower
from gradgen.ir.ops import LEAVES, OP_INFO, VARIADIC, AttrKind, Op
from gradgen.ir.printer import format_kernel
from gradgen.ir.verify import verify
from gradgen.passes.allocate import allocate
from gradgen.passes.cse import CSEPass
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import codegen_passes, simplification_passes
from gradgen.passes.schedule import SchedulePass
from gradgen.passes.simplify import SimplifyPass
from tests.test_passes import PROPERTY, random_kernels

# ---- the peephole fast path ----------------------------------------------------------------------


def _attr_for(op: Op) -> object:
    kind = OP_INFO[op].attr
    if kind is AttrKind.INT:
        return 3
    if kind is AttrKind.PARAM:
        return 1.5
    return None


@pytest.mark.parametrize("op", [op for op in Op if op not in LEAVES], ids=lambda op: OP_INFO[op].name)
def test_peephole_never_fires_without_constants_outside_structural_ops(op: Op) -> None:
    """Builders skip the peephole for non-STRUCTURAL ops whose arguments are all non-constant;
    that is only sound if the peephole returns None there, including for repeated arguments."""
    b = KernelBuilder()
    x, y, z = (b.input(0, j) for j in range(3))
    arity = 3 if OP_INFO[op].arity == VARIADIC else OP_INFO[op].arity
    for args in ((x, y, z)[:arity], (x,) * arity, (b.neg(x), b.neg(y), z)[:arity]):
        got = peephole(op, args, _attr_for(op), b.const_of, b.view)
        if op not in STRUCTURAL:
            assert got is None, (op, args, got)
    # and the structural ones do fire somewhere without a constant
    assert peephole(Op.MAX, (x, x), None, b.const_of, b.view) == ("ref", x)
    assert peephole(Op.NEG, (b.neg(x),), None, b.const_of, b.view) == ("ref", x)
    assert peephole(Op.POWI, (x,), 1, b.const_of, b.view) == ("ref", x)


def test_builder_emit_agrees_with_peephole_then_intern() -> None:
    """The inlined hot path of ``emit`` interns exactly what the folded path interns."""
    b = KernelBuilder()
    x, y = b.input(0, 0), b.input(0, 1)
    assert b.add(x, y) == b.add(y, x) == b.emit_raw(Op.ADD, (y, x))
    assert b.mul(x, b.const(1.0)) == x and b.add(b.const(-0.0), y) == y
    assert b.emit(Op.SIN, [x]) == b.emit_raw(Op.SIN, (x,))
    assert b.emit(Op.POWI, (x,), 2) == b.emit_raw(Op.POWI, (x,), 2) != b.emit(Op.POWI, (x,), 3)
    assert b.emit(Op.NORM_P, (x, y, x), 1.5) == b.emit_raw(Op.NORM_P, (x, y, x), 1.5)
    assert b.emit(Op.SUB, (x, x)) == b.emit_raw(Op.SUB, (x, x))
    # constants: +0.0, -0.0 and NaN stay distinct by bit pattern, equal values share an id
    zero, neg_zero = b.const(0.0), b.const(-0.0)
    assert zero != neg_zero and b.const(0) == zero and b.const(-0.0) == neg_zero
    nan = b.const(math.nan)
    assert b.const(float("nan")) == nan and b.const(2) == b.const(2.0) != b.const(-2.0)
    assert len({b.attrs[v].hex() for v in range(len(b)) if b.ops[v] is Op.CONST}) == len(
        [v for v in range(len(b)) if b.ops[v] is Op.CONST]
    )


# ---- canonical kernels ---------------------------------------------------------------------------


@PROPERTY
@given(random_kernels())
def test_a_canonical_kernel_is_its_own_rebuild(kernel: Kernel) -> None:
    """The premise of every shortcut below: a builder's kernel copied through a fresh builder
    (the slow way, with the flag cleared) comes out unchanged."""
    assert kernel.canonical
    slow = rebuild(attrs.evolve(kernel, canonical=False))
    assert format_kernel(slow) == format_kernel(kernel)
    assert CSEPass().run(kernel) is kernel
    assert format_kernel(rebuild(kernel)) == format_kernel(kernel)


@PROPERTY
@given(random_kernels())
def test_adopting_a_canonical_kernel_equals_re_emitting_it(kernel: Kernel) -> None:
    fast, slow = KernelBuilder(), KernelBuilder()
    assert fast.copy_from(kernel) == list(range(len(kernel)))
    slow.copy_from(attrs.evolve(kernel, canonical=False))
    assert (fast.ops, fast.args, fast.attrs) == (slow.ops, slow.args, slow.attrs)
    assert fast._intern == slow._intern
    # both builders go on identically
    for b in (fast, slow):
        x = b.input(0, 0)
        b.emit(Op.MUL, (b.emit(Op.ADD, (x, len(b) - 1)), b.const(3.0)))
    assert (fast.ops, fast.args, fast.attrs) == (slow.ops, slow.args, slow.attrs)


def test_hand_made_kernels_are_not_canonical_and_get_rebuilt() -> None:
    k = Kernel(
        name="dups",
        inputs=(Port("x", 1, True),),
        outputs=(Port("y", 1, True),),
        ops=[Op.INPUT, Op.SIN, Op.SIN, Op.ADD],
        args=[(), (0,), (0,), (1, 2)],
        attrs=[(0, 0), None, None, None],
        results=[[3]],
    )
    assert not k.canonical
    out = CSEPass().run(k)
    assert out is not k and len(out) == 3 and out.canonical
    scheduled = SchedulePass().run(out)
    assert scheduled is out  # already in depth-first order


def test_passes_return_their_input_when_they_change_nothing() -> None:
    x = SXVector.sym("x", 3)
    f = Function("f", [x], [x[0] * x[1] + (x[2] * x[1]).__abs__()])
    k = f.kernel
    assert k.canonical
    assert SimplifyPass(2, 2).run(k) is k  # no rule applies
    assert SchedulePass().run(k) is k  # lowering numbers values depth-first
    k2 = PassManager(simplification_passes("medium") + codegen_passes()).run(k)
    assert k2.ops is k.ops and k2.args is k.args and k2.allocation is not None


def test_lowering_numbers_values_in_iter_dag_post_order() -> None:
    """``lower``'s explicit stack visits nodes in the order of ``iter_dag`` (which fixes ids)."""
    x, y, z = SX.sym("x"), SX.sym("y"), SX.sym("z")
    shared = (x * y).__abs__()
    outs = [shared + z * shared, (z - x) / (shared + 2.0), x.__neg__(), SX.const(4.0)]
    k = lower("k", [(Port("in", 3), [x, y, z])], [(Port("y", len(outs)), outs)])
    order = list(iter_dag(outs))
    assert len(order) == len(k)
    for vid, node in enumerate(order):
        assert k.ops[vid] is node.op
        if node.op is Op.CONST:
            assert k.attrs[vid] == node.attr


# ---- the verifier --------------------------------------------------------------------------------


def _small() -> Kernel:
    x = SXVector.sym("x", 2)
    return Function("f", [x], [x[0] ** 2 * x[1] + 3.0]).kernel


def test_verified_record_catches_in_place_changes() -> None:
    """The record lets verification skip a kernel that is *exactly* the verified one; any
    in-place change, even to an equal-comparing value of the wrong type, is re-checked."""
    k = _small()
    record = verify(k)
    assert verify(k, "again", record) is record
    powi = k.ops.index(Op.POWI)
    const = k.ops.index(Op.CONST)
    for mutate, message in [
        (lambda k: k.attrs.__setitem__(powi, 2.0), "non-integer exponent 2.0"),
        (lambda k: k.attrs.__setitem__(const, 3), "non-float value 3"),
        (lambda k: k.ops.__setitem__(powi, int(Op.POWI)), "unknown operation 45"),
        (lambda k: k.args.__setitem__(powi, (len(k) + 1,)), "which is not defined before it"),
        (lambda k: k.results[0].__setitem__(0, 99), "refers to undefined v99"),
    ]:
        bad = attrs.evolve(k, ops=list(k.ops), args=list(k.args), attrs=list(k.attrs))
        bad.results = [list(r) for r in k.results]
        mutate(bad)
        with pytest.raises(VerificationError, match=message):
            verify(bad, "edit", record)


def test_verifier_names_each_broken_invariant() -> None:
    k = _small()
    n = len(k)

    def broken(**changes: object) -> Kernel:
        return attrs.evolve(k, **{f: list(getattr(k, f)) for f in ("ops", "args", "attrs")} | changes)

    sin = broken(ops=[*k.ops, Op.SIN], args=[*k.args, (0, 1)], attrs=[*k.attrs, None])
    cases = [
        (sin, rf"v{n} = sin has 2 arguments, expected 1"),
        (broken(ops=[*k.ops, Op.NORM2], args=[*k.args, ()], attrs=[*k.attrs, None]), "norm2 has no"),
        (broken(ops=[*k.ops, Op.SIN], args=[*k.args, (-1,)], attrs=[*k.attrs, None]), "uses v-1"),
        (broken(ops=[*k.ops, Op.SIN], args=[*k.args, (0,)], attrs=[*k.attrs, 2.0]), "unexpected attr"),
        (broken(ops=[*k.ops, Op.INPUT], args=[*k.args, ()], attrs=[*k.attrs, (0, 2)]), "missing element"),
        (broken(ops=[*k.ops, Op.INPUT], args=[*k.args, ()], attrs=[*k.attrs, (0,)]), "malformed"),
        (broken(ops=[*k.ops, Op.NORM_P], args=[*k.args, (0,)], attrs=[*k.attrs, math.inf]), "invalid order"),
        (broken(ops=[*k.ops, Op.POWI], args=[*k.args, (0,)], attrs=[*k.attrs, True]), "non-integer"),
    ]
    for kernel, message in cases:
        with pytest.raises(VerificationError, match=message):
            verify(kernel, "test")


def test_verifier_checks_the_allocation_and_its_record() -> None:
    x = SX.sym("x")
    a = x * 3.0
    e = a
    for _ in range(6):
        e = e * e + 1.0
    k = SchedulePass().run(Function("chain", [x], [e + a]).kernel)
    chosen = allocate(k, 2)
    # ``a`` is read last by the statement writing the output: it waits in the output element
    a_id = chosen.statements[0]
    assert chosen.scratch == {a_id: (0, 0)} and chosen.workspace_size == 1
    assert verify(attrs.evolve(k, allocation=chosen), "chosen") is not None
    # the same values in two workspace slots: ``a`` and the chain's hand-over value
    slots = attrs.evolve(chosen, slot={**chosen.slot, a_id: 1}, scratch={}, workspace_size=2)
    good = attrs.evolve(k, allocation=slots)
    record = verify(good)
    assert verify(good, "same", record) is record
    alloc = good.allocation
    assert alloc is not None and alloc.workspace_size == 2
    stmts = list(alloc.statements)
    shuffled = Allocation([stmts[1], stmts[0], *stmts[2:]], alloc.chunks, alloc.local, alloc.slot, 2, 2)
    with pytest.raises(VerificationError, match="is scheduled before its argument"):
        verify(attrs.evolve(good, allocation=shuffled), "shuffle", record)
    one_slot = dict.fromkeys(alloc.slot, 0)
    clash = Allocation(stmts, alloc.chunks, alloc.local, one_slot, 1, alloc.register_count)
    with pytest.raises(VerificationError, match="holds two values that are live at the same time"):
        verify(attrs.evolve(good, allocation=clash), "clash", record)
    leaf_slot = Allocation(stmts, alloc.chunks, alloc.local, {0: 0}, 1, alloc.register_count)
    with pytest.raises(VerificationError, match="v0 has workspace slot 0 but is not computed"):
        verify(attrs.evolve(good, allocation=leaf_slot), "leaf")
    gap = Allocation(stmts, [Chunk(0, 2), Chunk(3, len(stmts))], alloc.local, {}, 0, 2)
    with pytest.raises(VerificationError, match="chunks do not tile"):
        verify(attrs.evolve(good, allocation=gap), "gap")


# ---- the garbage collector -----------------------------------------------------------------------


def test_the_pipeline_pauses_the_cyclic_gc_and_restores_it() -> None:
    seen: list[bool] = []

    class Probe:
        name = "probe"

        def run(self, kernel: Kernel) -> Kernel:
            seen.append(gc.isenabled())
            return kernel

    class Boom(Probe):
        def run(self, kernel: Kernel) -> Kernel:
            raise RuntimeError("pass failed")

    k = _small()
    assert gc.isenabled()
    PassManager([Probe()]).run(k)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(RuntimeError, match="pass failed"):
        PassManager([Boom()]).run(k)
    assert gc.isenabled()
    gc.disable()
    try:
        PassManager([Probe()]).run(k)
        assert not gc.isenabled()  # a caller's disabled GC stays disabled
    finally:
        gc.enable()
