"""Workspace allocation with liveness-based reuse.

The computed values, in kernel (schedule) order, are cut into chunks of at most
``max_chunk_statements``; the Rust backend prints each chunk as one function when there is more
than one. Inside a chunk every value is a ``let`` local; its register number is reused as soon
as the value is dead (a linear scan with a min-heap free list, so numbering is deterministic).
A value read in a later chunk is also stored in a workspace slot, busy from its own statement to
the last statement that reads it (statement granularity: a slot freed in the middle of a chunk is
reused by a value defined later in that chunk); slots are reused the same way.

Output elements are storage too: the kernel owns its output slices for the whole call, and an
element holds nothing useful until the statement that writes its final value
(:func:`ir.kernel.output_final_writes`). A value crossing chunks whose last read comes no later
than that statement may live in the element instead of a workspace slot (a statement reads its
operands before it writes), and a value that is itself an element's final value lives in that
element from its statement on. Each cross-chunk value, in statement order, takes its own
element if it has one, else the free element with the earliest final write not before its last
read (best fit: later elements stay free for longer-lived values), else a free workspace slot,
else a new one; a reverse sweep writes its outputs late, so the values kept for it mostly fit
in outputs. The workspace is then the largest number of values live across one statement that
found no element.

In a workspace of at least :data:`SPREAD_MIN` slots, slots are then spread: slot ``s`` becomes
``s * step % size``, ``step`` the integer nearest ``0.618 * size`` prime to ``size`` (a
bijection: the same size, the same sharing; multiples of ``step`` near a multiple of ``size``
come only after several steps, so slots handed out close together land apart). Values stored
one after the other took neighbouring slots, and stores to neighbouring elements are where
LLVM's SLP vectorizer starts: on the long tapes of the pendulum gradients and HVPs (99 to 1,092
slots) it packed the computations of such pairs two to an SSE register, adding shuffles on
their serial dependency chains; spread, those kernels take 0.89x-0.95x the time. A short
workspace is mostly a block of independent values read back together (the 19 exponentials of
the logsumexp(20) gradient), whose packing pays: spread, that kernel took 1.06x the time, and
the pendulum(100) primal (8 slots) 1.03x (``tests/benchmarks/KERNEL_SPEED.md``).
"""

from __future__ import annotations

from bisect import bisect_left
from heapq import heappop, heappush
from itertools import compress
from math import gcd

import attrs

from gradgen.ir.errors import ConfigError
from gradgen.ir.kernel import Allocation, Chunk, Kernel, final_writes
from gradgen.ir.ops import LEAVES, Op

_COMPUTED = frozenset(op for op in Op if op not in LEAVES)

#: the smallest workspace whose slots are spread (see the module docstring)
SPREAD_MIN = 64

#: DESIGN.md §3: rustc slows down (and its debug build can crash) on very long functions
DEFAULT_MAX_CHUNK = 1000


def check_max_chunk(max_chunk: object) -> int:
    """``max_chunk`` as a positive int, or a :class:`ConfigError` naming the bad value."""
    if isinstance(max_chunk, bool) or not isinstance(max_chunk, int) or max_chunk < 1:
        raise ConfigError(
            f"max_chunk (statements per generated function) must be a positive integer, got {max_chunk!r}"
        )
    return max_chunk


def allocate(kernel: Kernel, max_chunk: int = DEFAULT_MAX_CHUNK) -> Allocation:
    """Chunks, ``let`` registers and workspace slots for ``kernel`` in its id (schedule) order."""
    check_max_chunk(max_chunk)
    ops, args = kernel.ops, kernel.args
    statements = list(compress(range(len(ops)), map(_COMPUTED.__contains__, ops)))
    m = len(statements)
    chunks = [Chunk(s, min(s + max_chunk, m)) for s in range(0, m, max_chunk)]
    pos, last_local, last_far = _reads(kernel, statements, max_chunk)

    # registers (locals), per chunk: a register is free again after the last local read
    regs = [0] * m
    register_count = 0
    for ch in chunks:
        free: list[int] = []
        next_reg = 0
        for k in range(ch.start, ch.stop):
            v = statements[k]
            operands = args[v]
            if len(operands) == 2:  # most statements; a repeated operand is freed once
                x, y = operands
                if last_local[x] == k:
                    heappush(free, regs[pos[x]])
                if y != x and last_local[y] == k:
                    heappush(free, regs[pos[y]])
            else:
                for x in operands if len(operands) == 1 else set(operands):
                    if last_local[x] == k:
                        heappush(free, regs[pos[x]])
            if free:
                r = heappop(free)
            else:
                r = next_reg
                next_reg += 1
            regs[k] = r
            if last_local[v] < 0:  # never read again in this chunk
                heappush(free, r)
        register_count = max(register_count, next_reg)

    slot, scratch, size = _crossing_storage(kernel, statements, pos, last_far)
    return Allocation(
        statements=statements,
        chunks=chunks,
        local=dict(zip(statements, regs, strict=True)),
        slot=slot,
        workspace_size=size,
        register_count=register_count,
        scratch=scratch,
    )


def _reads(kernel: Kernel, statements: list[int], max_chunk: int) -> tuple[list[int], list[int], list[int]]:
    """The statement index of every value (-1 for leaves; statement k is in chunk
    k // max_chunk), and its last read inside its own chunk and from another chunk."""
    args = kernel.args
    n = len(kernel.ops)
    pos = [-1] * n
    for k, v in enumerate(statements):
        pos[v] = k
    last_local = [-1] * n
    last_far = [-1] * n
    for k, v in enumerate(statements):
        c = k // max_chunk
        for a in args[v]:
            p = pos[a]
            if p < 0:
                continue
            if p // max_chunk == c:
                last_local[a] = k
            else:
                last_far[a] = k
    return pos, last_local, last_far


def _crossing_storage(
    kernel: Kernel, statements: list[int], pos: list[int], last_far: list[int]
) -> tuple[dict[int, int], dict[int, tuple[int, int]], int]:
    """Workspace slots and output elements of the values crossing chunks, and the workspace size."""
    m = len(statements)
    # storage for values crossing chunk boundaries: a value is stored right after its statement
    # and read where a later chunk uses it, so its storage is busy from its statement to its
    # last read; a statement reads its operands before it stores its own value, so storage
    # whose last read is the statement itself is free for the value it computes
    crossing = list(compress(range(m), map((-1).__lt__, map(last_far.__getitem__, statements))))
    elements: list[tuple[int, int, int]] = []  # (final write, port, element), by final write
    own: dict[int, int] = {}  # value -> index in elements of one element it is the final value of
    if crossing:
        # the elements of output_final_writes with a final write k >= 0, found by a byte
        # search (a large output is mostly zeros written at entry)
        final = final_writes(kernel, pos)
        written = bytes(k >= 0 for k in final)  # per value
        for p, res in enumerate(kernel.results):
            flags = bytes(map(written.__getitem__, res))
            j = flags.find(1)
            while j >= 0:
                elements.append((final[res[j]], p, j))
                j = flags.find(1, j + 1)
        elements.sort()
        for e, (k, _, _) in enumerate(elements):
            if k < m:  # elements holding a leaf are written after every statement
                own.setdefault(statements[k], e)
    deadlines = [k for k, _, _ in elements]
    free_elements = _FreeSet(len(elements))
    slot: dict[int, int] = {}
    scratch: dict[int, tuple[int, int]] = {}
    free_slots: list[int] = []
    releases: list[tuple[int, int]] = []  # (last read, slot)
    element_releases: list[tuple[int, int]] = []  # (last read, index in elements)
    size = 0
    for k in crossing:
        while releases and releases[0][0] <= k:
            heappush(free_slots, heappop(releases)[1])
        while element_releases and element_releases[0][0] <= k:
            free_elements.add(heappop(element_releases)[1])
        v = statements[k]
        last = last_far[v]
        mine = own.get(v)
        if mine is not None:
            # its own element: earlier tenants were read by statement k, and it is never handed
            # out again (every later value is read after this final write)
            scratch[v] = _element(elements[mine])
            continue
        fit = free_elements.first_from(bisect_left(deadlines, last))
        if fit is not None:
            free_elements.remove(fit)
            scratch[v] = _element(elements[fit])
            heappush(element_releases, (last, fit))
            continue
        if free_slots:
            s = heappop(free_slots)
        else:
            s = size
            size += 1
        slot[v] = s
        heappush(releases, (last, s))
    if size >= SPREAD_MIN:
        step = round(0.618 * size)
        while gcd(step, size) != 1:
            step += 1
        slot = {v: s * step % size for v, s in slot.items()}
    return slot, scratch, size


def _element(entry: tuple[int, int, int]) -> tuple[int, int]:
    return entry[1], entry[2]


class _FreeSet:
    """Which of ``n`` positions are free (all at first): a Fenwick tree of counts, so freeing,
    taking and finding the first free position at or after ``lo`` are O(log n)."""

    def __init__(self, n: int) -> None:
        self.n = n
        tree = [0] + [1] * n
        for i in range(1, n + 1):
            j = i + (i & -i)
            if j <= n:
                tree[j] += tree[i]
        self.tree = tree
        self.top = 1 << n.bit_length() if n else 0

    def _update(self, i: int, delta: int) -> None:
        tree, n = self.tree, self.n
        i += 1
        while i <= n:
            tree[i] += delta
            i += i & -i

    def add(self, i: int) -> None:
        self._update(i, 1)

    def remove(self, i: int) -> None:
        self._update(i, -1)

    def first_from(self, lo: int) -> int | None:
        """The smallest free position ``>= lo``, or ``None``."""
        if lo >= self.n:
            return None
        tree = self.tree
        before = 0  # free positions in [0, lo)
        i = lo
        while i > 0:
            before += tree[i]
            i -= i & -i
        # the smallest position whose prefix count exceeds ``before``: binary lifting
        pos, remaining, step = 0, before + 1, self.top
        while step:
            nxt = pos + step
            if nxt <= self.n and tree[nxt] < remaining:
                pos = nxt
                remaining -= tree[nxt]
            step >>= 1
        return pos if pos < self.n else None


def _validate_chunk(instance: object, attribute: object, value: object) -> None:
    check_max_chunk(value)


@attrs.frozen
class AllocatePass:
    max_chunk: int = attrs.field(default=DEFAULT_MAX_CHUNK, validator=_validate_chunk)
    name: str = "allocate"

    def run(self, kernel: Kernel) -> Kernel:
        return kernel.with_annotations(allocation=allocate(kernel, self.max_chunk))
