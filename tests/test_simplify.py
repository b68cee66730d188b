"""Simplification rules: every rule fires on a small kernel, saves instructions and keeps the
promise of its level; random kernels keep their values (bit-exact at ``basic``, within a rounding
tolerance at ``high``/``max``)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradgen as gg
from gradgen import SX, Function, SXVector
from gradgen.errors import GradgenTypeError, InvalidLevelError
from gradgen.ir.interp import run
from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.ops import Op
from gradgen.ir.printer import format_kernel
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import ROUNDS, simplification_passes
from gradgen.passes.simplify import SimplifyPass
from gradgen.passes.simplify_rules import LEVEL_NAMES, RULE_TABLE, RULES, RULES_BY_NAME, rules_by_op
from tests.test_passes import (
    POSITIVE_CONSTS,
    POSITIVE_OPS,
    PROPERTY,
    bits,
    finite_inputs,
    kernel_inputs,
    random_kernels,
    special_inputs,
)

x, y, z = SX.sym("x"), SX.sym("y"), SX.sym("z")


def _pow(a: SX, c: float) -> SX:
    return SX.make(Op.POW, (a, SX.const(c)))


#: rule name -> outputs of a small function of x, y, z on which the rule fires and the kernel
#: gets shorter (some rules only reorder; their case adds the context that then folds)
CASES: dict[str, Callable[[], list[SX]]] = {
    "add-self": lambda: [-(x + x)],  # x*2, then the negation folds into the factor
    "add-neg": lambda: [x + (-y)],
    "sub-neg-neg": lambda: [(-x) - (-y)],
    "sub-neg": lambda: [x - (-y)],
    "not-eq": lambda: [1 - gg.eq(x, y), gg.if_else(0.0, 1.0, gg.ne(y, z))],
    "mul-neg-const": lambda: [(-x) * 3],
    "mul-neg-neg": lambda: [(-x) * (-y)],
    "mul-self": lambda: [x * x + x**2],  # both become powi(x, 2), then x+x
    # (P) an integer times a power of two >= 1, (Q) a power of two >= 1 times |c| >= 1
    "mul-const-exact": lambda: [(x * -200) * 2, (y * 2) * 100.5, (z * 3) * 0.5 * 4],
    "div-neg-neg": lambda: [(-x) / (-y)],
    "div-neg-const": lambda: [(-x) / 3, 5 / (-y)],
    "div-pow2": lambda: [-(x / 4)],
    "neg-const-factor": lambda: [-(x * 3), -(y / 3), -(3 / z)],
    "abs-nonneg": lambda: [abs(gg.exp(x)), abs(x * x), abs(y**-2), abs(gg.norm2([x, y]))],
    "powi-sign": lambda: [(-x) ** 2, abs(y) ** 4],
    "neg-absorb": lambda: [-((-x) * y), -((-x) / y), -(x / (-z)), -gg.if_else(-x, -y, z), -((-y) ** 3)],
    "sqrt-norm2sq": lambda: [gg.sqrt(gg.norm2sq([x, y, z]))],
    "cmp-self-strict": lambda: [x < x, x > x],
    "cmp-neg": lambda: [(-x) < (-y), (-x) <= 2, gg.eq(3, -z)],
    "cmp-swap": lambda: [x > y, y < x, x >= z, z <= x],
    "select-cmp-bool": lambda: [gg.if_else(1.0, 0.0, x < y)],
    "select-eqz": lambda: [gg.if_else(x, y, gg.eq(z, 0)), gg.if_else(y, x, gg.ne(z, 0))],
    "select-nested": lambda: [gg.if_else(gg.if_else(x, y, z < 1), 3, z < 1)],
    "add-zero": lambda: [x + 0, 0.0 + y],
    "sub-zero": lambda: [x - (-0.0), 0 - y],
    "sub-self": lambda: [x - x],
    "mul-zero": lambda: [0 * x],
    "neg-sub": lambda: [-(x - y), -((-y) * 2 + (-z))],  # -((-y)*2 + (-z)) -> y*2 + z
    "cmp-self": lambda: [x <= x, gg.eq(y, y), gg.ne(z, z)],
    "cmp-sub-zero": lambda: [(x - y) <= 0],
    "not-ord": lambda: [1 - (x < y)],
    "add-const-assoc": lambda: [(x + 1) + 2, 3 - (2 - y), (z - 0.25) - 0.5],
    "mul-const-assoc": lambda: [(x * 3) * 5, 6 / (y / 7), (z / 3) / 5, 1 / (1 / x)],
    "add-like-terms": lambda: [x * 3 + x * 5, y - y * 0.25],
    "add-factor-const": lambda: [x * 3 + y * 3, (z + x * 0.5) - y * -0.5, z * 1.5 - (y - x * 1.5)],
    "div-const": lambda: [-(x / 3)],
    "div-recip": lambda: [x * (1 / y)],
    "pow-int": lambda: [_pow(-x, 2.0)],  # powi(-x, 2), then powi(x, 2)
    "pow-half": lambda: [_pow(x, 0.5) + gg.sqrt(x)],  # sqrt(x) + sqrt(x), then one sqrt
    "powi-merge": lambda: [x**2 * x**3, y * y**4],
    "powi-powi": lambda: [(x**2) ** 3],
    "neg-even": lambda: [gg.cos(-x), gg.cosh(-y)],
    "neg-odd": lambda: [-gg.sin(-x), -gg.erf(-y)],
    "div-self": lambda: [x / x],
    "div-zero-num": lambda: [0 / x],
    "mul-div-cancel": lambda: [(x * y) / y, (x / z) * z],
    "log-exp": lambda: [gg.log(gg.exp(x)), gg.log1p(gg.expm1(y))],
    "sqrt-square": lambda: [gg.sqrt(x * x)],
    "powi-merge-mixed": lambda: [x**3 * x**-1],
}

#: (rule, outputs, inputs (x, y, z), what the original computes, what the rewrite computes): the
#: documented difference where the rule's caveat applies
CAVEATS: list[tuple[str, Callable[[], list[SX]], tuple[float, float, float], list[float], list[float]]] = [
    ("add-zero", lambda: [x + 0], (-0.0, 0, 0), [0.0], [-0.0]),  # -0 + +0 is +0
    ("sub-zero", lambda: [0 - y], (0, 0.0, 0), [0.0], [-0.0]),  # +0 - +0 is +0, -(+0) is -0
    ("sub-self", lambda: [x - x], (math.inf, 0, 0), [math.nan], [0.0]),
    ("sub-self", lambda: [x - x], (math.nan, 0, 0), [math.nan], [0.0]),
    ("mul-zero", lambda: [0 * x], (math.inf, 0, 0), [math.nan], [0.0]),
    ("mul-zero", lambda: [0 * x], (-3.0, 0, 0), [-0.0], [0.0]),  # sign of zero
    ("neg-sub", lambda: [-((-y) * 2 + (-z))], (0.0, 1.0, -2.0), [-0.0], [0.0]),
    ("neg-sub", lambda: [-(x - y)], (2.0, 2.0, 0), [-0.0], [0.0]),
    (
        "cmp-self",
        lambda: [x <= x, gg.eq(y, y), gg.ne(z, z)],
        (math.nan,) * 3,
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 0.0],
    ),
    ("cmp-sub-zero", lambda: [(x - y) <= 0], (math.inf, math.inf, 0), [0.0], [1.0]),
    ("not-ord", lambda: [1 - (x < y)], (math.nan, 1.0, 0), [1.0], [0.0]),
    # level 3 excludes overflowing intermediates: 1/x is inf for x = 1e-310, so 1/(1/x) is 0
    ("mul-const-assoc", lambda: [1 / (1 / x)], (1e-310, 0, 0), [0.0], [1e-310]),
    ("div-self", lambda: [x / x], (0.0, 0, 0), [math.nan], [1.0]),
    ("div-self", lambda: [x / x], (math.inf, 0, 0), [math.nan], [1.0]),
    ("div-zero-num", lambda: [0 / x], (0.0, 0, 0), [math.nan], [0.0]),
    (
        "mul-div-cancel",
        lambda: [(x * y) / y, (x / z) * z],
        (2.0, 0.0, math.inf),
        [math.nan, math.nan],
        [2.0, 2.0],
    ),
    ("log-exp", lambda: [gg.log(gg.exp(x))], (800.0, 0, 0), [math.inf], [800.0]),
    ("log-exp", lambda: [gg.log(gg.exp(x))], (-800.0, 0, 0), [-math.inf], [-800.0]),
    ("log-exp", lambda: [gg.log(gg.exp(x))], (1e-20, 0, 0), [0.0], [1e-20]),  # relative accuracy
    ("sqrt-square", lambda: [gg.sqrt(x * x)], (1e200, 0, 0), [math.inf], [1e200]),
    ("sqrt-square", lambda: [gg.sqrt(x * x)], (1e-170, 0, 0), [math.sqrt(1e-170 * 1e-170)], [1e-170]),
    ("powi-merge-mixed", lambda: [x**3 * x**-1], (0.0, 0, 0), [math.nan], [0.0]),
]


def _function(rule: str, outputs: Callable[[], list[SX]] | None = None) -> Function:
    outs = (outputs or CASES[rule])()
    return Function(f"case_{rule.replace('-', '_')}", [x, y, z], [SXVector(outs)], output_names=["out"])


def _simplified(
    rule: str, level: int | None = None, outputs: Callable[[], list[SX]] | None = None
) -> tuple[Kernel, Kernel, dict[str, int]]:
    """The kernel, its simplification and the rules that fired (the ``rules_fired`` note)."""
    f = _function(rule, outputs)
    out = SimplifyPass(RULES_BY_NAME[rule].level if level is None else level, rounds=4).run(f.kernel)
    return f.kernel, out, out.note("rules_fired", {})


def _same(a: float, b: float) -> bool:
    return bits(a) == bits(b)


def _close(a: float, b: float, rel: float = 1e-12, abs_: float = 1e-12) -> bool:
    if a != a or b != b:
        return a != a and b != b
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


def _samples(rng: random.Random, level: int, n: int = 200) -> list[tuple[float, float, float]]:
    """Random finite points; below ``max`` also zeros and repeated values (``max`` rules may
    differ at isolated points such as 0, see CAVEATS)."""
    pts = [tuple(rng.uniform(-3.0, 3.0) for _ in range(3)) for _ in range(n)]
    if level < 4:
        pts += [(0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (-2.0, 2.0, 0.5), (0.5, -0.0, 3.0)]
    return pts  # type: ignore[return-value]


# ---- the table ----------------------------------------------------------------------------------


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES_BY_NAME)
    assert len(RULES_BY_NAME) == len(RULES), "rule names are unique"


def test_rule_table_covers_every_op_and_is_well_formed() -> None:
    assert set(RULE_TABLE) == set(Op)
    for rule in RULES:
        assert rule.level in LEVEL_NAMES
        assert rule.doc and "\n" not in rule.doc
        assert rule.ops and all(isinstance(op, Op) for op in rule.ops)
        for op in rule.ops:
            assert rule in RULE_TABLE[op]
    assert all(not rules for rules in rules_by_op(0).values())
    for level in range(1, 5):
        enabled = {r.name for rules in rules_by_op(level).values() for r in rules}
        assert enabled == {r.name for r in RULES if r.level <= level}


def test_module_docstring_documents_every_level() -> None:
    import gradgen.passes.simplify_rules as mod

    doc = mod.__doc__ or ""
    for n, name in LEVEL_NAMES.items():
        assert f"{n}. ``{name}``" in doc


# ---- each rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_and_shortens_the_kernel(rule: str) -> None:
    before, after, fired = _simplified(rule)
    assert fired.get(rule, 0) >= 1, fired
    assert after.op_count() < before.op_count(), format_kernel(after)
    level = RULES_BY_NAME[rule].level
    if level > 1:  # and not below its level
        _, _, lower = _simplified(rule, level - 1)
        assert rule not in lower


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_keeps_the_promise_of_its_level(rule: str) -> None:
    before, after, _ = _simplified(rule)
    level = RULES_BY_NAME[rule].level
    rng = random.Random(rule)
    points = _samples(rng, level)
    if level == 1:  # bit-identical for every input, inf and NaN included
        specials = [math.inf, -math.inf, math.nan, 0.0, -0.0, 1e-310, 1e308]
        points += [(a, b, c) for a in specials for b in specials[:4] for c in specials[:3]]
    for pt in points:
        want = run(before, [[pt[0]], [pt[1]], [pt[2]]])[0]
        got = run(after, [[pt[0]], [pt[1]], [pt[2]]])[0]
        if level == 1:
            assert [bits(v) for v in want] == [bits(v) for v in got], pt
        elif level == 2:  # equal for finite operands (== ignores the sign of zero)
            assert want == got, pt
        else:
            assert all(_close(a, b) for a, b in zip(want, got, strict=True)), (pt, want, got)


@pytest.mark.parametrize(
    ("rule", "outputs", "point", "original", "rewritten"), CAVEATS, ids=[c[0] for c in CAVEATS]
)
def test_rule_caveat_is_real_and_documented(
    rule: str, outputs: Callable[[], list[SX]], point: tuple, original: list, rewritten: list
) -> None:
    before, after, fired = _simplified(rule, outputs=outputs)
    assert rule in fired
    want = run(before, [[float(point[0])], [float(point[1])], [float(point[2])]])[0]
    got = run(after, [[float(point[0])], [float(point[1])], [float(point[2])]])[0]
    assert [bits(v) for v in want] == [bits(v) for v in original]
    assert [bits(v) for v in got] == [bits(v) for v in rewritten]
    assert RULES_BY_NAME[rule].level >= 2


def test_level_three_rewrites_do_change_rounding() -> None:
    """``high`` is not ``medium``: the documented rounding changes happen."""
    f = Function("thirds", [x], [x / 3], output_names=["out"])
    k = SimplifyPass(3).run(f.kernel)
    assert k.histogram().get("div", 0) == 0
    diffs = [v for v in range(1, 200) if run(f.kernel, [[float(v)]])[0][0] != run(k, [[float(v)]])[0][0]]
    assert diffs, "x/3 and x*(1/3) differ for some integers"
    assert all(_close(run(f.kernel, [[float(v)]])[0][0], run(k, [[float(v)]])[0][0], 3e-16, 0) for v in diffs)


def test_basic_keeps_pow_with_integer_exponent() -> None:
    """``pow(x, 3.0)`` stays a library ``pow`` below ``high`` (``powi`` rounds differently)."""
    f = Function("p", [x], [_pow(x, 3.0)], output_names=["out"])
    assert SimplifyPass(2).run(f.kernel).histogram().get("pow") == 1
    assert SimplifyPass(3).run(f.kernel).histogram().get("powi") == 1


def test_rules_compose_within_one_round() -> None:
    f = Function("chain", [x, y], [SXVector([x + (-x), -(y * 3) * (-5)])], output_names=["out"])
    k = SimplifyPass(3, rounds=1).run(f.kernel)
    assert run(k, [[5.0], [2.0]]) == [[0.0, 30.0]]
    assert k.op_count() == 1  # y * 15
    assert k.note("rules_fired") == {"add-neg": 1, "sub-self": 1, "neg-const-factor": 1, "mul-const-assoc": 1}
    medium = SimplifyPass(2, rounds=1).run(f.kernel)
    assert medium.op_count() == 2  # y * -3 * -5: reassociating these constants rounds, level 3
    # a chain through a power of two >= 1 folds exactly, so already at basic
    exact = Function("exact", [y], [-(y * 2) * (-3)], output_names=["out"])
    basic = SimplifyPass(1, rounds=1).run(exact.kernel)
    assert basic.op_count() == 1  # y * 6
    assert basic.note("rules_fired") == {"neg-const-factor": 1, "mul-const-exact": 1}


def _sharing_everything(kernel: Kernel) -> Kernel:
    """``kernel`` with one more output listing every computed value, so that every operand a
    rule could drop has another user."""
    computed = [v for v, op in enumerate(kernel.ops) if op not in (Op.CONST, Op.INPUT)]
    return Kernel(
        name=kernel.name,
        inputs=kernel.inputs,
        outputs=(*kernel.outputs, Port("every", len(computed))),
        ops=list(kernel.ops),
        args=list(kernel.args),
        attrs=list(kernel.attrs),
        results=[*kernel.results, computed],
    )


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_never_adds_an_instruction_when_operands_are_shared(rule: str) -> None:
    """The op count never grows, even when every intermediate value has another user."""
    kernel = _sharing_everything(_function(rule).kernel)
    for level in range(RULES_BY_NAME[rule].level, 5):
        out = SimplifyPass(level, rounds=4).run(kernel)
        assert out.op_count() <= kernel.op_count(), (level, format_kernel(out))


def test_negation_shared_by_a_product_is_not_duplicated() -> None:
    """Regression (found by hypothesis): ``v2 = -x; y = v2 * pow(0, v2)`` kept 3 operations;
    hoisting the negation out of the product made it 4 (``-x`` stays for ``pow``)."""
    nx = -x
    f = Function("shared_neg", [x], [nx * SX.make(Op.POW, (SX.const(0.0), nx))], output_names=["out"])
    before = f.kernel
    assert before.op_count() == 3
    for level in range(1, 5):
        out = SimplifyPass(level, rounds=4).run(before)
        assert out.op_count() <= 3, format_kernel(out)
        for v in (0.0, -0.0, 1.5, -2.0, math.inf, math.nan):
            assert bits(run(out, [[v]])[0][0]) == bits(run(before, [[v]])[0][0]) or level >= 2


def test_simplify_rounds_stop_when_nothing_fires() -> None:
    f = Function("plain", [x, y], [x * y + gg.sin(x)], output_names=["out"])
    out = SimplifyPass(4, rounds=4).run(f.kernel)
    assert format_kernel(out) == format_kernel(f.kernel)
    assert not out.note("rules_fired")


# ---- the public entry points ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (
            "aggressive",
            r"unknown simplification level 'aggressive'; use one of none, basic, medium, high, max or 0-4",
        ),
        (7, r"simplification level 7 is out of range; use 0-4 or one of none, basic, medium, high, max"),
        (-2, r"simplification level -2 is out of range"),
        (False, r"unknown simplification level False"),
        (3.0, r"unknown simplification level 3\.0"),
    ],
)
def test_public_simplify_rejects_bad_levels(level: object, message: str) -> None:
    f = Function("f", [x], [x * x], output_names=["out"])
    for target in (x + 1, SXVector([x, y]), f):
        with pytest.raises(InvalidLevelError, match=message):
            gg.simplify(target, level)  # type: ignore[arg-type]
    with pytest.raises(InvalidLevelError, match=message):
        f.simplify(level)  # type: ignore[arg-type]


def test_public_simplify_on_expressions_vectors_and_functions() -> None:
    assert str(gg.simplify((x * 3) * 5, "high")) == "x * 15"
    assert str(gg.simplify((x * 3) * 5, "medium")) == "x * 3 * 5"
    assert str(gg.simplify(x - x, 2)) == "0"
    assert str(gg.simplify(x - x, "basic")) == "x - x"
    v = gg.simplify(SXVector([x / x, y + (-y)]), "max")
    assert [str(e) for e in v] == ["1", "0"]
    f = Function("g", [x, y], [gg.log(gg.exp(x)) + y * 0], input_names=["a", "b"], output_names=["out"])
    g = gg.simplify(f, "max")
    assert isinstance(g, Function) and g.input_names == ("a", "b") and g.output_names == ("out",)
    assert g(1.25, 3.0) == 1.25
    assert g.kernel.op_count() == 0
    with pytest.raises(GradgenTypeError, match=r"simplify expects an SX, SXVector or Function, got str"):
        gg.simplify("x + 1", "max")  # type: ignore[arg-type]


# ---- properties on random kernels -----------------------------------------------------------------


def _pipeline(kernel: Kernel, level: str) -> Kernel:
    return PassManager(simplification_passes(level)).run(kernel)


@PROPERTY
@given(random_kernels(), st.lists(special_inputs, min_size=3, max_size=3))
def test_basic_level_is_bit_exact_on_random_kernels(kernel: Kernel, xs: list[float]) -> None:
    out = _pipeline(kernel, "basic")
    want = run(kernel, kernel_inputs(kernel, xs))
    got = run(out, kernel_inputs(out, xs))
    assert [[bits(v) for v in r] for r in want] == [[bits(v) for v in r] for r in got]
    assert out.op_count() <= kernel.op_count()


@PROPERTY
@given(random_kernels(), st.lists(finite_inputs, min_size=3, max_size=3))
def test_every_level_keeps_structure_valid_and_never_grows(kernel: Kernel, xs: list[float]) -> None:
    for level in ("basic", "medium", "high", "max"):
        out = _pipeline(kernel, level)
        assert out.op_count() <= kernel.op_count() + 1, level  # x*c -> -(x*c) style reorders may add one
        assert len(run(out, kernel_inputs(out, xs))[0]) == kernel.outputs[0].size


def _close_or_extreme(a: float, b: float) -> bool:
    """Equal within rounding; values beyond 1e300 or below 1e-300 in magnitude compare by bucket
    (the ``high`` guarantee excludes overflow and underflow of intermediates)."""
    if abs(a) > 1e300 and abs(b) > 1e300:
        return (a > 0) == (b > 0)
    if abs(a) < 1e-300 and abs(b) < 1e-300:
        return True
    return _close(a, b, rel=1e-9, abs_=0.0)


@PROPERTY
@given(
    random_kernels(
        ops=POSITIVE_OPS, consts=POSITIVE_CONSTS, exponents=st.sampled_from((-2, -1, 2, 3)), max_ops=12
    ),
    st.lists(st.floats(0.5, 2.0), min_size=3, max_size=3),
    st.sampled_from(("high", "max")),
)
def test_high_and_max_preserve_values_within_rounding(kernel: Kernel, xs: list[float], level: str) -> None:
    out = _pipeline(kernel, level)
    want = run(kernel, kernel_inputs(kernel, xs))[0]
    got = run(out, kernel_inputs(out, xs))[0]
    assert all(_close_or_extreme(a, b) for a, b in zip(want, got, strict=True)), (
        want,
        got,
        format_kernel(out),
    )


def test_rounds_per_level_are_bounded() -> None:
    assert ROUNDS == {1: 2, 2: 2, 3: 3, 4: 4}
