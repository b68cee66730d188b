"""The IR verifier: checks every structural invariant of a kernel and its annotations."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NoReturn

from .errors import VerificationError
from .kernel import Kernel
from .ops import LEAVES, OP_INFO, VARIADIC, AttrKind, Op


def verify(kernel: Kernel, context: str = "") -> None:
    """Raise :class:`VerificationError` naming the first broken invariant."""
    where = f" (after {context})" if context else ""

    def fail(msg: str) -> NoReturn:
        raise VerificationError(f"kernel {kernel.name!r}{where}: {msg}")

    n = len(kernel.ops)
    if not (len(kernel.args) == len(kernel.attrs) == n):
        fail("ops, args and attrs have different lengths")
    for i in range(n):
        op = kernel.ops[i]
        if not isinstance(op, Op):
            fail(f"v{i} has unknown operation {op!r}")
        info = OP_INFO[op]
        a = kernel.args[i]
        attr = kernel.attrs[i]
        if info.arity == VARIADIC:
            if not a:
                fail(f"v{i} = {info.name} has no arguments")
        elif len(a) != info.arity:
            fail(f"v{i} = {info.name} has {len(a)} arguments, expected {info.arity}")
        for v in a:
            if not (0 <= v < i):
                fail(f"v{i} uses v{v}, which is not defined before it")
        kind = info.attr
        if kind is AttrKind.NONE and attr is not None:
            fail(f"v{i} = {info.name} carries an unexpected attribute {attr!r}")
        elif kind is AttrKind.FLOAT and not isinstance(attr, float):
            fail(f"v{i} = const has non-float value {attr!r}")
        elif kind is AttrKind.INT and (not isinstance(attr, int) or isinstance(attr, bool)):
            fail(f"v{i} = {info.name} has non-integer exponent {attr!r}")
        elif kind is AttrKind.PARAM and not (isinstance(attr, float) and math.isfinite(attr)):
            fail(f"v{i} = {info.name} has invalid order {attr!r}")
        elif kind is AttrKind.INPUT:
            if not (isinstance(attr, tuple) and len(attr) == 2):
                fail(f"v{i} = input has malformed attribute {attr!r}")
            p, j = attr
            if not (0 <= p < len(kernel.inputs) and 0 <= j < kernel.inputs[p].size):
                fail(f"v{i} = input refers to missing element {attr!r}")
    if len(kernel.results) != len(kernel.outputs):
        fail("the number of result lists differs from the number of outputs")
    for port, res in zip(kernel.outputs, kernel.results, strict=True):
        if len(res) != port.size:
            fail(f"output {port.name!r} has {len(res)} elements, declared {port.size}")
        for v in res:
            if not (0 <= v < n):
                fail(f"output {port.name!r} refers to undefined v{v}")
    for port in (*kernel.inputs, *kernel.outputs):
        if port.size < 1 or (port.scalar and port.size != 1):
            fail(f"port {port.name!r} has invalid size {port.size}")
    if kernel.allocation is not None:
        _verify_allocation(kernel, fail)


def _verify_allocation(kernel: Kernel, fail: Callable[[str], NoReturn]) -> None:
    alloc = kernel.allocation
    assert alloc is not None
    computed = [i for i, op in enumerate(kernel.ops) if op not in LEAVES]
    if sorted(alloc.statements) != computed:
        fail("the allocation does not schedule every computed value exactly once")
    position = {v: k for k, v in enumerate(alloc.statements)}
    for v in alloc.statements:
        for a in kernel.args[v]:
            if a in position and position[a] >= position[v]:
                fail(f"v{v} is scheduled before its argument v{a}")
    prev = 0
    for ch in alloc.chunks:
        if ch.start != prev or ch.stop <= ch.start:
            fail("chunks do not tile the statement list")
        prev = ch.stop
    if prev != len(alloc.statements):
        fail("chunks do not cover every statement")
    for v, s in alloc.slot.items():
        if not (0 <= s < alloc.workspace_size):
            fail(f"v{v} has workspace slot {s} outside the workspace")
    # two values sharing a slot must not be live at the same time
    chunk_of = {}
    for c, ch in enumerate(alloc.chunks):
        for s in alloc.statements[ch.start : ch.stop]:
            chunk_of[s] = c
    last_use: dict[int, int] = {}
    for v in alloc.statements:
        for a in kernel.args[v]:
            if a in alloc.slot:
                last_use[a] = max(last_use.get(a, -1), chunk_of[v])
    by_slot: dict[int, list[tuple[int, int]]] = {}
    for v, s in alloc.slot.items():
        by_slot.setdefault(s, []).append((chunk_of[v], last_use.get(v, chunk_of[v])))
    for s, ranges in by_slot.items():
        ranges.sort()
        for (_, a1), (b0, _) in itertools.pairwise(ranges):
            if b0 <= a1:
                fail(f"workspace slot {s} holds two values that are live at the same time")
