"""The IR verifier: checks every structural invariant of a kernel and its annotations.

:func:`verify` returns a :class:`Verified` record of what it checked. Given the record of the
previous kernel (the pass manager passes it along), a kernel whose instructions, ports and
results are element-for-element the ones already verified (and whose allocation, if any, is the
one already verified) is not checked again: most passes (CSE of a canonical kernel, allocation,
naming, a simplification that fires no rule) keep them, and the comparison costs a fraction of
the checks it replaces. Anything that differs is checked in full. Without a record, the records
of the last few kernels verified are consulted by identity (the kernel one pass manager returns
is the one the next one is handed), with the same element-for-element comparison.
"""

from __future__ import annotations

import itertools
import math
import weakref
from bisect import bisect_left
from collections.abc import Callable
from itertools import compress, repeat
from operator import ge, is_, is_not, ne
from typing import Any, NoReturn

import attrs

from .custom import CustomCall
from .errors import VerificationError
from .kernel import Kernel, final_writes
from .ops import LEAVES, OP_INFO, VARIADIC, AttrKind, Op
from .staged import verify_staged

#: expected argument count per operation (``VARIADIC`` for the reductions)
_ARITY: dict[Op, int] = {op: info.arity for op, info in OP_INFO.items()}
#: operations that carry an attribute; every other instruction must have ``None``
_COMPUTED = frozenset(op for op in Op if op not in LEAVES)
_WITH_ATTR = frozenset(op for op, info in OP_INFO.items() if info.attr is not AttrKind.NONE)
_NO_ATTR = frozenset(op for op in Op if op not in _WITH_ATTR)
#: attribute kind -> the operations carrying it
_BY_KIND: dict[AttrKind, frozenset[Op]] = {
    kind: frozenset(op for op, info in OP_INFO.items() if info.attr is kind)
    for kind in AttrKind
    if kind is not AttrKind.NONE
}


@attrs.frozen(eq=False)
class Verified:
    """Shallow copies of the lists of a kernel that passed :func:`verify`."""

    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    ops: list[Any]
    args: list[Any]
    attrs: list[Any]
    results: list[list[Any]]

    #: the allocation's statements, chunk bounds, slots and workspace size (``None``: none)
    allocation: tuple[Any, ...] | None = None
    #: a staged kernel's steps (compared by identity)
    steps: tuple[Any, ...] = ()

    @classmethod
    def of(cls, kernel: Kernel) -> Verified:
        return cls(
            kernel.inputs,
            kernel.outputs,
            list(kernel.ops),
            list(kernel.args),
            list(kernel.attrs),
            [list(r) for r in kernel.results],
            _allocation_record(kernel),
            kernel.steps,
        )

    def same_structure(self, kernel: Kernel) -> bool:
        """Whether ``kernel`` has the instructions, ports and results verified here.

        Operations and attributes are compared by identity (an int equal to an ``Op``, or an
        int attribute equal to a float one, would pass ``==``); argument tuples and result
        ids by value, which decides every check the verifier makes on them."""
        return (
            kernel.inputs == self.inputs
            and kernel.outputs == self.outputs
            and kernel.args == self.args
            and kernel.results == self.results
            and _identical(list(kernel.steps), list(self.steps))
            and _identical(kernel.ops, self.ops)
            and _identical(kernel.attrs, self.attrs)
        )


def _allocation_record(kernel: Kernel) -> tuple[Any, ...] | None:
    alloc = kernel.allocation
    if alloc is None:
        return None
    chunks = [(ch.start, ch.stop) for ch in alloc.chunks]
    return (list(alloc.statements), chunks, dict(alloc.slot), alloc.workspace_size, dict(alloc.scratch))


def _same_allocation(kernel: Kernel, record: tuple[Any, ...] | None) -> bool:
    alloc = kernel.allocation
    if alloc is None or record is None:
        return False
    statements, chunks, slot, size, scratch = record
    return bool(
        alloc.workspace_size == size
        and alloc.statements == statements
        and alloc.slot == slot
        and alloc.scratch == scratch
        and [(ch.start, ch.stop) for ch in alloc.chunks] == chunks
    )


def _identical(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(map(is_, a, b))


#: (kernel, record) of the last kernels verified, most recent last
_recent: list[tuple[weakref.ref[Kernel], Verified]] = []
_RECENT = 4


def _remember(kernel: Kernel, record: Verified) -> Verified:
    _recent[:] = [(ref, rec) for ref, rec in _recent if ref() is not None and ref() is not kernel]
    _recent.append((weakref.ref(kernel), record))
    del _recent[:-_RECENT]
    return record


def _recalled(kernel: Kernel) -> Verified | None:
    for ref, record in _recent:
        if ref() is kernel:
            return record
    return None


def verify(kernel: Kernel, context: str = "", previous: Verified | None = None) -> Verified:
    """Raise :class:`VerificationError` naming the first broken invariant; return the record
    of the verified kernel (see the module docstring for what is not checked again)."""
    if previous is None:
        previous = _recalled(kernel)
    return _remember(kernel, _verify(kernel, context, previous))


def _verify(kernel: Kernel, context: str, previous: Verified | None) -> Verified:
    """Raise :class:`VerificationError` naming the first broken invariant; return the record
    of the verified kernel.

    When ``previous`` (the record of an earlier verified kernel) holds exactly the same
    instructions, ports and results, only an allocation that differs from the one verified
    there is checked. The checks run as a
    few whole-list scans (``map``/``compress`` over the instruction lists) and look at single
    instructions only to find and name an offender, or for the instructions that carry an
    attribute, so verifying after every pass stays cheap on large kernels.
    """
    where = f" (after {context})" if context else ""

    def fail(msg: str) -> NoReturn:
        raise VerificationError(f"kernel {kernel.name!r}{where}: {msg}")

    if previous is not None and previous.same_structure(kernel):
        if kernel.allocation is None or _same_allocation(kernel, previous.allocation):
            return previous
        _verify_allocation(kernel, fail)
        return attrs.evolve(previous, allocation=_allocation_record(kernel))
    if kernel.steps:
        verify_staged(kernel, fail)
    else:
        _verify_structure(kernel, fail)
    if kernel.allocation is not None:
        _verify_allocation(kernel, fail)
    return Verified.of(kernel)


def _verify_structure(kernel: Kernel, fail: Callable[[str], NoReturn]) -> None:
    ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
    n = len(ops)
    if not (len(args) == len(attrs_) == n):
        fail("ops, args and attrs have different lengths")
    if set(map(type, ops)) - {Op}:
        i = next(i for i, op in enumerate(ops) if type(op) is not Op)
        fail(f"v{i} has unknown operation {ops[i]!r}")
    # arity: a mismatch with the table is an error unless the operation is variadic
    lens = list(map(len, args))
    for i in compress(range(n), map(ne, lens, map(_ARITY.__getitem__, ops))):
        info = OP_INFO[ops[i]]
        if info.arity != VARIADIC:
            fail(f"v{i} = {info.name} has {lens[i]} arguments, expected {info.arity}")
        if not lens[i]:
            fail(f"v{i} = {info.name} has no arguments")
    # every argument is an earlier value (leaves have no arguments; the others are selected
    # by their argument count)
    if any(lens) and (
        min(map(min, compress(args, lens))) < 0
        or any(map(ge, map(max, compress(args, lens)), compress(range(n), lens)))
    ):
        for i in range(n):
            for v in args[i]:
                if not (0 <= v < i):
                    fail(f"v{i} uses v{v}, which is not defined before it")
    # attributes: None exactly on the operations without one, well formed on the others
    if any(map(is_not, compress(attrs_, map(_NO_ATTR.__contains__, ops)), repeat(None))):
        for i in compress(range(n), map(is_not, attrs_, repeat(None))):
            if ops[i] not in _WITH_ATTR:
                fail(f"v{i} = {OP_INFO[ops[i]].name} carries an unexpected attribute {attrs_[i]!r}")
    special = list(compress(range(n), map(_WITH_ATTR.__contains__, ops)))
    if not _attrs_look_valid(kernel, special):
        for i in special:
            _check_attr(kernel, i, fail)
    if len(kernel.results) != len(kernel.outputs):
        fail("the number of result lists differs from the number of outputs")
    for port, res in zip(kernel.outputs, kernel.results, strict=True):
        if len(res) != port.size:
            fail(f"output {port.name!r} has {len(res)} elements, declared {port.size}")
        if res and not (min(res) >= 0 and max(res) < n):
            v = next(v for v in res if not 0 <= v < n)
            fail(f"output {port.name!r} refers to undefined v{v}")
    for port in (*kernel.inputs, *kernel.outputs):
        if port.size < 1 or (port.scalar and port.size != 1):
            fail(f"port {port.name!r} has invalid size {port.size}")


def _attrs_look_valid(kernel: Kernel, special: list[int]) -> bool:
    """Whole-list check of the attributes of the instructions ``special`` (those whose operation
    carries one); ``False`` sends the caller to the per-instruction check that names the
    offender."""
    sp_ops = list(map(kernel.ops.__getitem__, special))
    sp_attrs = list(map(kernel.attrs.__getitem__, special))
    for kind, members in _BY_KIND.items():
        vals = list(compress(sp_attrs, map(members.__contains__, sp_ops)))
        if not vals:
            continue
        types = set(map(type, vals))
        if kind is AttrKind.FLOAT:
            if types != {float}:
                return False
        elif kind is AttrKind.INT:
            if types != {int}:
                return False
        elif kind is AttrKind.PARAM:
            if types != {float} or not all(map(math.isfinite, vals)):
                return False
        elif kind is AttrKind.CUSTOM:
            if types != {CustomCall}:
                return False
            calls = compress(special, map(members.__contains__, sp_ops))
            if any(len(kernel.args[i]) != kernel.attrs[i].arity for i in calls):
                return False
        else:  # INPUT: (port, element) pairs naming an existing element
            if types != {tuple} or set(map(len, vals)) != {2}:
                return False
            ports, elems = zip(*vals, strict=True)
            sizes = [p.size for p in kernel.inputs]
            if set(map(type, ports)) != {int} or set(map(type, elems)) != {int}:
                return False
            if min(ports) < 0 or max(ports) >= len(sizes) or min(elems) < 0:
                return False
            if any(map(ge, elems, map(sizes.__getitem__, ports))):
                return False
    return True


def _check_attr(kernel: Kernel, i: int, fail: Callable[[str], NoReturn]) -> None:
    """The attribute of instruction ``i``, whose operation carries one."""
    info = OP_INFO[kernel.ops[i]]
    attr = kernel.attrs[i]
    kind = info.attr
    if kind is AttrKind.FLOAT:
        if not isinstance(attr, float):
            fail(f"v{i} = const has non-float value {attr!r}")
    elif kind is AttrKind.INT:
        if not isinstance(attr, int) or isinstance(attr, bool):
            fail(f"v{i} = {info.name} has non-integer exponent {attr!r}")
    elif kind is AttrKind.PARAM:
        if not (isinstance(attr, float) and math.isfinite(attr)):
            fail(f"v{i} = {info.name} has invalid order {attr!r}")
    elif kind is AttrKind.CUSTOM:
        if not isinstance(attr, CustomCall):
            fail(f"v{i} = custom has malformed attribute {attr!r}")
        if len(kernel.args[i]) != attr.arity:
            fail(f"v{i} = {attr.label} has {len(kernel.args[i])} arguments, expected {attr.arity}")
    elif kind is AttrKind.INPUT:
        if not (isinstance(attr, tuple) and len(attr) == 2):
            fail(f"v{i} = input has malformed attribute {attr!r}")
        p, j = attr
        if not (0 <= p < len(kernel.inputs) and 0 <= j < kernel.inputs[p].size):
            fail(f"v{i} = input refers to missing element {attr!r}")


def _verify_allocation(kernel: Kernel, fail: Callable[[str], NoReturn]) -> None:
    alloc = kernel.allocation
    assert alloc is not None
    ops, args = kernel.ops, kernel.args
    stmts = alloc.statements
    computed = list(compress(range(len(ops)), map(_COMPUTED.__contains__, ops)))
    in_id_order = stmts == computed
    if not in_id_order:
        if sorted(stmts) != computed:
            fail("the allocation does not schedule every computed value exactly once")
        # statements in id order come after their arguments (verified with the instructions);
        # otherwise compare the position of every argument (-1 for leaves) with its user's
        position = dict(zip(stmts, range(len(stmts)), strict=True))
        for v in stmts:
            k = position[v]
            for a in args[v]:
                if position.get(a, -1) >= k:
                    fail(f"v{v} is scheduled before its argument v{a}")
    prev = 0
    for ch in alloc.chunks:
        if ch.start != prev or ch.stop <= ch.start:
            fail("chunks do not tile the statement list")
        prev = ch.stop
    if prev != len(stmts):
        fail("chunks do not cover every statement")
    slot, scratch = alloc.slot, alloc.scratch
    if not slot and not scratch:
        return

    def statement_of(v: int, storage: str) -> int:
        k = bisect_left(computed, v)  # the position of v among the statements, in id order
        if k == len(computed) or computed[k] != v:
            fail(f"v{v} has {storage} but is not computed by a statement")
        return k if in_id_order else position[v]

    for v, s in slot.items():
        if not (0 <= s < alloc.workspace_size):
            fail(f"v{v} has workspace slot {s} outside the workspace")
    for v, (p, j) in scratch.items():
        if v in slot:
            fail(f"v{v} has both workspace slot {slot[v]} and output element {p}[{j}]")
        if not (0 <= p < len(kernel.results) and 0 <= j < len(kernel.results[p])):
            fail(f"v{v} is kept in output element {p}[{j}], which does not exist")
    # two values sharing a slot must not be live at the same time: a value is stored right
    # after its statement and read by the statements of other chunks that use it (a statement
    # reads its operands before it stores its own value), so it is live from its statement to
    # its last read from another chunk
    defined_at = {v: statement_of(v, f"workspace slot {s}") for v, s in slot.items()}
    defined_at.update({v: statement_of(v, f"output element {p}[{j}]") for v, (p, j) in scratch.items()})
    last_read: dict[int, int] = {}
    for ch in alloc.chunks:
        for k in range(ch.start, ch.stop):
            for a in args[stmts[k]]:
                d = defined_at.get(a)
                if d is not None and not ch.start <= d < ch.stop:
                    last_read[a] = k
    by_slot: dict[int, list[tuple[int, int]]] = {}
    for v, s in slot.items():
        d = defined_at[v]
        by_slot.setdefault(s, []).append((d, last_read.get(v, d)))
    for s, ranges in by_slot.items():
        ranges.sort()
        for (_, a1), (b0, _) in itertools.pairwise(ranges):
            if b0 < a1:
                fail(f"workspace slot {s} holds two values that are live at the same time")
    if scratch:
        _verify_scratch(kernel, defined_at, last_read, fail)


def _verify_scratch(
    kernel: Kernel, defined_at: dict[int, int], last_read: dict[int, int], fail: Callable[[str], NoReturn]
) -> None:
    """Values kept in output elements: the tenants of one element are not live at the same
    time, and each is read for the last time no later than the statement that writes the
    element's final value (which reads its operands before it writes), unless it is that final
    value itself."""
    alloc = kernel.allocation
    assert alloc is not None
    position = [-1] * len(kernel.ops)
    for k, v in enumerate(alloc.statements):
        position[v] = k
    final = final_writes(kernel, position)  # of the value an element holds (only a few are asked)
    by_element: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for v, (p, j) in alloc.scratch.items():
        d = defined_at[v]
        last = last_read.get(v, d)
        written_at = final[kernel.results[p][j]]
        if kernel.results[p][j] != v and last > written_at:
            written = "at entry" if written_at < 0 else f"by statement {written_at}"
            fail(
                f"v{v} is kept in output element {p}[{j}] until statement {last}, but the "
                f"element's final value is written {written}"
            )
        by_element.setdefault((p, j), []).append((d, last))
    for (p, j), ranges in by_element.items():
        ranges.sort()
        for (_, a1), (b0, _) in itertools.pairwise(ranges):
            if b0 < a1:
                fail(f"output element {p}[{j}] holds two values that are live at the same time")
