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

import math
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from itertools import accumulate, compress, repeat
from operator import is_not
from types import MappingProxyType
from typing import Any

import attrs

from .expr import float_key
from .fold import STRUCTURAL, fold_binary, peephole
from .ops import BASE_LATENCY, LATENCY, LEAVES, OP_INFO, Op

# enum member lookups are slow in Python 3.11: the hot paths use module-level aliases
_CONST, _INPUT = Op.CONST, Op.INPUT
_ADD, _SUB, _MUL, _DIV, _NEG = Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.NEG
_COMMUTATIVE = frozenset(op for op, info in OP_INFO.items() if info.commutative)
_POS_ZERO_KEY = (_CONST, float_key(0.0))
_NEG_ZERO_KEY = (_CONST, float_key(-0.0))
_NO_NOTES: Mapping[str, Any] = MappingProxyType({})


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
    also get ``slot[id]``, an index into the workspace slice, or ``scratch[id]``, an output
    element ``(port, element)`` that holds them before the statement that writes its final
    value (:func:`output_final_writes`).
    """

    statements: list[int]
    chunks: list[Chunk]
    local: dict[int, int]
    slot: dict[int, int]
    workspace_size: int
    register_count: int
    scratch: dict[int, tuple[int, int]] = attrs.field(factory=dict)


def output_final_writes(kernel: Kernel, position: Sequence[int]) -> list[list[int]]:
    """The statement index that writes the final value of every output element
    (``result[port][element]``), given ``position[v]`` (the statement index of value ``v``, -1
    for a leaf). A computed value is written by its own statement; an input or a constant
    after every statement (``len(statements)``, which is ``max(position) + 1``); a ``+0.0``
    constant is ``-1``, "at entry": a backend may fill an output with zeros before any
    statement runs. An output element is free storage from the kernel's entry up to its
    final write; the backend must write elements exactly then and nowhere else."""
    at = final_writes(kernel, position).__getitem__
    return [list(map(at, res)) for res in kernel.results]


def final_writes(kernel: Kernel, position: Sequence[int]) -> list[int]:
    """Per value ``v``: the final write (see :func:`output_final_writes`) of an output element
    holding ``v`` (one lookup per element: a large output repeats few leaves)."""
    end = max(position, default=-1) + 1
    ops, attrs_ = kernel.ops, kernel.attrs
    final = list(position)
    for v, k in enumerate(position):
        if k < 0:
            value = attrs_[v]
            zero = ops[v] is _CONST and value == 0.0 and math.copysign(1.0, value) > 0
            final[v] = -1 if zero else end
    return final


def cone(kernel: Kernel, roots: Iterable[int], stop: Container[int] = ()) -> bytearray:
    """1 for every value ``roots`` read, directly or through other values, and the roots
    themselves (one pass in decreasing id order, which is a topological order reversed); a
    value in ``stop`` is marked but its arguments are not followed."""
    args = kernel.args
    mark = bytearray(len(kernel.ops))
    for v in roots:
        mark[v] = 1
    for v in range(len(mark) - 1, -1, -1):
        if mark[v] and v not in stop:
            for a in args[v]:
                mark[a] = 1
    return mark


def ready_times(kernel: Kernel, order: Iterable[int] | None = None) -> list[int]:
    """The cycle each value is ready on an unbounded machine: its latency
    (:data:`~ir.ops.LATENCY`) after its last operand; inputs and constants at 0. ``order`` is a
    topological order of the values to time (default: every value, in id order)."""
    ops, args = kernel.ops, kernel.args
    latency = LATENCY.get
    ready = [0] * len(ops)
    for v in range(len(ops)) if order is None else order:
        a = args[v]
        if len(a) == 2:
            r, r2 = ready[a[0]], ready[a[1]]
            ready[v] = latency(ops[v], BASE_LATENCY) + (r if r > r2 else r2)
        elif a:
            ready[v] = latency(ops[v], BASE_LATENCY) + max(map(ready.__getitem__, a))
    return ready


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
    #: what passes learned about this kernel, keyed by the note's name (e.g. the rules a
    #: simplification fired, the sparsity pattern of an output). Passes never mutate a kernel's
    #: notes: :meth:`with_note` returns a new kernel with one note added or replaced.
    notes: Mapping[str, Any] = _NO_NOTES
    #: set by :meth:`KernelBuilder.finish`: every instruction went through the builder (folded,
    #: hash-consed, commutative arguments in canonical order, no dead instruction), so copying
    #: the kernel through a fresh builder reproduces it exactly (CSE has nothing to do). Kernels
    #: made any other way (e.g. renumbered by scheduling) leave it ``False``.
    canonical: bool = False
    #: a staged kernel's body (``ir.staged.Call`` records, run in order; its instruction lists
    #: are then empty) and the sizes of its temporaries; empty for a straight-line kernel
    steps: tuple[Any, ...] = ()
    temps: tuple[int, ...] = ()

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
        return self.attrs[vid] if self.ops[vid] is _CONST else None

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

    def with_note(self, key: str, value: Any) -> Kernel:
        """This kernel with the note ``key`` set to ``value`` (the other notes are kept)."""
        return attrs.evolve(self, notes=MappingProxyType({**self.notes, key: value}))

    def note(self, key: str, default: Any = None) -> Any:
        return self.notes.get(key, default)


class KernelBuilder:
    """Builds a kernel instruction by instruction with hash-consing and exact folding.

    Interning keys: ``(CONST, float_key(value))``, ``(INPUT, port, index)``, ``(op, args)`` for an
    operation without attribute and ``(op, args, attr)`` (floats by bit pattern) otherwise.
    """

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.args: list[tuple[int, ...]] = []
        self.attrs: list[Any] = []
        self._intern: dict[tuple[Any, ...], int] = {}
        #: non-zero constant value -> id, a shortcut in front of the interning table
        self._consts: dict[float, int] = {}

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
        if value.__class__ is not float:
            value = float(value)
        if value:  # not a zero: equal floats have equal bits (a NaN is only found by identity)
            vid = self._consts.get(value)
            if vid is None:
                vid = self._push((_CONST, float_key(value)), _CONST, (), value)
                if value == value:
                    self._consts[value] = vid
            return vid
        key = _POS_ZERO_KEY if math.copysign(1.0, value) > 0 else _NEG_ZERO_KEY
        return self._push(key, _CONST, (), value)

    def input(self, port: int, index: int) -> int:
        return self._push((_INPUT, port, index), _INPUT, (), (port, index))

    def const_of(self, vid: int) -> float | None:
        return self.attrs[vid] if self.ops[vid] is _CONST else None

    def view(self, vid: int) -> tuple[Op, tuple[int, ...]]:
        return self.ops[vid], self.args[vid]

    # ---- operations -----------------------------------------------------------------------
    def emit(self, op: Op, args: Sequence[int], attr: Any = None) -> int:
        """Append ``op(args)`` (or find the existing equal instruction) and return its id."""
        if args.__class__ is not tuple:
            args = tuple(args)
        ops = self.ops
        # Hot path: no argument is a constant and ``op`` is not STRUCTURAL, so the peephole
        # cannot fire (see ir.fold.STRUCTURAL); intern directly. A binary operation with a
        # constant argument is folded here with the constants at hand (``fold_binary``).
        if op not in STRUCTURAL:
            n = len(args)
            if n == 2:
                a, b = args
                if ops[a] is _CONST:
                    values = self.attrs
                    cb = values[b] if ops[b] is _CONST else None
                    rewrite = fold_binary(op, a, b, values[a], cb, attr)
                    if rewrite is not None:
                        return self._apply(rewrite)
                    if op in _COMMUTATIVE:  # the constant goes second
                        args = (b, a)
                elif ops[b] is _CONST:
                    rewrite = fold_binary(op, a, b, None, self.attrs[b], attr)
                    if rewrite is not None:
                        return self._apply(rewrite)
                elif b < a and op in _COMMUTATIVE:
                    args = (b, a)
            elif n == 1:
                if ops[args[0]] is _CONST:
                    return self._emit_folded(op, args, attr)
            elif n == 0 or _CONST in map(ops.__getitem__, args):
                return self._emit_folded(op, args, attr)
            if attr is None:
                key: tuple[Any, ...] = (op, args)
            else:
                key = (op, args, float_key(attr) if attr.__class__ is float else attr)
            intern = self._intern
            vid = intern.get(key)
            if vid is None:
                vid = intern[key] = len(ops)
                ops.append(op)
                self.args.append(args)
                self.attrs.append(attr)
            return vid
        return self._emit_folded(op, args, attr)

    def _apply(self, rewrite: tuple[Any, ...]) -> int:
        kind = rewrite[0]
        if kind == "const":
            return self.const(rewrite[1])
        if kind == "ref":
            return int(rewrite[1])
        return self.emit(rewrite[1], rewrite[2], rewrite[3])

    def _emit_folded(self, op: Op, args: tuple[int, ...], attr: Any) -> int:
        rewrite = peephole(op, args, attr, self.const_of, self.view)
        if rewrite is not None:
            return self._apply(rewrite)
        return self.emit_raw(op, args, attr)

    def emit_raw(self, op: Op, args: tuple[int, ...], attr: Any = None) -> int:
        """Append ``op(args)`` with hash-consing but without folding."""
        if len(args) == 2 and op in _COMMUTATIVE:
            a, b = args
            ops = self.ops
            if (ops[a] is _CONST, a) > (ops[b] is _CONST, b):
                args = (b, a)
        if attr is None:
            key: tuple[Any, ...] = (op, args)
        else:
            key = (op, args, float_key(attr) if isinstance(attr, float) else attr)
        return self._push(key, op, args, attr)

    def add(self, a: int, b: int) -> int:
        return self.emit(_ADD, (a, b))

    def sub(self, a: int, b: int) -> int:
        return self.emit(_SUB, (a, b))

    def mul(self, a: int, b: int) -> int:
        return self.emit(_MUL, (a, b))

    def div(self, a: int, b: int) -> int:
        return self.emit(_DIV, (a, b))

    def neg(self, a: int) -> int:
        return self.emit(_NEG, (a,))

    def sum(self, terms: Iterable[int]) -> int:
        """Left-to-right sum; the empty sum is the constant 0."""
        acc: int | None = None
        for t in terms:
            acc = t if acc is None else self.add(acc, t)
        return self.const(0.0) if acc is None else acc

    def is_zero(self, vid: int) -> bool:
        return self.ops[vid] is _CONST and self.attrs[vid] == 0.0

    # ---- copying --------------------------------------------------------------------------
    def copy_from(self, kernel: Kernel, input_map: dict[tuple[int, int], int] | None = None) -> list[int]:
        """Re-emit every instruction of ``kernel``; return the id map old -> new.

        A :attr:`Kernel.canonical` kernel copied into an empty builder keeps its ids: its lists
        are copied and only the interning table is built (re-emitting would reproduce them)."""
        if kernel.canonical and input_map is None and not self.ops:
            self._adopt(kernel)
            return list(range(len(kernel.ops)))
        new: list[int] = [0] * len(kernel.ops)
        for i, op in enumerate(kernel.ops):
            attr = kernel.attrs[i]
            if op is _CONST:
                new[i] = self.const(attr)
            elif op is _INPUT:
                new[i] = input_map[attr] if input_map is not None else self.input(*attr)
            else:
                new[i] = self.emit(op, [new[a] for a in kernel.args[i]], attr)
        return new

    def copy_part(
        self,
        kernel: Kernel,
        keep: Sequence[int],
        ports: Mapping[int, int],
        as_inputs: Mapping[int, tuple[int, int]] | None = None,
    ) -> list[int]:
        """Re-emit the instructions of ``kernel`` that ``keep`` marks (1 per value id), in id
        order; return the id map old -> new (0 for the others). An input ``(p, j)`` becomes
        ``input(ports[p], j)``; a value of ``as_inputs`` becomes the input given there instead
        of its instruction. The arguments of a kept instruction must be kept too."""
        ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
        new: list[int] = [0] * len(ops)
        for i in compress(range(len(ops)), keep):
            op = ops[i]
            if as_inputs is not None and i in as_inputs:
                new[i] = self.input(*as_inputs[i])
            elif op is _CONST:
                new[i] = self.const(attrs_[i])
            elif op is _INPUT:
                port, j = attrs_[i]
                new[i] = self.input(ports[port], j)
            else:
                new[i] = self.emit(op, [new[a] for a in args[i]], attrs_[i])
        return new

    def _adopt(self, kernel: Kernel) -> None:
        ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
        keys: list[tuple[Any, ...]] = list(zip(ops, args, strict=True))
        for i in compress(range(len(ops)), map(is_not, attrs_, repeat(None))):
            op, attr = ops[i], attrs_[i]
            if op is _CONST:
                keys[i] = (_CONST, float_key(attr))
            elif op is _INPUT:
                keys[i] = (_INPUT, *attr)
            else:
                keys[i] = (op, args[i], float_key(attr) if isinstance(attr, float) else attr)
        self.ops = list(ops)
        self.args = list(args)
        self.attrs = list(attrs_)
        self._intern = dict(zip(keys, range(len(ops)), strict=True))

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
        args = self.args
        i = n
        for a in reversed(args):
            i -= 1
            if a and live[i]:
                for x in a:
                    live[x] = 1
        first_dead = live.find(0)
        if first_dead < 0:  # everything is live: ids are kept
            return Kernel(
                name=name,
                inputs=tuple(inputs),
                outputs=tuple(outputs),
                ops=list(self.ops),
                args=list(args),
                attrs=list(self.attrs),
                results=[list(res) for res in results],
                canonical=True,
            )
        # new id of a live value = number of live values before it
        remap = list(accumulate(live, initial=-1))
        del remap[0]
        keep = list(compress(range(n), live))
        at = remap.__getitem__
        new_args = args[:first_dead]
        new_args.extend([tuple(map(at, args[i])) for i in keep[first_dead:]])
        return Kernel(
            name=name,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            ops=list(map(self.ops.__getitem__, keep)),
            args=new_args,
            attrs=list(map(self.attrs.__getitem__, keep)),
            results=[list(map(at, res)) for res in results],
            canonical=True,
        )


def rebuild(kernel: Kernel, results: Sequence[Sequence[int]] | None = None) -> Kernel:
    """Copy ``kernel`` through a fresh builder: hash-consing merges duplicates, folds apply."""
    b = KernelBuilder()
    new = b.copy_from(kernel)
    res = kernel.results if results is None else results
    return b.finish(kernel.name, kernel.inputs, kernel.outputs, [[new[v] for v in r] for r in res])


def build_kernel(
    name: str,
    ports: Sequence[Port],
    outs: Sequence[Port],
    body: Callable[[KernelBuilder, list[list[int]]], Sequence[Sequence[int]]],
) -> Kernel:
    """A straight-line kernel over ``ports`` whose outputs ``body(builder, inputs)`` returns
    (``inputs``: one list of value ids per port)."""
    b = KernelBuilder()
    ins = [[b.input(p, j) for j in range(port.size)] for p, port in enumerate(ports)]
    return b.finish(name, ports, outs, body(b, ins))
