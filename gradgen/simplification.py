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
from gradgen.passes.cse import CSEPlan, cse_plan
from gradgen.passes.manager import PassManager
from gradgen.passes.pipelines import level_index, simplification_passes

from .function import Function
from .vector import SXVector


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
def simplify(expr: Function, level: str | int = "medium") -> Function: ...
@overload
def simplify(expr: SXVector, level: str | int = "medium") -> SXVector: ...
@overload
def simplify(expr: Scalar, level: str | int = "medium") -> SX: ...
def simplify(expr: Function | SXVector | Scalar, level: str | int = "medium") -> Function | SXVector | SX:
    """Simplify an ``SX``, an ``SXVector`` or a ``Function`` at ``level``.

    ``level`` is ``"none" "basic" "medium" "high" "max"`` or ``0``-``4`` (see the user guide for
    what each level may rewrite).
    """
    level_index(level)
    if isinstance(expr, Function):
        return expr.simplify(level)
    if isinstance(expr, SXVector):
        return SXVector(_simplify_exprs(list(expr), level))
    if isinstance(expr, (SX, int, float)):
        return _simplify_exprs([as_sx(expr)], level)[0]
    raise GradgenTypeError(f"simplify expects an SX, SXVector or Function, got {type(expr).__name__}")


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
