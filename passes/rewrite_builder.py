"""The builder a simplification round rebuilds a kernel with: a :class:`KernelBuilder` that also
knows which values have a single reader.

A rule may replace an instruction by several new ones when the values it stops reading die with
it (``(a + x*c) + y*c -> a + (x + y)*c`` builds three instructions and frees four); it asks
:meth:`RewriteBuilder.sole_use` about them. A value has a sole use when it is read exactly once
(by an instruction or as a result) in the kernel being rebuilt, and every instruction built in
its place keeps that count: the round reports each batch of instructions it appends
(:meth:`RewriteBuilder.built`); an instruction re-emitted as it was reads what the old one read,
while a value read by any other new instruction, or standing for two old values through
hash-consing, loses the property. Each
instruction is looked at once, so the bookkeeping is linear in the kernel size.
"""

from __future__ import annotations

from gradgen.ir.kernel import KernelBuilder


class RewriteBuilder(KernelBuilder):
    def __init__(self) -> None:
        super().__init__()
        self._sole: set[int] = set()

    def sole_use(self, vid: int) -> bool:
        """Whether value ``vid`` is read exactly once in the kernel being rebuilt."""
        return vid in self._sole

    def built(self, start: int, out: int, readers: int, reads: tuple[int, ...] | None = None) -> None:
        """Instructions ``start..`` were appended to compute ``out``, which stands for a value of
        the old kernel read ``readers`` times; ``reads``: the old instruction re-emitted as it
        was, with these arguments (their reads are the old instruction's own)."""
        sole = self._sole
        end = len(self.args)
        if end - start <= 1:  # the common case: ``out`` re-emitted, or found
            if end > start and (out != start or self.args[start] != reads):
                for a in self.args[start]:
                    sole.discard(a)
            if out >= start and readers == 1:
                sole.add(out)
            else:
                sole.discard(out)
            return
        inside: dict[int, int] = {}
        for j in range(start, end):
            for a in self.args[j]:
                if a < start:
                    sole.discard(a)  # an older value gains a reader
                else:
                    inside[a] = inside.get(a, 0) + 1
        for j in range(start, end):
            if j != out and inside.get(j, 0) == 1:
                sole.add(j)
        if out >= start and readers == 1 and out not in inside:
            sole.add(out)
        else:
            sole.discard(out)
