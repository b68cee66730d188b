"""Human-readable printing of ``SX`` expressions: infix for small trees, a let-form over the DAG
for large or heavily shared ones (never expanding the tree, never recursing over its depth)."""

from __future__ import annotations

import math

from .expr import SX, iter_dag
from .ops import OP_INFO, VARIADIC, AttrKind, Op

_PREC = {Op.ADD: 1, Op.SUB: 1, Op.MUL: 2, Op.DIV: 2, Op.NEG: 3, Op.POWI: 4, Op.POW: 4}
_CMP_PREC = 0
_ATOM = 9
#: an expression whose expanded tree is larger than this prints as a DAG in let-form
INFIX_LIMIT = 400
#: a let-form with more bindings than this shows only the first and last ones (the full program
#: of a large expression is printed by :func:`ir.printer.format_kernel`)
LET_LIMIT = 200


def _fmt_const(v: float) -> str:
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v)) if v != 0.0 or math.copysign(1.0, v) > 0 else "-0.0"
    return repr(v)


def _tree_size(root: SX, cap: int) -> int:
    size: dict[int, int] = {}
    for node in iter_dag((root,)):
        size[id(node)] = min(cap + 1, 1 + sum(size[id(a)] for a in node.args))
    return size[id(root)]


def _render(node: SX, child: list[tuple[str, int]]) -> tuple[str, int]:
    op = node.op
    if op is Op.INPUT:
        return node.attr, _ATOM  # type: ignore[return-value]
    if op is Op.CONST:
        text = _fmt_const(node.attr)  # type: ignore[arg-type]
        return text, (_ATOM if not text.startswith("-") else 3)
    info = OP_INFO[op]

    def wrap(i: int, prec: int, strict: bool = False) -> str:
        text, p = child[i]
        return f"({text})" if p < prec or (strict and p == prec) else text

    if op is Op.NEG:
        return "-" + wrap(0, 3), 3
    if op is Op.POWI:
        n = node.attr
        return f"{wrap(0, 5)}**{n if n >= 0 else f'({n})'}", 4  # type: ignore[operator]
    if op is Op.POW:
        return f"{wrap(0, 5)}**{wrap(1, 5)}", 4
    if info.symbol is not None and info.arity == 2:
        prec = _PREC.get(op, _CMP_PREC)
        strict = op in (Op.SUB, Op.DIV) or prec == _CMP_PREC
        return f"{wrap(0, prec)} {info.symbol} {wrap(1, prec, strict)}", prec
    parts = [text for text, _ in child]
    if op is Op.SELECT:  # printed like the public if_else(a, b, cond)
        return f"if_else({parts[1]}, {parts[2]}, {parts[0]})", _ATOM
    if op is Op.CUSTOM:  # a user function, printed by its name (and derivative part)
        return f"{node.attr.label}({', '.join(parts)})", _ATOM  # type: ignore[attr-defined]
    if info.arity == VARIADIC:  # vector reductions, printed like gradgen.norm_p([x0, x1], p)
        extra = f", {_fmt_const(node.attr)}" if info.attr is AttrKind.PARAM else ""  # type: ignore[arg-type]
        return f"{info.name}([{', '.join(parts)}]{extra})", _ATOM
    return f"{info.name}({', '.join(parts)})", _ATOM


def to_infix(root: SX, limit: int = INFIX_LIMIT) -> str:
    """Infix text of an expression; large shared DAGs print in let-form, never expanded."""
    if _tree_size(root, limit) > limit:
        return _let_form(root)
    rendered: dict[int, tuple[str, int]] = {}
    for node in iter_dag((root,)):
        rendered[id(node)] = _render(node, [rendered[id(a)] for a in node.args])
    return rendered[id(root)][0]


def _let_form(root: SX) -> str:
    names: dict[int, tuple[str, int]] = {}
    lines: list[str] = []
    for node in iter_dag((root,)):
        if not node.args:
            names[id(node)] = _render(node, [])
            continue
        text, _ = _render(node, [names[id(a)] for a in node.args])
        name = f"t{len(lines)}"
        lines.append(f"{name} = {text}")
        names[id(node)] = (name, _ATOM)
    if len(lines) > LET_LIMIT:
        keep = LET_LIMIT // 2
        hidden = len(lines) - 2 * keep
        lines = [*lines[:keep], f"... {hidden} more bindings ...", *lines[-keep:]]
    return "let " + "; ".join(lines) + f" in {names[id(root)][0]}"
