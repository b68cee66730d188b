"""Workspace allocation with liveness-based reuse.

The computed values, in kernel (schedule) order, are cut into chunks of at most
``max_chunk_statements``; the Rust backend prints each chunk as one function when there is more
than one. Inside a chunk every value is a ``let`` local; its register number is reused as soon
as the value is dead (a linear scan with a min-heap free list, so numbering is deterministic).
A value read in a later chunk is also stored in a workspace slot, live from its defining chunk
to the last chunk that reads it; slots are reused the same way. Output elements are written in
the chunk that defines them, so outputs never need a slot.
"""

from __future__ import annotations

import heapq

import attrs

from ir.errors import ConfigError
from ir.kernel import Allocation, Chunk, Kernel
from ir.ops import LEAVES

#: DESIGN.md §3: rustc slows down (and its debug build can crash) on very long functions
DEFAULT_MAX_CHUNK = 1000


def check_max_chunk(max_chunk: object) -> int:
    """``max_chunk`` as a positive int, or a :class:`ConfigError` naming the bad value."""
    if isinstance(max_chunk, bool) or not isinstance(max_chunk, int) or max_chunk < 1:
        raise ConfigError(
            f"max_chunk (statements per Rust function) must be a positive integer, got {max_chunk!r}"
        )
    return max_chunk


def allocate(kernel: Kernel, max_chunk: int = DEFAULT_MAX_CHUNK) -> Allocation:
    """Chunks, ``let`` registers and workspace slots for ``kernel`` in its id (schedule) order."""
    check_max_chunk(max_chunk)
    args = kernel.args
    statements = [i for i, op in enumerate(kernel.ops) if op not in LEAVES]
    chunks = [Chunk(s, min(s + max_chunk, len(statements))) for s in range(0, len(statements), max_chunk)]
    chunk_of: dict[int, int] = {}
    for c, ch in enumerate(chunks):
        for k in range(ch.start, ch.stop):
            chunk_of[statements[k]] = c
    # last use inside the defining chunk (statement index) and last chunk that reads the value
    last_local: dict[int, int] = {}
    last_chunk: dict[int, int] = {}
    for k, v in enumerate(statements):
        c = chunk_of[v]
        for a in args[v]:
            if a not in chunk_of:
                continue
            if chunk_of[a] == c:
                last_local[a] = k
            else:
                last_chunk[a] = max(last_chunk.get(a, -1), c)

    # registers (locals), per chunk
    local: dict[int, int] = {}
    register_count = 0
    for ch in chunks:
        free: list[int] = []
        next_reg = 0
        for k in range(ch.start, ch.stop):
            v = statements[k]
            for a in set(args[v]):
                if last_local.get(a) == k and a in local and chunk_of.get(a) == chunk_of[v]:
                    heapq.heappush(free, local[a])
            if free:
                r = heapq.heappop(free)
            else:
                r = next_reg
                next_reg += 1
            local[v] = r
            if v not in last_local:  # never read again in this chunk
                heapq.heappush(free, r)
        register_count = max(register_count, next_reg)

    # workspace slots for values crossing chunk boundaries
    slot: dict[int, int] = {}
    free_slots: list[int] = []
    releases: dict[int, list[int]] = {}
    size = 0
    for c, ch in enumerate(chunks):
        for s in releases.pop(c, []):
            heapq.heappush(free_slots, s)
        for k in range(ch.start, ch.stop):
            v = statements[k]
            if v in last_chunk:
                if free_slots:
                    s = heapq.heappop(free_slots)
                else:
                    s = size
                    size += 1
                slot[v] = s
                # reusable by values defined strictly after the last reading chunk
                releases.setdefault(last_chunk[v] + 1, []).append(s)
    return Allocation(
        statements=statements,
        chunks=chunks,
        local=local,
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
