"""Workspace allocation with liveness-based reuse.

The computed values, in kernel (schedule) order, are cut into chunks of at most
``max_chunk_statements``; the Rust backend prints each chunk as one function when there is more
than one. Inside a chunk every value is a ``let`` local; its register number is reused as soon
as the value is dead (a linear scan with a min-heap free list, so numbering is deterministic).
A value read in a later chunk is also stored in a workspace slot, busy from its own statement to
the last statement that reads it (statement granularity: a slot freed in the middle of a chunk is
reused by a value defined later in that chunk); slots are reused the same way, so the workspace
is the largest number of such values live across one statement. Output elements are written in
the chunk that defines them, so outputs never need a slot.
"""

from __future__ import annotations

from heapq import heappop, heappush
from itertools import compress

import attrs

from gradgen.ir.errors import ConfigError
from gradgen.ir.kernel import Allocation, Chunk, Kernel
from gradgen.ir.ops import LEAVES, Op

_COMPUTED = frozenset(op for op in Op if op not in LEAVES)

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
    n = len(ops)
    statements = list(compress(range(n), map(_COMPUTED.__contains__, ops)))
    m = len(statements)
    chunks = [Chunk(s, min(s + max_chunk, m)) for s in range(0, m, max_chunk)]
    # statement index of every value (-1 for leaves); statement k is in chunk k // max_chunk
    pos = [-1] * n
    for k, v in enumerate(statements):
        pos[v] = k
    # last read inside the defining chunk and last read from another chunk (statement indices)
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

    # workspace slots for values crossing chunk boundaries: a value is stored right after its
    # statement and read where a later chunk uses it, so its slot is busy from its statement to
    # its last read; a statement reads its operands before it stores its own value, so a slot
    # whose last read is the statement itself is free for the value it computes
    slot: dict[int, int] = {}
    free_slots: list[int] = []
    releases: list[tuple[int, int]] = []  # (last read, slot)
    size = 0
    for k in compress(range(m), map((-1).__lt__, map(last_far.__getitem__, statements))):
        while releases and releases[0][0] <= k:
            heappush(free_slots, heappop(releases)[1])
        v = statements[k]
        if free_slots:
            s = heappop(free_slots)
        else:
            s = size
            size += 1
        slot[v] = s
        heappush(releases, (last_far[v], s))
    return Allocation(
        statements=statements,
        chunks=chunks,
        local=dict(zip(statements, regs, strict=True)),
        slot=slot,
        workspace_size=size,
        register_count=register_count,
    )


def _validate_chunk(instance: object, attribute: object, value: object) -> None:
    check_max_chunk(value)


@attrs.frozen
class AllocatePass:
    max_chunk: int = attrs.field(default=DEFAULT_MAX_CHUNK, validator=_validate_chunk)
    name: str = "allocate"

    def run(self, kernel: Kernel) -> Kernel:
        return kernel.with_annotations(allocation=allocate(kernel, self.max_chunk))
