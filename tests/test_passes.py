"""Pass manager, pipelines and pass registry; property tests on random kernels over every op.

The random-kernel strategy lives here and is reused by the simplification, CSE and allocation
tests: kernels are built through :class:`ir.kernel.KernelBuilder` (so construction folds apply)
from every non-leaf operation, with arithmetic, negation and comparisons drawn more often so that
the rewrite rules get something to match.
"""

from __future__ import annotations

import itertools
import math
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradgen.errors import InvalidLevelError, UnknownPassError, VerificationError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, KernelBuilder, Port
from gradgen.ir.ops import LEAVES, OP_INFO, VARIADIC, AttrKind, Op
from gradgen.ir.printer import format_kernel
from gradgen.ir.verify import verify
from gradgen.passes.allocate import AllocatePass
from gradgen.passes.cse import CSEPass
from gradgen.passes.manager import PassEvent, PassManager
from gradgen.passes.pipelines import (
    LEVELS,
    REGISTRY,
    codegen_passes,
    level_index,
    passes_by_name,
    simplification_passes,
)
from gradgen.passes.schedule import SchedulePass
from gradgen.passes.simplify import SimplifyPass

#: ``custom`` needs a user definition as its attribute (tests/test_custom_functions.py covers it)
ALL_OPS = [op for op in Op if op not in LEAVES and op is not Op.CUSTOM]
_FAVOURED = [Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.NEG, Op.ABS, Op.POWI, Op.SELECT, Op.LT, Op.GT, Op.EQ]
CONSTS = (0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 3.0, -4.0, 0.1, 1e300)
#: every op, with the arithmetic ones drawn more often
WEIGHTED_OPS = ALL_OPS + _FAVOURED * 4
#: positive, well-conditioned operations: on inputs in [0.5, 2] no cancellation can occur, so
#: rewrites that only change rounding keep results within a small relative tolerance
POSITIVE_OPS = [
    Op.ADD,
    Op.MUL,
    Op.DIV,
    Op.SQRT,
    Op.CBRT,
    Op.HYPOT,
    Op.POWI,
    Op.NORM2,
    Op.NORM2SQ,
    Op.NORM1,
    Op.NORM_INF,
    Op.MAX,
    Op.MIN,
    Op.ATAN,
    Op.TANH,
    Op.LOG1P,
    Op.ERF,
]
POSITIVE_CONSTS = (0.5, 1.0, 1.5, 2.0, 3.0, 0.25, 5.0)


EXPONENTS = st.integers(-4, 5)


@st.composite
def random_kernels(
    draw: st.DrawFn,
    ops: list[Op] = WEIGHTED_OPS,
    consts: tuple[float, ...] = CONSTS,
    exponents: st.SearchStrategy[int] = EXPONENTS,
    max_ops: int = 25,
) -> Kernel:
    b = KernelBuilder()
    n_in = draw(st.integers(1, 3))
    values = [b.input(0, j) for j in range(n_in)]

    def operand() -> int:
        if draw(st.integers(0, 4)) == 0:
            return b.const(draw(st.sampled_from(consts)))
        back = draw(st.integers(0, min(len(values) - 1, 6)))
        return values[len(values) - 1 - back]

    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(ops))
        info = OP_INFO[op]
        arity = draw(st.integers(1, 4)) if info.arity == VARIADIC else info.arity
        args = [operand() for _ in range(arity)]
        if info.attr is AttrKind.INT:
            attr: object = draw(exponents)
        elif info.attr is AttrKind.PARAM:
            attr = draw(st.sampled_from((0.5, 1.0, 1.5, 2.0, 3.0)))
        else:
            attr = None
        values.append(b.emit(op, args, attr))
    extra = draw(st.lists(st.integers(0, len(values) - 1), max_size=2))
    results = [values[-1], *(values[i] for i in extra)]
    return b.finish("random", [Port("x", n_in)], [Port("y", len(results))], [results])


finite_inputs = st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False) | st.sampled_from(
    (0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 1e-310, 1e300, -3.0)
)
special_inputs = finite_inputs | st.sampled_from((math.inf, -math.inf, math.nan))


def bits(v: float) -> int | str:
    """Bit pattern of a float; every NaN maps to one token (payload and sign are not promised)."""
    return "nan" if v != v else struct.unpack("<q", struct.pack("<d", v))[0]


def kernel_inputs(kernel: Kernel, values: list[float]) -> list[list[float]]:
    n = kernel.inputs[0].size
    return [[values[j % len(values)] for j in range(n)]]


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- the manager --------------------------------------------------------------------------------


@PROPERTY
@given(random_kernels(), st.sampled_from(LEVELS), st.integers(1, 6))
def test_verifier_passes_after_every_pass_of_every_pipeline(kernel: Kernel, level: str, chunk: int) -> None:
    events: list[PassEvent] = []

    def check(event: PassEvent) -> None:
        verify(event.after, event.name)  # the manager verified too; check the callback sees it
        events.append(event)

    passes = simplification_passes(level) + codegen_passes(max_chunk=chunk)
    out = PassManager(passes, verify_each=True, callback=check).run(kernel)
    assert [e.name for e in events] == [p.name for p in passes]
    assert [e.index for e in events] == list(range(len(passes)))
    assert events[0].before is kernel and events[-1].after is out
    for prev, nxt in itertools.pairwise(events):
        assert prev.after is nxt.before
    assert out.allocation is not None


def test_manager_names_the_pass_that_broke_the_ir() -> None:
    class Breaker:
        name = "breaker"

        def run(self, kernel: Kernel) -> Kernel:
            return Kernel(
                kernel.name,
                kernel.inputs,
                kernel.outputs,
                list(kernel.ops),
                list(kernel.args),
                list(kernel.attrs),
                [[99]],
            )

    b = KernelBuilder()
    x = b.input(0, 0)
    k = b.finish("k", [Port("x", 1, True)], [Port("y", 1, True)], [[b.mul(x, x)]])
    with pytest.raises(
        VerificationError, match=r"kernel 'k' \(after breaker\): output 'y' refers to undefined v99"
    ):
        PassManager([CSEPass(), Breaker()]).run(k)
    # without verification the manager runs the broken pass silently
    assert PassManager([Breaker()], verify_each=False).run(k).results == [[99]]


def test_pipelines_are_explicit_per_level() -> None:
    assert simplification_passes("none") == []
    assert simplification_passes(0) == []
    for n, name in enumerate(LEVELS[1:], start=1):
        passes = simplification_passes(name)
        assert [p.name for p in passes] == ["simplify", "cse"]
        assert passes[0].level == n
        assert [p.name for p in simplification_passes(n)] == ["simplify", "cse"]
    assert [p.name for p in codegen_passes()] == ["schedule", "allocate"]
    assert codegen_passes(max_chunk=7)[1].max_chunk == 7
    assert [level_index(n) for n in LEVELS] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (
            "extreme",
            r"unknown simplification level 'extreme'; use one of none, basic, medium, high, max or 0-4",
        ),
        (5, r"simplification level 5 is out of range; use 0-4"),
        (-1, r"simplification level -1 is out of range"),
        (True, r"unknown simplification level True"),
        (2.0, r"unknown simplification level 2\.0"),
        (None, r"unknown simplification level None"),
        ("MAX", r"unknown simplification level 'MAX'"),
    ],
)
def test_bad_levels_raise_invalid_level_error(level: object, message: str) -> None:
    with pytest.raises(InvalidLevelError, match=message):
        simplification_passes(level)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):  # InvalidLevelError is a ValueError
        level_index(level)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [5, -1, "max", 1.5, True])
def test_simplify_pass_rejects_bad_levels(level: object) -> None:
    with pytest.raises(
        InvalidLevelError,
        match=r"SimplifyPass level must be an integer 0-4 .*got " + repr(level).replace(".", r"\."),
    ):
        SimplifyPass(level)  # type: ignore[arg-type]


def test_registry_and_pass_lookup() -> None:
    assert sorted(REGISTRY) == [
        "allocate",
        "cse",
        "schedule",
        "simplify-basic",
        "simplify-high",
        "simplify-max",
        "simplify-medium",
    ]
    passes = passes_by_name(["simplify-max", "cse", "schedule", "allocate"])
    assert [p.name for p in passes] == ["simplify", "cse", "schedule", "allocate"]
    assert isinstance(passes[0], SimplifyPass) and passes[0].level == 4
    assert isinstance(passes[2], SchedulePass) and isinstance(passes[3], AllocatePass)
    with pytest.raises(UnknownPassError, match=r"unknown pass 'dce'; registered passes: allocate, cse, "):
        passes_by_name(["cse", "dce"])
    extra = passes_by_name(["mine"], extra={"mine": CSEPass})
    assert isinstance(extra[0], CSEPass)


@PROPERTY
@given(random_kernels(), st.lists(finite_inputs, min_size=3, max_size=3))
def test_schedule_preserves_values_and_orders_depth_first(kernel: Kernel, xs: list[float]) -> None:
    out = SchedulePass().run(kernel)
    verify(out, "schedule")
    before = run(kernel, kernel_inputs(kernel, xs))
    after = run(out, kernel_inputs(out, xs))
    assert [[bits(v) for v in r] for r in before] == [[bits(v) for v in r] for r in after]
    # id order is the schedule: rescheduling changes nothing
    assert format_kernel(SchedulePass().run(out)) == format_kernel(out)


def test_schedule_puts_sin_and_cos_of_one_argument_together() -> None:
    """``sin(a)`` and ``cos(a)`` end up adjacent (LLVM merges such a pair into one ``sincos``
    call only inside one function); a dead partner is not brought back."""
    from gradgen import SX, Function, cos, sin
    from gradgen.ir.ops import Op
    from gradgen.passes.schedule import SchedulePass

    x, y = SX.sym("x"), SX.sym("y")
    a = x * y
    f = Function("pair", [x, y], [sin(a) * x + y * y * y + y * cos(a)])
    k = SchedulePass().run(f.kernel)
    s = next(i for i, op in enumerate(k.ops) if op is Op.SIN)
    assert k.ops[s + 1] is Op.COS and k.args[s + 1] == k.args[s]
    g = Function("alone", [x, y], [sin(a) + cos(x)])  # cos of another argument: no pairing
    kg = SchedulePass().run(g.kernel)
    assert [op for op in kg.ops if op in (Op.SIN, Op.COS)] == [Op.SIN, Op.COS]
    assert kg.args[kg.ops.index(Op.COS)] != kg.args[kg.ops.index(Op.SIN)]
