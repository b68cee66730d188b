"""Simplification and common-subexpression elimination for users: ``simplify`` and ``cse``.

``simplify`` of an expression lowers it, runs the simplification pipeline of the level and raises
the result back to ``SX``; ``simplify`` of a ``Function`` is :meth:`Function.simplify`, which stays
on the kernel.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import overload

from gradgen.errors import GradgenTypeError
from gradgen.ir.expr import SX, Scalar, as_sx, iter_dag
from gradgen.ir.kernel import Port
from gradgen.ir.lower import lower, raise_kernel
from gradgen.passes.cse import Assignment, CSEPlan, cse_plan
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import level_index, simplification_passes

from .compat import level_from_effort
from .function import Function
from .vector import SXVector

#: gradgen 0.5.2's name of a CSE plan entry
CSEAssignment = Assignment
__all__ = ["CSEAssignment", "CSEPlan", "cse", "simplify"]


def _simplify_exprs(exprs: list[SX], level: str | int) -> list[SX]:
    passes = simplification_passes(level)
    symbols = [n for n in iter_dag(exprs) if n.is_symbol]
    kernel = lower(
        "simplify",
        [(Port(s.name, 1, True), [s]) for s in symbols] or [],
        [(Port("out", len(exprs)), exprs)],
    )
    kernel = PassManager(passes).run(kernel)
    return raise_kernel(kernel, [[s] for s in symbols])[0]


@overload
def simplify(expr: Function, level: str | int = ..., *, max_effort: str | int | None = ...) -> Function: ...
@overload
def simplify(expr: SXVector, level: str | int = ..., *, max_effort: str | int | None = ...) -> SXVector: ...
@overload
def simplify(expr: Scalar, level: str | int = ..., *, max_effort: str | int | None = ...) -> SX: ...
@overload
def simplify(
    expr: tuple[SX | SXVector, ...], level: str | int = ..., *, max_effort: str | int | None = ...
) -> tuple[SX | SXVector, ...]: ...
def simplify(
    expr: Function | SXVector | Scalar | tuple[SX | SXVector, ...],
    level: str | int = "medium",
    *,
    max_effort: str | int | None = None,
) -> Function | SXVector | SX | tuple[SX | SXVector, ...]:
    """Simplify an ``SX``, an ``SXVector``, a tuple of them (e.g. rows) or a ``Function`` at
    ``level``.

    ``level`` is ``"none" "basic" "medium" "high" "max"`` or ``0``-``4`` (see the user guide for
    what each level may rewrite); ``max_effort=`` takes gradgen 0.5.2's efforts (a level name or
    a pass count, see :func:`gradgen.compat.level_from_effort`).
    """
    if max_effort is not None:
        level = level_from_effort(max_effort)
    level_index(level)
    if isinstance(expr, Function):
        return expr.simplify(level)
    if isinstance(expr, SXVector):
        return SXVector(_simplify_exprs(list(expr), level))
    if isinstance(expr, (SX, int, float)):
        return _simplify_exprs([as_sx(expr)], level)[0]
    if isinstance(expr, tuple) and all(isinstance(e, (SX, SXVector)) for e in expr):
        return tuple(simplify(e, level) for e in expr)
    raise GradgenTypeError(
        f"simplify expects an SX, SXVector or Function, got {type(expr).__name__} "
        "(or a tuple of SX / SXVector, simplified item by item)"
    )


def cse(outputs: SX | Iterable[SX | SXVector | float], min_uses: int = 2, prefix: str = "w") -> CSEPlan:
    """The common-subexpression plan of ``outputs`` (an SX, a vector or a list of them)."""
    if isinstance(outputs, SX):
        roots = [outputs]
    elif isinstance(outputs, Iterable):
        roots = []
        for item in outputs:
            if isinstance(item, SXVector):
                roots.extend(item)
            else:
                roots.append(as_sx(item))
    else:
        raise GradgenTypeError(f"cse expects expressions, got {type(outputs).__name__}")
    return cse_plan(roots, min_uses, prefix)
