"""Sparse Hessians for users: only the structural nonzeros, in compressed-column (CSC) order.

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
"""

from __future__ import annotations

from gradgen.errors import GradgenTypeError
from gradgen.passes.sparsity import TRIANGLES, HessianPattern

# SparseHessian is defined beside Function, whose sparse_hessian method returns it
from .function import Function, SparseHessian

__all__ = ["TRIANGLES", "HessianPattern", "SparseHessian", "sparse_hessian"]


def sparse_hessian(f: Function, wrt: int = 0, triangle: str = "full") -> SparseHessian:
    """The sparse Hessian of ``f`` (one scalar output) w.r.t. input ``wrt``: see the module doc."""
    if not isinstance(f, Function):
        raise GradgenTypeError(f"expected a gradgen Function, got {type(f).__name__}")
    return f.sparse_hessian(wrt, triangle)
