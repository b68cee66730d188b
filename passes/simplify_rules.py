"""Named simplification rules, grouped by level (one table for the whole rule family).

Levels: 1 ``basic`` rules are exact in IEEE arithmetic; 2 ``medium`` adds rules exact for finite
values (they may differ when an operand is inf or NaN); 3 ``high`` adds rewrites that may change
rounding (constant reassociation); 4 ``max`` adds rewrites that may differ at isolated points
(``x/x -> 1`` at ``x = 0``). The construction-time folds of ``ir.fold`` always apply.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ir.kernel import KernelBuilder
from ir.ops import Op

Apply = Callable[[KernelBuilder, Op, tuple[int, ...], object], int | None]


@attrs.frozen
class Rule:
    name: str
    level: int
    ops: tuple[Op, ...]
    apply: Apply
    doc: str = ""


def _add_neg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    if b.ops[y] is Op.NEG:
        return b.sub(x, b.args[y][0])
    if b.ops[x] is Op.NEG:
        return b.sub(y, b.args[x][0])
    return None


def _sub_neg(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    x, y = a
    if b.ops[y] is Op.NEG:
        return b.add(x, b.args[y][0])
    return None


def _sub_self(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.const(0.0) if a[0] == a[1] else None


def _mul_zero(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.const(0.0) if b.is_zero(a[0]) or b.is_zero(a[1]) else None


def _div_self(b: KernelBuilder, op: Op, a: tuple[int, ...], attr: object) -> int | None:
    return b.const(1.0) if a[0] == a[1] else None


RULES: tuple[Rule, ...] = (
    Rule("add-neg", 1, (Op.ADD,), _add_neg, "x + (-y) -> x - y"),
    Rule("sub-neg", 1, (Op.SUB,), _sub_neg, "x - (-y) -> x + y"),
    Rule("sub-self", 2, (Op.SUB,), _sub_self, "x - x -> 0 (NaN when x is inf or NaN)"),
    Rule("mul-zero", 2, (Op.MUL,), _mul_zero, "0 * x -> 0 (NaN when x is inf or NaN)"),
    Rule("div-self", 4, (Op.DIV,), _div_self, "x / x -> 1 (NaN when x is 0, inf or NaN)"),
)


def rules_by_op(level: int) -> dict[Op, list[Rule]]:
    table: dict[Op, list[Rule]] = {}
    for rule in RULES:
        if rule.level <= level:
            for op in rule.ops:
                table.setdefault(op, []).append(rule)
    return table
