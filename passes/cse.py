"""Common subexpression elimination.

On kernels, CSE is a rebuild through :class:`ir.kernel.KernelBuilder`: hash-consing on
``(op, args, attr)`` with canonically ordered commutative arguments merges every pair of equal
instructions, in one linear pass. Running it twice changes nothing. A kernel that came straight
out of a builder (:attr:`ir.kernel.Kernel.canonical`: lowering, simplification, autodiff) is
already in that form, so the pass returns it unchanged instead of rebuilding it.

For users, :func:`cse_plan` computes the plan the seed describes for ``SX`` outputs: the
subexpressions occurring at least ``min_uses`` times in the *expanded* expression trees, counted
on the DAG (number of root-to-node paths) without expanding it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from gradgen.ir.errors import GradgenTypeError
from gradgen.ir.expr import SX, iter_dag
from gradgen.ir.kernel import Kernel, rebuild


@attrs.frozen
class CSEPass:
    name: str = "cse"

    def run(self, kernel: Kernel) -> Kernel:
        if kernel.canonical:
            return kernel  # rebuilding a builder's output reproduces it exactly
        return rebuild(kernel)


@attrs.frozen
class Assignment:
    """``name <- expr``: ``expr`` refers to earlier assignments through symbols of their names."""

    name: str
    expr: SX
    use_count: int


@attrs.frozen
class CSEPlan:
    assignments: tuple[Assignment, ...]
    #: the outputs rewritten in terms of the assignment symbols
    outputs: tuple[SX, ...]
    #: every node of the original outputs -> its number of uses in their expanded trees
    use_counts: dict[SX, int] = attrs.field(factory=dict, repr=False, eq=False)

    def __len__(self) -> int:
        return len(self.assignments)


def use_counts(roots: Sequence[SX]) -> dict[int, int]:
    """Occurrences of every node in the expanded trees of ``roots`` (keys are ``id(node)``)."""
    order = list(iter_dag(list(roots)))
    count: dict[int, int] = {id(n): 0 for n in order}
    for r in roots:
        count[id(r)] += 1
    for node in reversed(order):
        c = count[id(node)]
        if c:
            for a in node.args:
                count[id(a)] += c
    return count


def cse_plan(roots: Sequence[SX], min_uses: int = 2, prefix: str = "w") -> CSEPlan:
    if isinstance(min_uses, bool) or not isinstance(min_uses, int) or min_uses < 1:
        raise GradgenTypeError(f"min_uses must be a positive integer, got {min_uses!r}")
    if not isinstance(prefix, str) or not prefix:
        raise GradgenTypeError(f"prefix must be a non-empty string, got {prefix!r}")
    roots = list(roots)
    counts = use_counts(roots)
    taken = {n.attr for n in iter_dag(roots) if n.is_symbol}
    replaced: dict[int, SX] = {}
    assignments: list[Assignment] = []
    serial = 0
    for node in iter_dag(roots):
        if not node.args:
            replaced[id(node)] = node
            continue
        expr = SX.make(node.op, tuple(replaced[id(a)] for a in node.args), node.attr)
        if counts[id(node)] >= min_uses:
            while f"{prefix}{serial}" in taken:
                serial += 1
            name = f"{prefix}{serial}"
            serial += 1
            assignments.append(Assignment(name, expr, counts[id(node)]))
            replaced[id(node)] = SX.sym(name)
        else:
            replaced[id(node)] = expr
    by_node = {n: counts[id(n)] for n in iter_dag(roots)}
    return CSEPlan(tuple(assignments), tuple(replaced[id(r)] for r in roots), by_node)
