"""Sparse Hessian kernels: the structural nonzeros of a Hessian, in compressed-column order.

One mechanism builds every sparse Hessian: :func:`hessian_nonzeros` reads the lower-triangle
entries that the reverse sweeps reach (:meth:`~passes.autodiff_sweeps.DerivativeGraph.hessian_entries`,
``O(nnz)``, no ``n x n`` list anywhere) and lays them out in CSC order. The standalone kernel
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

**Layout.** ``triangle`` is ``"full"`` (both triangles, like the dense Hessian and CasADi's
``hessian``), ``"lower"`` (entries ``i >= j``) or ``"upper"`` (``i <= j``). Values are in CSC
order: column by column, rows increasing within a column. Symmetric entries are computed once
(the autodiff pass mirrors them), so ``"full"`` only adds writes. A Hessian without any
structural nonzero is a :class:`~passes.errors.DifferentiationError`: there is nothing to compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from gradgen.ir.kernel import Kernel, Port
from gradgen.ir.ops import Op

from .autodiff_ports import PortNames, check_wrt
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


@attrs.frozen
class HessianPattern:
    """The CSC sparsity pattern of a (square, symmetric) Hessian.

    ``indptr[j]:indptr[j+1]`` are the positions of column ``j``'s nonzeros; ``indices[k]`` is the
    row of the ``k``-th nonzero.
    """

    n: int
    triangle: str
    indptr: tuple[int, ...]
    indices: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

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
        for j in range(self.n):
            out.extend([j] * (self.indptr[j + 1] - self.indptr[j]))
        return tuple(out)

    def as_json(self) -> dict[str, Any]:
        """The pattern as recorded in a crate's ``metadata.json``."""
        return {
            "format": "csc",
            "shape": [self.n, self.n],
            "triangle": self.triangle,
            "nnz": self.nnz,
            "col_pointers": list(self.indptr),
            "row_indices": list(self.indices),
        }

    def to_dense(self, values: Sequence[float], mirror: bool = False) -> list[list[float]]:
        """The ``n x n`` matrix (a list of rows) with ``values`` at the pattern's positions.

        With ``mirror=True`` a triangle is reflected into the other half (the full symmetric
        Hessian); a ``"full"`` pattern needs no mirroring.
        """
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
        dense = [[0.0] * self.n for _ in range(self.n)]
        for j in range(self.n):
            for k in range(self.indptr[j], self.indptr[j + 1]):
                i = self.indices[k]
                dense[i][j] = vals[k]
                if mirror:
                    dense[j][i] = vals[k]
        return dense


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
    indptr = [0]
    indices: list[int] = []
    ids: list[int] = []
    for col in columns:
        col.sort()
        indices.extend(r for r, _ in col)
        ids.extend(v for _, v in col)
        indptr.append(len(indices))
    return HessianPattern(n, triangle, tuple(indptr), tuple(indices)), ids


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
