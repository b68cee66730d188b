"""Sparse Hessians and Jacobians for users: only the structural nonzeros, in compressed-column
(CSC) order.

Solvers for MPC and NLP problems (OSQP, Clarabel, IPOPT-style interfaces) take the nonzeros and
a fixed pattern instead of the dense matrix::

    H = f.sparse_hessian(wrt=0, triangle="upper")
    values = H.function(x)             # the nonzeros, column by column
    H.indptr, H.indices                # CSC column pointers (n + 1) and row indices (nnz)
    H.rows, H.cols                     # the same pattern as (row, col) pairs, in value order
    H.to_dense(values)                 # a list of n rows (mirror=True fills the other triangle)

What "structural" means and the triangle layouts are documented in :mod:`passes.sparsity`,
which builds the kernel. The sparse kernel ``<f>_sparse_hessian_<in>`` has the inputs of ``f``
and one output ``hessian_<in>`` of length ``nnz``; its values equal the corresponding dense
entries bit for bit at the same simplification level.

Sparse Jacobians (constraint Jacobians of MPC and trajectory optimization are banded)::

    J = f.sparse_jacobian(0)           # every output of f w.r.t. input 0
    values = J.function(x)             # the nonzeros, column by column (a tuple per output
                                       # when f has several outputs)
    J.indptr, J.indices, J.rows, J.cols, J.to_dense(values)   # one output: its pattern
    J.patterns[k]                      # output k's JacobianPattern (m_k x n)
    J.sweeps                           # the SweepPlan: mode, groups, counts

The kernel ``<f>_sparse_jacobian_<in>`` has the inputs of ``f`` and one output
``jacobian_<out>_<in>`` of length nnz per output of ``f``. **Structural** means what it means
for Hessians: an entry is a structural zero when the derivative is the constant 0 under the
exact construction-time folds (no dependency path, or only through operations whose partial is
zero, such as comparisons, ``floor`` or the condition of a ``select``; or contributions that
cancel as constants). The pattern depends on the function only. It is found by propagating
index sets through the graph once (the cost is the sum of the set sizes, ``O(graph)`` for a
banded Jacobian, never ``m x n``); structurally orthogonal rows (or columns) are grouped by a
greedy coloring (``networkx``) and each group costs one reverse (or forward) sweep, whichever
mode needs fewer, so the Jacobian of a banded 1,000-stage horizon costs a handful of sweeps.
In reverse mode the values are those of the dense Jacobian bit for bit; forward-mode values
agree with them to rounding.
"""

from __future__ import annotations

from gradgen.errors import GradgenTypeError
from gradgen.passes.sparsity import TRIANGLES, CSCPattern, HessianPattern, JacobianPattern, SweepPlan

from .function import Function
from .sparse_results import SparseHessian, SparseJacobian

__all__ = [
    "TRIANGLES",
    "CSCPattern",
    "HessianPattern",
    "JacobianPattern",
    "SparseHessian",
    "SparseJacobian",
    "SweepPlan",
    "sparse_hessian",
    "sparse_jacobian",
]


def sparse_hessian(f: Function, wrt: int = 0, triangle: str = "full") -> SparseHessian:
    """The sparse Hessian of ``f`` (one scalar output) w.r.t. input ``wrt``: see the module doc."""
    if not isinstance(f, Function):
        raise GradgenTypeError(f"expected a gradgen Function, got {type(f).__name__}")
    return f.sparse_hessian(wrt, triangle)


def sparse_jacobian(f: Function, wrt_index: int = 0) -> SparseJacobian:
    """The sparse Jacobian of every output of ``f`` w.r.t. input ``wrt_index``: see the module doc."""
    if not isinstance(f, Function):
        raise GradgenTypeError(f"expected a gradgen Function, got {type(f).__name__}")
    return f.sparse_jacobian(wrt_index)
