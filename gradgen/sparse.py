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

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from gradgen.ir.errors import GradgenTypeError
from gradgen.passes.manager import PassManager
from gradgen.passes.sparsity import TRIANGLES, HessianPattern, SparseHessianPass, check_triangle

if TYPE_CHECKING:  # pragma: no cover
    from .function import Function

__all__ = ["TRIANGLES", "HessianPattern", "SparseHessian", "sparse_hessian"]


@attrs.frozen
class SparseHessian:
    """A sparse Hessian: ``function`` computes the nonzeros (CSC order) of the Hessian of a scalar
    Function w.r.t. one input; the pattern is ``indptr``/``indices`` (or ``rows``/``cols``)."""

    function: Function
    pattern: HessianPattern

    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    @property
    def nnz(self) -> int:
        return self.pattern.nnz

    @property
    def triangle(self) -> str:
        return self.pattern.triangle

    @property
    def indptr(self) -> tuple[int, ...]:
        return self.pattern.indptr

    @property
    def indices(self) -> tuple[int, ...]:
        return self.pattern.indices

    @property
    def rows(self) -> tuple[int, ...]:
        return self.pattern.rows

    @property
    def cols(self) -> tuple[int, ...]:
        return self.pattern.cols

    def to_dense(self, values: Sequence[float], mirror: bool = False) -> list[list[float]]:
        """See :meth:`HessianPattern.to_dense`."""
        return self.pattern.to_dense(values, mirror)

    def __repr__(self) -> str:
        n = self.pattern.n
        return f"SparseHessian({self.function.name!r}: {n}x{n}, {self.triangle}, nnz={self.nnz})"


def sparse_hessian(f: Function, wrt: int = 0, triangle: str = "full") -> SparseHessian:
    """The sparse Hessian of ``f`` (one scalar output) w.r.t. input ``wrt``: see the module doc."""
    from .function import Function

    if not isinstance(f, Function):
        raise GradgenTypeError(f"expected a gradgen Function, got {type(f).__name__}")
    kernel = PassManager([SparseHessianPass(wrt, check_triangle(triangle))]).run(f.kernel)
    pattern = kernel.note("sparse_patterns")[0]
    return SparseHessian(Function.from_kernel(kernel, f.input_symbols), pattern)
