"""The results of ``Function.sparse_hessian`` and ``Function.sparse_jacobian``: a Function that
computes the structural nonzeros in compressed-column order, with their pattern.

The patterns and their layout are documented in :mod:`passes.sparsity`; the user-facing guide is
:mod:`gradgen.sparse`. This module imports no other façade module at run time, so
:mod:`gradgen.function` can return these records without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from gradgen.errors import DifferentiationError
from gradgen.passes.sparsity import CSCPattern, HessianPattern, JacobianPattern, SweepPlan

if TYPE_CHECKING:  # pragma: no cover
    from .function import Function


class _HasPattern(Protocol):
    @property
    def pattern(self) -> CSCPattern: ...


class _PatternView:
    """The CSC pattern facts of a sparse result, read from its ``pattern``."""

    @property
    def shape(self: _HasPattern) -> tuple[int, int]:
        return self.pattern.shape

    @property
    def nnz(self: _HasPattern) -> int:
        return self.pattern.nnz

    @property
    def indptr(self: _HasPattern) -> tuple[int, ...]:
        return self.pattern.indptr

    @property
    def indices(self: _HasPattern) -> tuple[int, ...]:
        return self.pattern.indices

    @property
    def rows(self: _HasPattern) -> tuple[int, ...]:
        return self.pattern.rows

    @property
    def cols(self: _HasPattern) -> tuple[int, ...]:
        return self.pattern.cols


@attrs.frozen
class SparseHessian(_PatternView):
    """A sparse Hessian: ``function`` computes the nonzeros (CSC order) of the Hessian of a scalar
    Function w.r.t. one input; the pattern is ``indptr``/``indices`` (or ``rows``/``cols``). See
    :mod:`gradgen.sparse`."""

    function: Function
    pattern: HessianPattern

    @property
    def triangle(self) -> str:
        return self.pattern.triangle

    def to_dense(self, values: Sequence[float], mirror: bool = False) -> list[list[float]]:
        """See :meth:`HessianPattern.to_dense`."""
        return self.pattern.to_dense(values, mirror)

    def __repr__(self) -> str:
        n = self.pattern.n
        return f"SparseHessian({self.function.name!r}: {n}x{n}, {self.triangle}, nnz={self.nnz})"


@attrs.frozen
class SparseJacobian(_PatternView):
    """A sparse Jacobian: ``function`` computes the nonzeros (CSC order) of the Jacobian of each
    output of a Function w.r.t. one input, ``patterns`` holds one :class:`JacobianPattern` per
    output and ``sweeps`` the :class:`SweepPlan` that computes them. The pattern properties
    (``pattern``, ``shape``, ``nnz``, ``indptr``, ``indices``, ``rows``, ``cols``,
    ``to_dense``) describe the only output of a single-output Function."""

    function: Function
    patterns: tuple[JacobianPattern, ...]
    sweeps: SweepPlan

    @property
    def pattern(self) -> JacobianPattern:
        if len(self.patterns) != 1:
            raise DifferentiationError(
                f"{self.function.name!r} has {len(self.patterns)} Jacobian outputs "
                f"({', '.join(map(repr, self.function.output_names))}); use patterns[k]"
            )
        return self.patterns[0]

    def to_dense(self, values: Sequence[float]) -> list[list[float]]:
        """See :meth:`JacobianPattern.to_dense`."""
        return self.pattern.to_dense(values)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{p.m}x{p.n} nnz={p.nnz}" for p in self.patterns)
        plan = self.sweeps
        return f"SparseJacobian({self.function.name!r}: {shapes}; {plan.sweeps} {plan.mode} sweep(s))"
