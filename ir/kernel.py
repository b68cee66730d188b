"""The SSA kernel: gradgen's compact intermediate representation.

A :class:`Kernel` is a straight-line SSA program stored as parallel lists indexed by value id
(``ops``, ``args``, ``attrs``): instruction ``i`` only uses ids ``< i``, so list order is a
topological order. Inputs are ``INPUT`` instructions whose attribute is ``(port, index)``;
constants are ``CONST`` instructions whose attribute is the float value. ``results[k][j]`` is the
value id of element ``j`` of output port ``k``.

:class:`KernelBuilder` is the only way passes create kernels: it hash-conses on integer keys
(constants by bit pattern), applies the exact construction-time folds of :mod:`ir.fold`, orders
the arguments of commutative operations canonically, and ``finish`` drops dead instructions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .expr import float_key
from .fold import peephole
from .ops import LEAVES, OP_INFO, Op


@attrs.frozen
class Port:
    """A declared input or output: its user-facing name and its length."""

    name: str
    size: int
    #: declared as a scalar (``SX``) rather than a vector; evaluation returns a float for it
    scalar: bool = False


@attrs.define(eq=False)
class Chunk:
    """A contiguous range of statements printed as one Rust function."""

    start: int  # first statement index (into ``Allocation.statements``)
    stop: int


@attrs.define(eq=False)
class Allocation:
    """Result of the workspace allocation pass.

    ``statements`` lists the value ids computed by the kernel in emission order. Values used
    only inside the chunk that defines them live in Rust ``let`` locals named by ``local[id]``
    (a register number, reused once the value is dead); values that cross a chunk boundary
    also get ``slot[id]``, an index into the workspace slice.
    """

    statements: list[int]
    chunks: list[Chunk]
    local: dict[int, int]
    slot: dict[int, int]
    workspace_size: int
    register_count: int


@attrs.define(eq=False)
class NameTable:
    """Rust identifiers chosen by the sanitization pass."""

    function: str
    inputs: list[str]
    outputs: list[str]
    work: str  # "work" or "_work"
    local_prefix: str
    chunk_prefix: str
    explicit_function: bool = False


@attrs.define(eq=False)
class Kernel:
    name: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    ops: list[Op]
    args: list[tuple[int, ...]]
    attrs: list[Any]
    results: list[list[int]]
    allocation: Allocation | None = None
    names: NameTable | None = None

    def __len__(self) -> int:
        return len(self.ops)

    def op_count(self) -> int:
        """Number of computed instructions (everything but inputs and constants)."""
        return sum(1 for op in self.ops if op not in LEAVES)

    def histogram(self) -> dict[str, int]:
        hist: dict[str, int] = {}
        for op in self.ops:
            name = OP_INFO[op].name
            hist[name] = hist.get(name, 0) + 1
        return dict(sorted(hist.items()))

    def const_value(self, vid: int) -> float | None:
        return self.attrs[vid] if self.ops[vid] is Op.CONST else None

    def use_counts(self) -> list[int]:
        """How many times each value is an argument or an output element."""
        counts = [0] * len(self.ops)
        for a in self.args:
            for v in a:
                counts[v] += 1
        for res in self.results:
            for v in res:
                counts[v] += 1
        return counts

    def depth(self) -> int:
        """Length of the longest chain of computed instructions."""
        level = [0] * len(self.ops)
        best = 0
        for i, a in enumerate(self.args):
            if a:
                level[i] = 1 + max(level[v] for v in a)
                best = max(best, level[i])
        return best

    def with_annotations(self, **changes: Any) -> Kernel:
        return attrs.evolve(self, **changes)


class KernelBuilder:
    """Builds a kernel instruction by instruction with hash-consing and exact folding."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.args: list[tuple[int, ...]] = []
        self.attrs: list[Any] = []
        self._intern: dict[tuple[Any, ...], int] = {}

    def __len__(self) -> int:
        return len(self.ops)

    # ---- leaves ---------------------------------------------------------------------------
    def _push(self, key: tuple[Any, ...], op: Op, args: tuple[int, ...], attr: Any) -> int:
        vid = self._intern.get(key)
        if vid is None:
            vid = len(self.ops)
            self.ops.append(op)
            self.args.append(args)
            self.attrs.append(attr)
            self._intern[key] = vid
        return vid

    def const(self, value: float) -> int:
        value = float(value)
        return self._push((Op.CONST, float_key(value)), Op.CONST, (), value)

    def input(self, port: int, index: int) -> int:
        return self._push((Op.INPUT, port, index), Op.INPUT, (), (port, index))

    def const_of(self, vid: int) -> float | None:
        return self.attrs[vid] if self.ops[vid] is Op.CONST else None

    def view(self, vid: int) -> tuple[Op, tuple[int, ...]]:
        return self.ops[vid], self.args[vid]

    # ---- operations -----------------------------------------------------------------------
    def emit(self, op: Op, args: Sequence[int], attr: Any = None) -> int:
        """Append ``op(args)`` (or find the existing equal instruction) and return its id."""
        args = tuple(args)
        rewrite = peephole(op, args, attr, self.const_of, self.view)
        if rewrite is not None:
            kind = rewrite[0]
            if kind == "const":
                return self.const(rewrite[1])
            if kind == "ref":
                return int(rewrite[1])
            return self.emit(rewrite[1], rewrite[2], rewrite[3])
        return self.emit_raw(op, args, attr)

    def emit_raw(self, op: Op, args: tuple[int, ...], attr: Any = None) -> int:
        """Append ``op(args)`` with hash-consing but without folding."""
        if OP_INFO[op].commutative and len(args) == 2:
            a, b = args
            if (self.ops[a] is Op.CONST, a) > (self.ops[b] is Op.CONST, b):
                args = (b, a)
        key = (op, args, float_key(attr) if isinstance(attr, float) else attr)
        return self._push(key, op, args, attr)

    def add(self, a: int, b: int) -> int:
        return self.emit(Op.ADD, (a, b))

    def sub(self, a: int, b: int) -> int:
        return self.emit(Op.SUB, (a, b))

    def mul(self, a: int, b: int) -> int:
        return self.emit(Op.MUL, (a, b))

    def div(self, a: int, b: int) -> int:
        return self.emit(Op.DIV, (a, b))

    def neg(self, a: int) -> int:
        return self.emit(Op.NEG, (a,))

    def sum(self, terms: Iterable[int]) -> int:
        """Left-to-right sum; the empty sum is the constant 0."""
        acc: int | None = None
        for t in terms:
            acc = t if acc is None else self.add(acc, t)
        return self.const(0.0) if acc is None else acc

    def is_zero(self, vid: int) -> bool:
        return self.ops[vid] is Op.CONST and self.attrs[vid] == 0.0

    # ---- copying --------------------------------------------------------------------------
    def copy_from(self, kernel: Kernel, input_map: dict[tuple[int, int], int] | None = None) -> list[int]:
        """Re-emit every instruction of ``kernel``; return the id map old -> new."""
        new: list[int] = [0] * len(kernel.ops)
        for i, op in enumerate(kernel.ops):
            attr = kernel.attrs[i]
            if op is Op.CONST:
                new[i] = self.const(attr)
            elif op is Op.INPUT:
                new[i] = input_map[attr] if input_map is not None else self.input(*attr)
            else:
                new[i] = self.emit(op, [new[a] for a in kernel.args[i]], attr)
        return new

    # ---- finishing ------------------------------------------------------------------------
    def finish(
        self,
        name: str,
        inputs: Sequence[Port],
        outputs: Sequence[Port],
        results: Sequence[Sequence[int]],
    ) -> Kernel:
        """The kernel computing ``results``: dead instructions dropped, ids renumbered."""
        n = len(self.ops)
        live = bytearray(n)
        for res in results:
            for v in res:
                live[v] = 1
        for i in range(n - 1, -1, -1):
            if live[i]:
                for a in self.args[i]:
                    live[a] = 1
        remap = [-1] * n
        ops: list[Op] = []
        args: list[tuple[int, ...]] = []
        attrs_: list[Any] = []
        for i in range(n):
            if live[i]:
                remap[i] = len(ops)
                ops.append(self.ops[i])
                args.append(tuple(remap[a] for a in self.args[i]))
                attrs_.append(self.attrs[i])
        return Kernel(
            name=name,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            ops=ops,
            args=args,
            attrs=attrs_,
            results=[[remap[v] for v in res] for res in results],
        )


def rebuild(kernel: Kernel, results: Sequence[Sequence[int]] | None = None) -> Kernel:
    """Copy ``kernel`` through a fresh builder: hash-consing merges duplicates, folds apply."""
    b = KernelBuilder()
    new = b.copy_from(kernel)
    res = kernel.results if results is None else results
    return b.finish(kernel.name, kernel.inputs, kernel.outputs, [[new[v] for v in r] for r in res])
