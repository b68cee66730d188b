"""A kernel's content as a hashable key: two kernels with equal keys compute the same thing under
the same name and ports, so a module needs only one of them.

:func:`content_key` covers everything the code generation pipeline reads from a kernel (its name,
ports, instruction lists, constants by bit pattern so ``0.0``, ``-0.0`` and distinct NaNs stay
apart, results, temporaries and, for a staged kernel, its steps with their callees' keys) and
nothing it writes (allocation, notes). It is linear in the size of the kernel and of the
kernels it calls, each visited once (:func:`ir.staged.module_of` order, callees first).
"""

from __future__ import annotations

from collections.abc import Hashable, MutableMapping
from typing import Any

from .expr import float_key
from .kernel import Kernel
from .staged import module_of


def _attr_key(attr: Any) -> Hashable:
    """An instruction attribute, typed (``1`` and ``1.0`` differ), floats by bit pattern."""
    if isinstance(attr, float):
        return ("float", float_key(attr))
    return (type(attr).__qualname__, attr)


def _own_key(kernel: Kernel, memo: MutableMapping[int, tuple[Kernel, Hashable]]) -> Hashable:
    steps = tuple(
        (memo[id(c.callee)][1], c.count, c.inputs, c.outputs, c.carries, c.reverse) for c in kernel.steps
    )
    key = (
        kernel.name,
        kernel.canonical,
        kernel.inputs,
        kernel.outputs,
        tuple(kernel.ops),
        tuple(kernel.args),
        tuple(_attr_key(a) for a in kernel.attrs),
        tuple(tuple(r) for r in kernel.results),
        kernel.temps,
        steps,
    )
    try:
        hash(key)
    except TypeError:  # an attribute without a value hash: the kernel is only equal to itself
        return ("identity", id(kernel))
    return key


def content_key(kernel: Kernel, memo: MutableMapping[int, tuple[Kernel, Hashable]] | None = None) -> Hashable:
    """The content key of ``kernel``. ``memo`` (kernel id -> (kernel, key)) carries the keys
    already computed (of callees shared by several kernels) from one call to the next; it holds
    the kernels, so an id in it cannot be reused by another kernel."""
    memo = {} if memo is None else memo
    for k in module_of([kernel]):
        known = memo.get(id(k))
        if known is None or known[0] is not k:
            memo[id(k)] = (k, _own_key(k, memo))
    return memo[id(kernel)][1]
