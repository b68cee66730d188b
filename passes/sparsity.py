"""Sparse Hessians and Jacobians: the structural nonzeros of a matrix, in compressed-column order.

Both matrices share one layout (:class:`CSCPattern`: column pointers ``indptr`` and row
indices ``indices``, values column by column with rows increasing inside a column), one note
(``"sparse_patterns"``: ``{output index: pattern}``) and one way to the crate (the signature
record's sparse outputs and their ``pub const`` arrays, :mod:`backends.metadata`).

**Sparse Hessians.** One mechanism builds every sparse Hessian: :func:`hessian_nonzeros` reads
the lower-triangle entries that the reverse sweeps reach
(:meth:`~passes.autodiff_sweeps.DerivativeGraph.hessian_entries`, ``O(nnz)``, no ``n x n`` list
anywhere) and lays them out in CSC order. The standalone kernel
(:func:`sparse_hessian_kernel`, :class:`SparseHessianPass`; the public API is
:func:`gradgen.sparse.sparse_hessian`) and the sparse Hessian outputs of joint kernels
(:func:`passes.autodiff.joint_kernel`) both use it.

**What "structural" means.** The pattern is that of the dense Hessian kernel that the autodiff
pass builds, *before* any simplification pass runs: an entry is a structural zero when its value
is the constant 0 there (``+0.0`` or ``-0.0``), i.e. when no second-order dependency path links
the two variables, or when the path folds to the constant 0 under the exact construction-time
folds of :mod:`ir.fold` (constant arithmetic, ``x-0``, ``x*1``, ...; the finite-only rewrites
such as ``0*x`` and ``x-x`` are simplification rules and do not count). Every other entry is a
structural nonzero and keeps its slot even when it is 0 at some point, or when simplification at
the chosen level later proves it always 0: the pattern depends on the function only, never on
the simplification level or the input values, so a solver can analyse it once.

**Hessian layout.** ``triangle`` is ``"full"`` (both triangles, like the dense Hessian and CasADi's
``hessian``), ``"lower"`` (entries ``i >= j``) or ``"upper"`` (``i <= j``). Values are in CSC
order: column by column, rows increasing within a column. Symmetric entries are computed once
(the autodiff pass mirrors them), so ``"full"`` only adds writes. A Hessian without any
structural nonzero is a :class:`~passes.errors.DifferentiationError`: there is nothing to compute.

**Sparse Jacobians.** :func:`jacobian_nonzeros` builds the Jacobian of every output w.r.t. one
input as structural nonzeros, one :class:`JacobianPattern` (``m x n``, CSC) per output; the
standalone kernel (:func:`sparse_jacobian_kernel`, :class:`SparseJacobianPass`; public API
:meth:`gradgen.Function.sparse_jacobian`) and the ``"jf_sparse"`` parts of joint kernels use it.
"Structural" means what it means for Hessians: an entry is a structural zero when its value is
the constant 0 under the exact construction-time folds. Three steps, none of them ``m x n``:

1. *pattern*: index sets travel once through the cone of the outputs along the edges whose
   partial (from :data:`passes.autodiff_rules.RULES`) is not a structural zero (comparisons,
   ``floor``, the condition of a ``select`` carry nothing), input columns forward or output rows
   backward, whichever dimension is smaller; the cost is the sum of the set sizes (``O(graph)``
   for a banded Jacobian);
2. *coloring*: rows that share no column (or columns that share no row) are grouped by
   ``networkx``'s greedy coloring; the mode with fewer groups wins, reverse on a tie (a mode
   whose lower bound, its longest column or row, cannot beat the other is not colored);
3. *sweeps*: one reverse sweep seeded with 1 on every row of a group (or one forward sweep
   seeded on every column of a group); each nonzero is read off its group's sweep, and an entry
   whose value folds to the constant 0 (contributions that cancel as constants) is dropped.

Reverse-mode values are the dense Jacobian's bit for bit (the same sweeps over the same cones);
forward-mode values equal them to rounding. The plan (:class:`SweepPlan`) rides on the kernel in
the note ``"sparse_sweeps"`` (``{output index: plan}``) for ``gradgen-dump --stats``. A block
without any structural nonzero (an output that does not depend on the input) is a
:class:`~passes.errors.DifferentiationError`: a slice of length 0 has nothing to compute.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import attrs
import networkx as nx

from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.ops import Op

from .autodiff_ports import PortNames, check_wrt
from .autodiff_rules import partials
from .autodiff_scaled import Scaled
from .autodiff_sweeps import DerivativeGraph
from .errors import DifferentiationError, EvaluationArgumentError

#: accepted values of ``triangle``
TRIANGLES: tuple[str, ...] = ("full", "lower", "upper")

#: the note of a kernel with sparse Hessian outputs: ``{output index: HessianPattern}``
SPARSE_PATTERNS = "sparse_patterns"


def check_triangle(triangle: object) -> str:
    """``triangle`` if it is one of :data:`TRIANGLES`, else a :class:`DifferentiationError`."""
    if not isinstance(triangle, str) or triangle not in TRIANGLES:
        raise DifferentiationError(
            f"triangle must be one of {', '.join(map(repr, TRIANGLES))}, got {triangle!r}"
        )
    return triangle


class CSCPattern(abc.ABC):
    """The compressed-column layout shared by every sparse output: ``indptr[j]:indptr[j+1]``
    are the positions of column ``j``'s nonzeros and ``indices[k]`` is the row of the ``k``-th
    nonzero (rows increasing inside a column). Subclasses give the shape and the name of the
    matrix (:attr:`matrix`, used in the generated documentation)."""

    indptr: tuple[int, ...]
    indices: tuple[int, ...]
    #: the matrix the pattern belongs to, for documentation ("Hessian", "Jacobian")
    matrix: str = "matrix"

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the matrix."""

    @property
    def nnz(self) -> int:
        return len(self.indices)

    @property
    def rows(self) -> tuple[int, ...]:
        """Row of each nonzero, in value order (the same as ``indices``)."""
        return self.indices

    @property
    def cols(self) -> tuple[int, ...]:
        """Column of each nonzero, in value order."""
        out: list[int] = []
        for j in range(self.shape[1]):
            out.extend([j] * (self.indptr[j + 1] - self.indptr[j]))
        return tuple(out)

    def _json(self) -> dict[str, Any]:
        return {"format": "csc", "shape": list(self.shape)}

    def as_json(self) -> dict[str, Any]:
        """The pattern as recorded in a crate's ``metadata.json``."""
        return {
            **self._json(),
            "nnz": self.nnz,
            "col_pointers": list(self.indptr),
            "row_indices": list(self.indices),
        }

    def _scatter(self, values: Sequence[float], mirror: bool) -> list[list[float]]:
        try:
            vals = [float(v) for v in values]
        except (TypeError, ValueError):
            raise EvaluationArgumentError(
                f"to_dense needs a sequence of {self.nnz} numbers, got {values!r}"
            ) from None
        if len(vals) != self.nnz:
            raise EvaluationArgumentError(
                f"to_dense needs {self.nnz} values (the nonzeros of the pattern), got {len(vals)}"
            )
        m, n = self.shape
        dense = [[0.0] * n for _ in range(m)]
        for j in range(n):
            for k in range(self.indptr[j], self.indptr[j + 1]):
                i = self.indices[k]
                dense[i][j] = vals[k]
                if mirror:
                    dense[j][i] = vals[k]
        return dense


def _csc(columns: Sequence[list[tuple[int, int]]]) -> tuple[tuple[int, ...], tuple[int, ...], list[int]]:
    """``(indptr, indices, value ids)`` of per-column ``(row, value id)`` lists (sorted here)."""
    indptr = [0]
    indices: list[int] = []
    ids: list[int] = []
    for col in columns:
        col.sort()
        indices.extend(r for r, _ in col)
        ids.extend(v for _, v in col)
        indptr.append(len(indices))
    return tuple(indptr), tuple(indices), ids


@attrs.frozen
class HessianPattern(CSCPattern):
    """The CSC sparsity pattern of a (square, symmetric) Hessian: ``n x n``, one ``triangle``."""

    n: int
    triangle: str
    indptr: tuple[int, ...]
    indices: tuple[int, ...]
    matrix: str = attrs.field(default="Hessian", init=False, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    def _json(self) -> dict[str, Any]:
        return {**super()._json(), "triangle": self.triangle}

    def to_dense(self, values: Sequence[float], mirror: bool = False) -> list[list[float]]:
        """The ``n x n`` matrix (a list of rows) with ``values`` at the pattern's positions.

        With ``mirror=True`` a triangle is reflected into the other half (the full symmetric
        Hessian); a ``"full"`` pattern needs no mirroring.
        """
        return self._scatter(values, mirror)


@attrs.frozen
class JacobianPattern(CSCPattern):
    """The CSC sparsity pattern of an ``m x n`` Jacobian block (one output, one input)."""

    m: int
    n: int
    indptr: tuple[int, ...]
    indices: tuple[int, ...]
    matrix: str = attrs.field(default="Jacobian", init=False, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.m, self.n)

    def to_dense(self, values: Sequence[float]) -> list[list[float]]:
        """The ``m x n`` matrix (a list of rows) with ``values`` at the pattern's positions."""
        return self._scatter(values, False)


def hessian_nonzeros(g: DerivativeGraph, wrt: int, triangle: str) -> tuple[HessianPattern, list[int]]:
    """The Hessian of ``g``'s scalar output w.r.t. input ``wrt`` as its structural nonzeros: the
    pattern of ``triangle`` and the value ids in CSC order (empty when the Hessian is
    structurally zero).

    Built from the lower-triangle entries of :meth:`DerivativeGraph.hessian_entries` (``O(nnz)``
    entries), dropping those that are the constant 0, exactly the entries that are structural
    zeros of the dense Hessian; a symmetric entry keeps one value id in both triangles.
    """
    n, b = g.kernel.inputs[wrt].size, g.b
    columns: list[list[tuple[int, int]]] = [[] for _ in range(n)]  # per column: (row, value id)
    for (i, j), v in g.hessian_entries(wrt).items():  # i >= j
        if b.ops[v] is Op.CONST and b.attrs[v] == 0.0:
            continue
        if triangle != "upper":
            columns[j].append((i, v))
        if triangle == "upper" or (triangle == "full" and i != j):
            columns[i].append((j, v))
    indptr, indices, ids = _csc(columns)
    return HessianPattern(n, triangle, indptr, indices), ids


def sparse_hessian_kernel(
    kernel: Kernel, wrt: int = 0, triangle: str = "full"
) -> tuple[Kernel, HessianPattern]:
    """The sparse Hessian kernel of ``kernel``'s scalar output w.r.t. input ``wrt`` and its pattern.

    The kernel is ``<f>_sparse_hessian_<in>`` with output ``hessian_<in>`` of length ``nnz``
    (:func:`hessian_nonzeros`).
    """
    check_triangle(triangle)
    w = check_wrt(kernel, wrt)
    g = DerivativeGraph(kernel)
    g.scalar_output("hessian")
    port = kernel.inputs[w]
    pattern, ids = hessian_nonzeros(g, w, triangle)
    if not ids:
        raise DifferentiationError(
            f"the Hessian of {kernel.name!r} with respect to {port.name!r} is "
            "structurally zero (the output is at most linear in it); there are no nonzeros to compute"
        )
    name = PortNames(kernel.inputs).take(f"hessian_{port.name}")
    out = Port(name, len(ids), port.scalar and len(ids) == 1)
    return g.finish(f"{kernel.name}_sparse_hessian_{port.name}", [(out, ids)]), pattern


@attrs.frozen
class SparseHessianPass:
    """The sparse Hessian as a pass (so the pass manager verifies its kernel). The kernel it
    returns carries the note ``"sparse_patterns"``: ``{0: HessianPattern}`` (output index ->
    pattern)."""

    wrt: int = 0
    triangle: str = "full"
    name: str = "sparse_hessian"

    def __attrs_post_init__(self) -> None:
        check_triangle(self.triangle)

    def run(self, kernel: Kernel) -> Kernel:
        result, pattern = sparse_hessian_kernel(kernel, self.wrt, self.triangle)
        return result.with_note(SPARSE_PATTERNS, {0: pattern})


# ---- sparse Jacobians ----------------------------------------------------------------------------

#: the note of a kernel with sparse Jacobian outputs: ``{output index: SweepPlan}`` (the outputs
#: of one input block share one plan)
SPARSE_SWEEPS = "sparse_sweeps"


@attrs.frozen
class SweepPlan:
    """How the sparse Jacobian of one input block is computed: ``mode`` ``"reverse"`` (one
    reverse sweep per group of structurally orthogonal rows) or ``"forward"`` (one forward sweep
    per group of structurally orthogonal columns), and the groups (indices of the stacked rows of
    every output, or of the input's columns).

    ``forward_colors`` and ``reverse_colors`` are the number of groups each mode needed (``None``
    when a mode was not colored because its lower bound, the longest row or column, was already
    no better than the other mode's count); ``dense_sweeps`` is what the dense Jacobian costs
    (one reverse sweep per output element).
    """

    mode: str
    groups: tuple[tuple[int, ...], ...]
    m: int
    n: int
    nnz: int
    forward_colors: int | None
    reverse_colors: int | None

    @property
    def sweeps(self) -> int:
        return len(self.groups)

    @property
    def dense_sweeps(self) -> int:
        return self.m

    def describe(self) -> str:
        """One line for ``gradgen-dump --stats``."""
        other = "forward" if self.mode == "reverse" else "reverse"
        alt = self.forward_colors if other == "forward" else self.reverse_colors
        alt_text = f"{other} would need {alt}" if alt is not None else f"{other} not colored (no better)"
        return (
            f"{self.sweeps} {self.mode} sweep(s) for {self.m}x{self.n}, nnz {self.nnz} "
            f"({alt_text}; dense: {self.dense_sweeps} reverse)"
        )


def _structure(g: DerivativeGraph, wrt: int, rows: Sequence[int]) -> list[list[int]]:
    """Per stacked row (an output element id in ``rows``), the columns of input ``wrt`` it
    depends on through partials that are not structural zeros, sorted.

    Index sets travel along the graph once, in the direction of the smaller dimension (input
    columns forward when there are fewer of them, output rows backward otherwise), so the cost
    is the sum of the set sizes over the cone: ``O(graph)`` for a banded Jacobian, never
    ``m x n``."""
    b = g.b
    act = g.activity((wrt,))
    xs = g.input_ids(wrt)
    roots = [y for y in rows if act[y]]
    cone = g._cone(roots, act)  # sorted active ancestors
    edges: dict[int, list[int]] = {}  # v -> its active args with a partial that is not zero
    for v in cone:
        args = b.args[v]
        if not args:
            continue
        need = [act[a] == 1 for a in args]
        edges[v] = [
            a
            for a, p, nd in zip(args, partials(b, v, need), need, strict=True)
            if nd and p is not None and not b.is_zero(p)
        ]
    out: list[list[int]] = [[] for _ in rows]
    if len(xs) <= len(rows):
        deps: dict[int, frozenset[int]] = {x: frozenset((j,)) for j, x in enumerate(xs)}
        empty: frozenset[int] = frozenset()
        for v in cone:
            acc: frozenset[int] | None = None
            for a in edges.get(v, ()):
                d = deps.get(a, empty)
                acc = d if acc is None or acc == d else acc | d
            if v in edges:
                deps[v] = acc or empty
        for i, y in enumerate(rows):
            out[i] = sorted(deps.get(y, empty))
        return out
    reach: dict[int, set[int]] = {}
    for i, y in enumerate(rows):
        if act[y]:
            reach.setdefault(y, set()).add(i)
    for v in reversed(cone):
        r = reach.get(v)
        if not r:
            continue
        for a in edges.get(v, ()):
            ra = reach.get(a)
            if ra is None:
                reach[a] = set(r)
            else:
                ra |= r
    for j, x in enumerate(xs):
        for i in reach.get(x, ()):
            out[i].append(j)
    return out


def _groups(items: Sequence[Sequence[int]], n_items: int) -> tuple[tuple[int, ...], ...]:
    """Greedy coloring (networkx, largest first) of the items ``0..n_items-1`` that appear in
    ``items`` (each a list of items sharing a row or a column): two items in one list never get
    the same color. The groups are sorted by their first item. When one list holds every item
    that appears (a dense row or column) the graph is complete: each item is its own group, and
    the ``O(items^2)`` graph is not built."""
    present = sorted({i for lst in items for i in lst})
    if any(len(lst) == len(present) for lst in items):
        return tuple((i,) for i in present)
    graph: nx.Graph[int] = nx.Graph()
    graph.add_nodes_from(present)
    for lst in items:
        for k, a in enumerate(lst):
            graph.add_edges_from((a, c) for c in lst[k + 1 :])
    colors = nx.greedy_color(graph, strategy="largest_first")
    groups: dict[int, list[int]] = {}
    for item in range(n_items):
        c = colors.get(item)
        if c is not None:
            groups.setdefault(c, []).append(item)
    return tuple(sorted(tuple(v) for v in groups.values()))


def _plan(row_cols: Sequence[list[int]], n: int) -> SweepPlan:
    """The cheaper of column (forward) and row (reverse) compression; reverse on a tie, as the
    dense Jacobian is reverse mode. A mode whose lower bound (the longest row for forward, the
    longest column for reverse) is no better than the other's count is not colored."""
    m = len(row_cols)
    col_rows: list[list[int]] = [[] for _ in range(n)]
    for i, cols in enumerate(row_cols):
        for j in cols:
            col_rows[j].append(i)
    nnz = sum(map(len, row_cols))
    lb_fwd = max(map(len, row_cols), default=0)
    lb_rev = max(map(len, col_rows), default=0)
    fwd: tuple[tuple[int, ...], ...] | None = None
    rev: tuple[tuple[int, ...], ...] | None = None
    if lb_rev <= lb_fwd:
        rev = _groups(col_rows, m)
        if lb_fwd < len(rev):
            fwd = _groups(row_cols, n)
    else:
        fwd = _groups(row_cols, n)
        if lb_rev <= len(fwd):
            rev = _groups(col_rows, m)
    n_fwd = None if fwd is None else len(fwd)
    n_rev = None if rev is None else len(rev)
    if rev is not None and (fwd is None or len(rev) <= len(fwd)):
        return SweepPlan("reverse", rev, m, n, nnz, n_fwd, n_rev)
    assert fwd is not None
    return SweepPlan("forward", fwd, m, n, nnz, n_fwd, n_rev)


def jacobian_nonzeros(
    g: DerivativeGraph, wrt: int
) -> tuple[list[JacobianPattern], list[list[int]], SweepPlan]:
    """The Jacobian of every output of ``g`` w.r.t. input ``wrt`` as structural nonzeros: per
    output its pattern and value ids in CSC order, and the plan of the sweeps that compute them.

    The rows of all outputs are stacked and compressed together (:func:`_plan`); each group of
    structurally orthogonal rows (columns) is one reverse (forward) sweep seeded with 1 on every
    member, and each nonzero is read off the sweep of its group. An entry whose value is the
    constant 0 (contributions that cancel as constants) is dropped, as for Hessians."""
    b = g.b
    rows = [y for res in g.outputs for y in res]
    owner = [k for k, res in enumerate(g.outputs) for _ in res]
    offset = [0]
    for res in g.outputs:
        offset.append(offset[-1] + len(res))
    xs = g.input_ids(wrt)
    n = len(xs)
    row_cols = _structure(g, wrt, rows)
    plan = _plan(row_cols, n)
    b.const(0.0)
    one = b.const(1.0)
    found: dict[tuple[int, int], int] = {}
    if plan.mode == "reverse":
        for group in plan.groups:
            adj = g.reverse([(rows[i], one) for i in group], (wrt,))
            for i in group:
                cols = row_cols[i]
                for j, v in zip(cols, g.values(adj, [xs[j] for j in cols]), strict=True):
                    found[(i, j)] = v
    else:
        col_rows: list[list[int]] = [[] for _ in range(n)]
        for i, cols in enumerate(row_cols):
            for j in cols:
                col_rows[j].append(i)
        for group in plan.groups:
            targets = sorted({i for j in group for i in col_rows[j]})
            tan: dict[int, Scaled] = g.forward(
                {xs[j]: one for j in group}, [rows[i] for i in targets], (wrt,)
            )
            for j in group:
                for i, v in zip(col_rows[j], g.values(tan, [rows[i] for i in col_rows[j]]), strict=True):
                    found[(i, j)] = v
    columns: list[list[list[tuple[int, int]]]] = [[[] for _ in range(n)] for _ in g.outputs]
    for (i, j), v in found.items():
        if not b.is_zero(v):
            o = owner[i]
            columns[o][j].append((i - offset[o], v))
    patterns: list[JacobianPattern] = []
    ids: list[list[int]] = []
    for o, per_column in enumerate(columns):
        indptr, indices, vids = _csc(per_column)
        patterns.append(JacobianPattern(len(g.outputs[o]), n, indptr, indices))
        ids.append(vids)
    return patterns, ids, plan


def sparse_jacobian_blocks(
    g: DerivativeGraph, wrt: int, names: PortNames, kernel_name: str
) -> list[tuple[Port, list[int], JacobianPattern, SweepPlan]]:
    """One output ``jacobian_<out>_<in>`` per output of ``g``'s kernel holding its nonzeros
    (:func:`jacobian_nonzeros`); a block without any structural nonzero is a
    :class:`DifferentiationError` (an output slice of length 0 has nothing to compute)."""
    kernel = g.kernel
    port = kernel.inputs[wrt]
    patterns, ids, plan = jacobian_nonzeros(g, wrt)
    out = []
    for o, pattern, vids in zip(kernel.outputs, patterns, ids, strict=True):
        name = names.take(f"jacobian_{o.name}_{port.name}")
        if not vids:
            raise DifferentiationError(
                f"the Jacobian output {name!r} of {kernel_name!r} is structurally zero: output "
                f"{o.name!r} does not depend on {port.name!r}; there are no nonzeros to compute"
            )
        out.append((Port(name, len(vids), o.scalar and port.scalar and len(vids) == 1), vids, pattern, plan))
    return out


def sparse_jacobian_kernel(
    kernel: Kernel, wrt: int = 0
) -> tuple[Kernel, dict[int, JacobianPattern], dict[int, SweepPlan]]:
    """The sparse Jacobian kernel ``<f>_sparse_jacobian_<in>`` of every output of ``kernel``
    w.r.t. input ``wrt``: one output ``jacobian_<out>_<in>`` of length nnz per output, with the
    patterns and sweep plans by output index."""
    w = check_wrt(kernel, wrt)
    g = DerivativeGraph(kernel)
    name = f"{kernel.name}_sparse_jacobian_{kernel.inputs[w].name}"
    blocks = sparse_jacobian_blocks(g, w, PortNames(kernel.inputs), name)
    result = g.finish(name, [(p, ids) for p, ids, _, _ in blocks])
    return (
        result,
        {k: pattern for k, (_, _, pattern, _) in enumerate(blocks)},
        {k: plan for k, (_, _, _, plan) in enumerate(blocks)},
    )


@attrs.frozen
class SparseJacobianPass:
    """The sparse Jacobian as a pass. The kernel it returns carries the notes
    ``"sparse_patterns"`` (``{output index: JacobianPattern}``) and ``"sparse_sweeps"``
    (``{output index: SweepPlan}``)."""

    wrt: int = 0
    name: str = "sparse_jacobian"

    def run(self, kernel: Kernel) -> Kernel:
        result, patterns, plans = sparse_jacobian_kernel(kernel, self.wrt)
        return result.with_note(SPARSE_PATTERNS, patterns).with_note(SPARSE_SWEEPS, plans)
