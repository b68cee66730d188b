"""Every table keyed by ``ir.ops.Op`` covers every operation, and nothing else.

The list below is the single place naming the project's per-op tables: add a new table by adding
its ``(module, attribute)`` pair.
"""

from __future__ import annotations

import importlib

import pytest

from gradgen.ir.ops import LEAVES, OP_BY_NAME, OP_INFO, VARIADIC, AttrKind, Op

TABLES: list[tuple[str, str]] = [
    ("gradgen.ir.ops", "OP_INFO"),  # arity, commutativity, attribute kind, IEEE evaluation
    ("gradgen.passes.autodiff_rules", "RULES"),  # derivative rule per op
    ("gradgen.passes.simplify_rules", "RULE_TABLE"),  # simplification rules per op
    ("gradgen.backends.rust_ops", "RUST_OPS"),  # Rust printing per op
]


@pytest.mark.parametrize(("module", "attribute"), TABLES, ids=[f"{m}.{a}" for m, a in TABLES])
def test_table_covers_every_op(module: str, attribute: str):
    table = getattr(importlib.import_module(module), attribute)
    assert isinstance(table, dict), f"{module}.{attribute} must be a dict keyed by Op"
    missing = sorted(op.name for op in Op if op not in table)
    extra = sorted(repr(k) for k in table if not isinstance(k, Op))
    assert not missing, f"{module}.{attribute} has no entry for: {', '.join(missing)}"
    assert not extra, f"{module}.{attribute} has keys that are not Op members: {', '.join(extra)}"


def test_op_info_is_consistent():
    names = [info.name for info in OP_INFO.values()]
    assert len(set(names)) == len(names)
    assert {info.name: op for op, info in OP_INFO.items()} == OP_BY_NAME
    for op, info in OP_INFO.items():
        if op in LEAVES:
            assert info.arity == 0 and info.evaluate is None
            continue
        assert info.evaluate is not None, f"{info.name} needs an IEEE evaluation"
        assert info.arity in (1, 2, 3, VARIADIC), info.name
        if info.commutative:
            assert info.arity == 2, f"{info.name}: only binary operations are marked commutative"
        if info.attr is AttrKind.PARAM:
            assert info.arity == VARIADIC
        if info.attr is AttrKind.INT:
            assert info.arity == 1
