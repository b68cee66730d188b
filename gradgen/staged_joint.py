"""Joint kernels of staged functions, for the builder's ``add_joint``.

A straight-line Function's joint kernel comes from the joint autodiff pass; a staged one has no
instructions to differentiate, so a staged object that offers joint kernels registers a maker
for the Function of its staged kernel: ``make(parts)`` returns the staged joint kernel of the
bundle's ``(artifact, wrt blocks)`` parts or raises ``DifferentiationError``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from gradgen.ir.kernel import Kernel

from .function import Function

#: one bundle's ``(artifact, wrt input indices)`` pairs, as ``FunctionBundle.resolve`` gives them
Parts = tuple[tuple[str, tuple[int, ...]], ...]

_JOINTS: weakref.WeakKeyDictionary[Function, Callable[[Parts], Kernel]] = weakref.WeakKeyDictionary()


def register_staged_joint(function: Function, make: Callable[[Parts], Kernel]) -> None:
    _JOINTS[function] = make


def staged_joint_maker(function: Function) -> Callable[[Parts], Kernel] | None:
    """The joint-kernel maker of a staged Function, or ``None`` when it offers none."""
    return _JOINTS.get(function)
