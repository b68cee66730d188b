"""The Rust printer of one straight-line kernel (``backends.rust_module`` assembles the module).

Each kernel becomes ``pub fn name(inputs.., outputs.., work) -> Result<(),
GradgenError>`` that checks every slice length before touching any slice, then runs the
statements: values are ``let`` locals named ``prefix + register`` (``Kernel.allocation``), and a
kernel with several chunks calls one private ``#[inline(never)]`` function per chunk, values
crossing a chunk boundary going through ``work[slot]`` or through an output element before its
final value is written (``Allocation.scratch``). How each operation prints is the table
``backends.rust_ops.RUST_OPS``; layout follows rustfmt (``backends.emitter``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from itertools import chain, compress
from operator import not_

from gradgen.ir.custom import CustomCall, DerivativeBlock, ElementaryDefinition
from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Kernel, ready_times
from gradgen.ir.ops import BASE_LATENCY, LATENCY, LEAVES, Op, evaluate

from .emitter import (
    CALL_ARGS_WIDTH,
    INDENT,
    MAX_WIDTH,
    Array,
    Binary,
    Call,
    Chain,
    Emitter,
    Expr,
    IfElse,
    Method,
    emit_assign,
    emit_call_statement,
    emit_fn_header,
    emit_statement,
)
from .names import find_rust_names
from .rust_custom import block_expr, call_expr, rust_block
from .rust_literals import float_literal, near_std_constant
from .rust_loops import emit_length_check
from .rust_ops import POWI_MULTIPLY_MAX, RUST_OPS, Kind, math_call
from .signature import FunctionSignature

#: from this many input (or output) slices on, their length checks are one loop, not one ``if``
#: each: rustc's time grows much faster than linearly in the number of early returns
GROUPED_CHECKS_MIN = 64
log = logging.getLogger("gradgen.codegen")

#: clippy's too_many_arguments threshold
MAX_CLIPPY_ARGS = 7
#: an output with at least this many structural zeros (and at least half zeros) is filled first
FILL_MIN_ZEROS = 2
#: longer operands use the powi helper (keeps the multiplication on one line)
POWI_MULTIPLY_OPERAND = 16

_CONST_ONLY = frozenset({Op.CONST})
_INPUT_ONLY = frozenset({Op.INPUT})
_CUSTOM_ONLY = frozenset({Op.CUSTOM})
#: a block of derivative entries of a user function at one point: definition, block, arguments
_BlockKey = tuple[ElementaryDefinition, DerivativeBlock, tuple[int, ...]]
#: infix operators printed on the fast path of ``_statements``
_INFIX: dict[Op, str] = {
    op: spec.symbol for op, spec in RUST_OPS.items() if spec.kind is Kind.INFIX and spec.symbol
}
_EQ_OP_LINT = frozenset({Op.SUB, Op.DIV})
_CONST = Op.CONST
# how KernelPrinter._flat prints a statement on one line
_FAST_INFIX, _FAST_NEG, _FAST_METHOD, _FAST_CALL = range(4)


def _doc_name(name: str) -> str:
    """A user-facing name quoted for a doc comment (control characters escaped)."""
    return json.dumps(name, ensure_ascii=False)


def _powi_expr(x: str, n: int) -> str:
    """``x**n`` as multiplications in the order of binary exponentiation (``ir.ieee.powi``)."""
    k = abs(n)
    result: str | None = None
    base = x
    while k:
        if k & 1:
            result = base if result is None else f"{result} * {_paren(base)}"
        k >>= 1
        if k:
            base = f"{_paren(base)} * {_paren(base)}"
    assert result is not None
    return f"1.0 / {_paren(result)}" if n < 0 else result


def _paren(text: str) -> str:
    return f"({text})" if " " in text else text


#: A compiler-only barrier (no instruction is emitted) every ``FENCE_EVERY`` statements. Rust's
#: slices do not alias, so LLVM may regroup a whole kernel's arithmetic around the output
#: stores (SLP vectorization, scheduling); on Hessian kernels it hoists hundreds of values and
#: spills them, on serial chains it packs two links into one register. The fence bounds the
#: region it may reorder. Measured on 14 problems (``tests/benchmarks/fence.py``, in ``make
#: bench``: Hessians, gradients, HVPs, a sparse Jacobian, random programs of 1.7e3 to 1.05e5
#: operations), the fastest of 180 loops per layout, geometric mean of ns/call relative to a
#: fence every 32 statements alone: fences every 64 1.016, no fence 1.110, ``#[inline(never)]``
#: chunk functions of 256 statements 1.111; worst case against the fastest layout of a problem:
#: every 32 1.61x, 64 2.29x, no fence 5.96x (the sparse Rosenbrock(100) Hessian: 552 ns against
#: 93), chunks 5.64x. Not every kernel gets them: see ``WIDE_PARALLELISM``.
#: A kernel with a single scalar output that makes math calls gets no fence: a call already
#: bounds what stays live across it (every xmm register is caller-saved), and with fences LLVM
#: moved all 20 ``exp`` calls of the logsumexp(20) primal behind the last fence and spilled
#: around them (a 2240-byte stack frame, 256 without). Measured in two runs of the study on
#: its 14 problems and every bench kernel of rosenbrock, logsumexp and pendulum at sizes 10,
#: 20 and 100, ns/call relative to fences every 32 statements (``32, scalar none``): logsumexp
#: primal 0.70 / 0.83 (n=100), 0.98 / 0.97 (20), 1.00 / 0.99 (10); pendulum primal 1.01 / 1.01,
#: 0.95 / 1.07, 1.02 / 1.05 (the same kernels identical in two layouts differ by up to 5 %).
#: Restarting the count after a call (``32, calls reset``) or keeping fences 8 statements
#: clear of a call (``32, clear 8``) changed no kernel beyond that spread in both runs but the
#: logsumexp(10) Hessian (clear 8: 0.92 / 0.92; 1.00-1.03 on the other Hessians): not adopted.
#: ``STORE_FENCES``: a fence also follows the output stores of a statement that a later statement
#: of its function reads, in a function with at least one such statement per ``FENCE_EVERY``
#: statements (a kernel of short blocks chained through stored values: the sparse Hessian stores
#: each off-diagonal entry and reads it for the next diagonal one). LLVM's SLP vectorizer packs
#: stores of adjacent elements into one vector: on the sparse Rosenbrock Hessian, entry ``3k + 2``
#: (block ``k``) with ``3k + 3`` (block ``k + 1``), and as each block needs the vector of the next
#: one the independent blocks become one dependency chain; a fence after those stores leaves no
#: two blocks' adjacent stores between two fences. Measured against fences every 32 statements
#: alone (interleaved runs of one binary per text, two runs): sparse Rosenbrock Hessian n = 10,
#: 20, 100: 0.71 / 0.71, 0.71 / 0.72, 0.63 / 0.63; dense Rosenbrock Hessian n = 10, 30: 0.98 /
#: 0.96, 0.96 / 0.96; logsumexp Hessian n = 10, 20: 1.00 / 1.00, 1.01 / 1.01 (spread 10 %); the
#: study's random programs 1.00. Without the density condition the rule also fenced isolated
#: stores (the Rosenbrock(10) HVP's last element: 1.05 / 1.06), which chain nothing.
FENCE_EVERY = 32
SCHEDULING_FENCE = "core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);"
#: the math methods and helpers that compile to instructions, not to a libm call
_INLINE_MATH = frozenset({"abs", "sqrt", "max", "min", "floor", "ceil", "round", "trunc", "signum", "fract"})
#: operations printed as a libm call (or a helper built on one)
LIBM_CALLS = frozenset(
    op
    for op, spec in RUST_OPS.items()
    if spec.kind in (Kind.MATH, Kind.HELPER) and (spec.method or spec.helper) not in _INLINE_MATH
)


def fenced(kernel: Kernel) -> bool:
    """Whether the printer puts scheduling fences in ``kernel``: not when it has a single
    scalar output and makes a math call (see ``FENCE_EVERY``)."""
    scalar_output = sum(map(len, kernel.results)) == 1
    return not (scalar_output and any(map(LIBM_CALLS.__contains__, kernel.ops)))


#: ``WIDE_PARALLELISM``: a kernel with this much independent work (:func:`parallelism`) or
#: more, and fewer than ``WIDE_STORES`` output elements per statement, gets no fence every
#: ``FENCE_EVERY`` statements (the store fences of ``STORE_FENCES`` stay). The periodic fence
#: keeps LLVM from regrouping a serial chain (the pendulum, parallelism 3-5: no fence 1.08-1.16x)
#: and from hoisting values around dense output stores (the Hessians); on wide kernels with few
#: stores it only splits what SLP vectorizes across independent lanes. Measured in the fence
#: study, against the same layout with periodic fences everywhere (two runs; one of them with
#: the 36 bench kernels of Rosenbrock, logsumexp and the pendulum at sizes 10, 20 and 100):
#: Rosenbrock(1000) HVP 0.75x / 0.79x, logsumexp(20) gradient 0.82x / 0.81x, logsumexp(100)
#: Hessian 0.85x, geometric mean over the 50 kernels 0.96x (44 of 50 the fastest or within 3 %
#: against 28); the deep kernels (the pendulum, random chains, parallelism 1.7-4.8), the
#: Hessians (0.33 outputs or more per statement) and the random programs print the same text
#: or time the same. The two thresholds sit between those groups (among the 14 problems, the
#: wide ones have a parallelism of 20 or more and at most 0.13 outputs per statement); see
#: ``tests/benchmarks/KERNEL_SPEED.md``.
WIDE_PARALLELISM = 10.0
WIDE_STORES = 0.25


def parallelism(kernel: Kernel) -> float:
    """The kernel's operations weighted by latency (:data:`ir.ops.LATENCY`) over the latency of
    its longest dependency chain (:func:`ir.kernel.ready_times`): about how many operations an
    unbounded machine runs at once."""
    latency = LATENCY.get
    total = sum(latency(op, BASE_LATENCY) for op, a in zip(kernel.ops, kernel.args, strict=True) if a)
    return total / max(max(ready_times(kernel), default=0), 1)


def wide(kernel: Kernel) -> bool:
    """Whether ``kernel`` has much independent work and few output stores (see
    ``WIDE_PARALLELISM``)."""
    outputs = sum(map(len, kernel.results))
    return outputs < WIDE_STORES * kernel.op_count() and parallelism(kernel) >= WIDE_PARALLELISM


def periodic_fences(kernel: Kernel) -> bool:
    """Whether the printer puts a fence every ``FENCE_EVERY`` statements of ``kernel``: when it
    is :func:`fenced` and not :func:`wide`."""
    return fenced(kernel) and not wide(kernel)


def _is_literal(text: str) -> bool:
    """True for a printed float constant (``1.0``, ``-2.5e-3``, ``f64::NAN``)."""
    return text.lstrip("-")[:1].isdigit() or text.startswith(("f64::", "f32::"))


class KernelPrinter:
    """Prints one kernel; records the helpers it needs in ``used``."""

    #: ``_fast`` code of an integer power printed as multiplications (see :meth:`expr`)
    _FAST_POWI = 4

    def __init__(
        self,
        kernel: Kernel,
        scalar: str,
        no_std: bool,
        used: set[str],
        summary: str | None = None,
        trailer: str | None = None,
        public: bool = True,
        fenced_results: frozenset[int] = frozenset(),
        inline: bool = False,
    ) -> None:
        names = find_rust_names(kernel)
        if kernel.allocation is None or names is None:
            raise VerificationError(
                f"kernel {kernel.name!r} must be scheduled, allocated and named before printing"
            )
        self.k = kernel
        #: first line of the doc comment (default: a generic description) and text after the fn
        self.summary = summary
        self.trailer = trailer
        #: ``pub fn``, or a private function of the module (a callee of a staged kernel)
        self.public = public
        #: ``#[inline(always)]``: a callee an unrolled loop calls several times per iteration
        self.inline = inline
        self.alloc = kernel.allocation
        self.names = names
        self.scalar = scalar
        self.no_std = no_std
        self.used = used
        #: the user-function calls printed (their Rust items are emitted once per module)
        self.custom: set[CustomCall] = set()
        ops, attrs_ = kernel.ops, kernel.attrs
        n = len(ops)
        names = self.names
        #: chunk of each statement (-1 for leaves, -2 for the constants of ``_approx``) and the
        #: operand text of every value: the ``let`` local of a statement, ``x[j]`` of an input,
        #: the literal of a constant
        self._chunk = [-1] * n
        self._text = [""] * n
        prefix, local = names.local_prefix, self.alloc.local
        for c, ch in enumerate(self.alloc.chunks):
            for s in self.alloc.statements[ch.start : ch.stop]:
                self._chunk[s] = c
                self._text[s] = f"{prefix}{local[s]}"
        for i in compress(range(n), map(_INPUT_ONLY.__contains__, ops)):
            p, j = attrs_[i]
            self._text[i] = f"{names.inputs[p]}[{j}]"
        #: constants clippy's approx_constant could flag
        self._approx: set[int] = set()
        pos_zero: set[int] = set()
        for i in compress(range(n), map(_CONST_ONLY.__contains__, ops)):
            value = attrs_[i]
            self._text[i] = float_literal(value, scalar)
            if near_std_constant(value):
                self._approx.add(i)
                self._chunk[i] = -2  # operand() records the lint
            if value == 0.0 and math.copysign(1.0, value) > 0:
                pos_zero.add(i)
        self.writes: dict[int, list[tuple[int, int]]] = {}
        self.filled: list[bool] = []
        for p, res in enumerate(kernel.results):
            zero = list(map(pos_zero.__contains__, res))
            n_zeros = sum(zero)
            fill = n_zeros >= FILL_MIN_ZEROS and 2 * n_zeros >= len(res)
            self.filled.append(fill)
            written = compress(range(len(res)), map(not_, zero)) if fill else range(len(res))
            for j in written:
                self.writes.setdefault(res[j], []).append((p, j))
        #: value -> where it is kept for later chunks, unless its output writes put it there:
        #: ``work[slot]`` or an output element (``Allocation.scratch``)
        self.kept: dict[int, str] = {v: f"{names.work}[{s}]" for v, s in self.alloc.slot.items()}
        for v, (p, j) in self.alloc.scratch.items():
            if (p, j) not in self.writes.get(v, ()):
                self.kept[v] = f"{names.outputs[p]}[{j}]"
        self.lints: set[str] = set()
        #: op -> how _statements prints it on one line (see _flat)
        self._fast: dict[Op, tuple[int, str]] = {op: (_FAST_INFIX, sym) for op, sym in _INFIX.items()}
        self._fast[Op.NEG] = (_FAST_NEG, "-")
        for op, spec in RUST_OPS.items():
            if spec.kind is Kind.MATH:
                name, is_method = math_call(spec, scalar, no_std)
                self._fast[op] = (_FAST_METHOD if is_method else _FAST_CALL, name)
        self._fast[Op.POWI] = (self._FAST_POWI, "")
        #: statements between periodic fences (more than a chunk has: none), and the statements
        #: followed by a fence (their output stores before it: see ``STORE_FENCES``)
        is_fenced = fenced(kernel)
        self._fence_every = FENCE_EVERY if is_fenced and not wide(kernel) else n + 1
        #: derivative entries of user functions: statement -> its block at its point and its
        #: index there; each block is computed once per chunk that reads it, into a local
        #: numbered after every register (``_block_locals``)
        self._entries: dict[int, tuple[_BlockKey, int]] = {}
        self._block_locals: dict[tuple[int, _BlockKey], str] = {}
        self._next_block = -1  # set at the first block
        for i in compress(range(n), map(_CUSTOM_ONLY.__contains__, ops)):
            call: CustomCall = attrs_[i]
            if call.part:
                block, index = rust_block(call)
                self._entries[i] = ((call.definition, block, kernel.args[i]), index)
        self._fence_after = self._reread_outputs() if is_fenced else frozenset()
        #: the statements whose stores into a result of ``fenced_results`` follow a fence (the
        #: states and the tape a staged loop keeps from stage to stage: ``rust_loops.CARRY_FENCES``)
        self._fence_store = frozenset(
            v for v, ws in self.writes.items() if any(p in fenced_results for p, _ in ws)
        )

    def _reread_outputs(self) -> frozenset[int]:
        """The statements that store into an output element (their final value, or one kept
        there for a later chunk) and are read by a later statement of their own chunk, in the
        chunks with at least one of them per ``FENCE_EVERY`` statements (see ``STORE_FENCES``)."""
        writes, scratch, chunk_of, args = self.writes, self.alloc.scratch, self._chunk, self.k.args
        found: set[int] = set()
        for v in self.alloc.statements:
            c = chunk_of[v]
            for a in args[v]:
                if (a in writes or a in scratch) and chunk_of[a] == c:
                    found.add(a)
        per_chunk = [0] * len(self.alloc.chunks)
        for v in found:
            per_chunk[chunk_of[v]] += 1
        dense = [
            FENCE_EVERY * count >= ch.stop - ch.start
            for count, ch in zip(per_chunk, self.alloc.chunks, strict=True)
        ]
        return frozenset(v for v in found if dense[chunk_of[v]])

    # ---- operands and expressions ------------------------------------------------------------
    def operand(self, a: int, chunk: int) -> str:
        c = self._chunk[a]
        if c == chunk:
            return self._text[a]
        if c < 0:  # a constant or an input
            if a in self._approx:
                self.lints.add("clippy::approx_constant")
            return self._text[a]
        kept = self.alloc.scratch.get(a)
        if kept is not None:
            return f"{self.names.outputs[kept[0]]}[{kept[1]}]"
        return f"{self.names.work}[{self.alloc.slot[a]}]"

    def expr(self, v: int, chunk: int) -> Expr:
        op = self.k.ops[v]
        spec = RUST_OPS[op]
        args = self.k.args[v]
        kind = spec.kind
        if kind is Kind.INFIX:
            a, b = (self.operand(x, chunk) for x in args)
            if op in (Op.SUB, Op.DIV) and args[0] == args[1]:
                self.lints.add("clippy::eq_op")
            return Binary(a, spec.symbol, b)  # type: ignore[arg-type]
        if kind is Kind.NEG:
            return f"-{self.operand(args[0], chunk)}"
        if kind is Kind.COMPARE:
            consts = [self.k.const_value(x) for x in args]
            if any(c is not None and math.isnan(c) for c in consts):
                # every comparison with NaN has a known result (rustc warns on writing it)
                return float_literal(evaluate(op, None, (math.nan, 0.0)), self.scalar)
            if args[0] == args[1]:
                self.lints.add("clippy::eq_op")
            a, b = (self.operand(x, chunk) for x in args)
            return IfElse(Binary(a, spec.symbol, b), "1.0", "0.0")  # type: ignore[arg-type]
        if kind is Kind.SELECT:
            c, a, b = (self.operand(x, chunk) for x in args)
            if a == b:  # distinct f64 constants can round to the same f32 literal
                self.lints.add("clippy::if_same_then_else")
            return IfElse(Binary(c, "!=", "0.0"), a, b)
        if kind is Kind.MATH:
            name, is_method = math_call(spec, self.scalar, self.no_std)
            ops_ = [self.operand(x, chunk) for x in args]
            if not is_method:
                return Call(name, tuple(ops_))
            if self.k.ops[args[0]] is Op.CONST:
                return Call(f"{self.scalar}::{name}", tuple(ops_))
            return Method(ops_[0], name, tuple(ops_[1:]))
        if kind is Kind.POWI:
            n = self.k.attrs[v]
            x = self.operand(args[0], chunk)
            if abs(n) <= POWI_MULTIPLY_MAX and len(x) <= POWI_MULTIPLY_OPERAND:
                return _powi_expr(x, n)
            self.used.add("powi")
            return Call("powi", (x, str(n)))
        if kind is Kind.HELPER:
            assert spec.helper is not None
            self.used.add(spec.helper)
            return Call(spec.helper, (self.operand(args[0], chunk),))
        if kind is Kind.NORM:
            assert spec.helper is not None
            self.used.add(spec.helper)
            vec: str | Array = self._norm_vector(args, chunk)
            if op in (Op.NORM_P, Op.NORM_P_TO_P):
                order = self.k.attrs[v]
                if near_std_constant(order):
                    self.lints.add("clippy::approx_constant")
                return Call(spec.helper, (float_literal(order, self.scalar), vec))
            return Call(spec.helper, (vec,))
        if kind is Kind.CUSTOM:
            call = self.k.attrs[v]
            self.custom.add(call)
            if call.part:  # read from its block, computed by _emit_block
                key, index = self._entries[v]
                return f"{self._block_locals[(chunk, key)]}[{index}]"
            n = call.definition.input_dimension
            xs = self._norm_vector(args[:n], chunk)
            return call_expr(call, xs, [self.operand(a, chunk) for a in args[n:]])
        raise VerificationError(f"kernel {self.k.name!r}: v{v} = {op.name} is not a statement")

    def _norm_vector(self, args: Sequence[int], chunk: int) -> str | Array:
        """A whole input slice in order is passed as is; anything else as an array literal."""
        first = args[0]
        if self.k.ops[first] is Op.INPUT:
            p = self.k.attrs[first][0]
            if len(args) == self.k.inputs[p].size and all(
                self.k.ops[a] is Op.INPUT and self.k.attrs[a] == (p, j) for j, a in enumerate(args)
            ):
                return str(self.names.inputs[p])
        return Array(tuple(self.operand(a, chunk) for a in args))

    def _emit_block(self, e: Emitter, v: int, chunk: int) -> None:
        """The block statement ``v`` reads, unless this chunk already computed it at that point:
        ``let wK = NAME_jacobian_values(x, w);`` (``backends.rust_custom``)."""
        key, _ = self._entries[v]
        if (chunk, key) in self._block_locals:
            return
        d, block, args = key
        if self._next_block < 0:
            self._next_block = 1 + max(self.alloc.local.values(), default=-1)
        local = f"{self.names.local_prefix}{self._next_block}"
        self._next_block += 1
        n = d.input_dimension
        xs = self._norm_vector(args[:n], chunk)
        ws = [self.operand(a, chunk) for a in args[n:]]
        emit_assign(e, f"let {local} = ", block_expr(d, block, xs, ws))
        self._block_locals[(chunk, key)] = local

    # ---- statements ------------------------------------------------------------------------------
    def _statements(self, e: Emitter, chunk: int) -> None:
        ch = self.alloc.chunks[chunk]
        ops, args = self.k.ops, self.k.args
        text, kept, writes = self._text, self.kept, self.writes
        indent = INDENT * e.level
        width = MAX_WIDTH - len(indent)
        lines = e.lines
        fasts, in_chunk, operand = self._fast, self._chunk, self.operand
        fence = indent + SCHEDULING_FENCE
        attrs_, outputs = self.k.attrs, self.names.outputs
        every = self._fence_every
        fence_after, fence_store = self._fence_after, self._fence_store
        count = 0
        for v in self.alloc.statements[ch.start : ch.stop]:
            if count == every:
                lines.append(fence)
                count = 0
            count += 1
            local = text[v]
            op = ops[v]
            fast = fasts.get(op)
            if fast is not None:
                # the statements that fit on one line, printed as emit_assign would print them
                code = fast[0]
                if code == _FAST_INFIX:  # the common case, inlined
                    x, y = args[v]
                    if x == y and op in _EQ_OP_LINT:
                        self.lints.add("clippy::eq_op")
                    cx, cy = in_chunk[x], in_chunk[y]
                    tx = text[x] if cx == chunk or cx == -1 else operand(x, chunk)
                    ty = text[y] if cy == chunk or cy == -1 else operand(y, chunk)
                    flat: str | None = f"{tx} {fast[1]} {ty}"
                elif code == self._FAST_POWI:
                    n, x = attrs_[v], args[v][0]
                    cx = in_chunk[x]
                    tx = text[x] if cx == chunk or cx == -1 else operand(x, chunk)
                    short = abs(n) <= POWI_MULTIPLY_MAX and len(tx) <= POWI_MULTIPLY_OPERAND
                    flat = _powi_expr(tx, n) if short else None
                else:
                    flat = self._flat(fast, args[v], chunk)
                if flat is not None:
                    stmt = f"let {local} = {flat};"
                    if len(stmt) <= width:
                        lines.append(indent + stmt)
                        if v in kept:
                            lines.append(f"{indent}{kept[v]} = {local};")
                        if v in fence_store:
                            lines.append(fence)
                        for p, j in writes.get(v, ()):
                            store = f"{outputs[p]}[{j}] = {local};"
                            if len(store) <= width:
                                lines.append(indent + store)
                            else:
                                emit_assign(e, f"{outputs[p]}[{j}] = ", local)
                        if v in fence_after:
                            count = every
                        continue
            if v in self._entries:
                self._emit_block(e, v, chunk)
            rhs = self.expr(v, chunk)
            # `if c { 1.0 } else { 0.0 }` alone does not fix the float type, and a later method
            # call on the local (`w0.cos()`) would be ambiguous (E0689): annotate those lets
            typed = isinstance(rhs, IfElse) and _is_literal(rhs.then) and _is_literal(rhs.other)
            head = f"let {local}: {self.scalar} = " if typed else f"let {local} = "
            emit_assign(e, head, rhs)
            if v in kept or v in writes:
                self._store(e, v, local, v in fence_store)
            if v in fence_after:
                count = every

    def _flat(self, fast: tuple[int, str], a: tuple[int, ...], chunk: int) -> str | None:
        """One-line text of a negation or a math call (``None``: use the general layout of
        :meth:`expr`); infix operations are printed inline by :meth:`_statements`."""
        code, word = fast
        operand = self.operand
        if code == _FAST_NEG:
            return f"-{operand(a[0], chunk)}"
        if code == _FAST_METHOD:
            if self.k.ops[a[0]] is _CONST:
                return None  # `f64::sin(1.0)`: a constant receiver needs the type
            rest = ", ".join([operand(x, chunk) for x in a[1:]])
            return f"{operand(a[0], chunk)}.{word}({rest})"
        joined = ", ".join([operand(x, chunk) for x in a])  # _FAST_CALL
        return f"{word}({joined})" if len(joined) <= CALL_ARGS_WIDTH else None

    def _store(self, e: Emitter, v: int, local: str, fence: bool = False) -> None:
        """Where statement ``v`` is kept for later chunks, and the output elements it is the value
        of (after a scheduling fence when ``fence``)."""
        if v in self.kept:
            e.line(f"{self.kept[v]} = {local};")
        if fence:
            e.line(SCHEDULING_FENCE)
        for p, j in self.writes.get(v, ()):
            emit_assign(e, f"{self.names.outputs[p]}[{j}] = ", local)

    def _attributes(self, e: Emitter, n_params: int) -> None:
        lints = set(self.lints)
        if n_params > MAX_CLIPPY_ARGS:
            lints.add("clippy::too_many_arguments")
        if lints:
            e.line(f"#[allow({', '.join(sorted(lints))})]")

    def _params(self, inputs: Sequence[int], outputs: Sequence[int], work: bool) -> list[str]:
        t = self.scalar
        params = [f"{self.names.inputs[p]}: &[{t}]" for p in inputs]
        params += [f"{self.names.outputs[p]}: &mut [{t}]" for p in outputs]
        if work:
            params.append(f"{self.names.work}: &mut [{t}]")
        return params

    def _doc(self, e: Emitter) -> None:
        sig, work = FunctionSignature.of(self.k, self.scalar), self.names.work
        ins = ", ".join(f"`{a.name}`" for a in sig.inputs)
        outs = ", ".join(f"`{a.name}`" for a in sig.outputs)
        if self.summary is not None:
            e.line(f"/// {self.summary}")
        else:
            e.line(
                f"/// Evaluates the gradgen function {_doc_name(self.k.name)}: computes {outs} from {ins}."
            )
        e.line("///")
        e.line("/// # Arguments")
        e.line("///")
        for a in sig.inputs:
            e.line(f"/// * `{a.name}` - input {_doc_name(a.source_name)}, length {a.size}")
        for a in sig.outputs:
            e.line(f"/// * `{a.name}` - output {_doc_name(a.source_name)}, length {a.size} (overwritten)")
        size = sig.workspace_size
        if size:
            e.line(f"/// * `{work}` - workspace, length at least {size} (contents are overwritten)")
        else:
            e.line(f"/// * `{work}` - workspace, unused (this function needs none; any length)")
        e.line("///")
        e.line("/// # Errors")
        e.line("///")
        e.line("/// Returns [`GradgenError`] before writing anything when a slice has the wrong length.")

    def _check(self, e: Emitter, name: str, variant: str, size: int, at_least: bool) -> None:
        emit_length_check(e, name, variant, size, at_least)

    def _checks(self, e: Emitter, names: Sequence[str], sizes: Sequence[int], variant: str) -> None:
        """The length check of every input (or output) slice: one ``if`` each, or past
        :data:`GROUPED_CHECKS_MIN` slices one loop over ``(argument, expected, actual)``. A
        thousand separate early returns make rustc's compile time grow much faster than
        linearly; the loop keeps it linear."""
        if len(names) < GROUPED_CHECKS_MIN:
            for name, size in zip(names, sizes, strict=True):
                self._check(e, name, variant, size, False)
            return
        e.line("for (argument, expected, actual) in [")
        for name, size in zip(names, sizes, strict=True):
            length = Chain(name, (Call("len", ()),))
            emit_statement(e, Call("", (f'"{name}"', str(size), length)), ",")  # a tuple
        e.line("] {")
        e.line("if actual != expected {")
        e.line(f"return Err(GradgenError::{variant} {{")
        e.line("argument,")
        e.line("expected,")
        e.line("actual,")
        e.line("});")
        e.line("}")
        e.line("}")

    def emit(self, e: Emitter) -> None:
        k, n, alloc = self.k, self.names, self.alloc
        chunked = len(alloc.chunks) > 1
        chunk_items: list[Emitter] = []
        calls: list[Call] = []
        if chunked:
            for c, ch in enumerate(alloc.chunks):
                body = Emitter()
                body.level = 1
                self.lints = set()
                self._statements(body, c)
                stmts = alloc.statements[ch.start : ch.stop]
                read = set(chain.from_iterable(map(k.args.__getitem__, stmts)))
                inputs = compress(read, map(_INPUT_ONLY.__contains__, map(k.ops.__getitem__, read)))
                ins = sorted({k.attrs[a][0] for a in inputs})
                scratch = alloc.scratch
                outs = sorted(
                    {p for v in filter(self.writes.__contains__, stmts) for p, _ in self.writes[v]}
                    | {scratch[v][0] for v in filter(scratch.__contains__, chain(stmts, read))}
                )
                work = any(map(alloc.slot.__contains__, stmts)) or any(
                    self._chunk[a] != c for a in filter(alloc.slot.__contains__, read)
                )
                params = self._params(ins, outs, work)
                item = Emitter()
                item.line(
                    "/// One part of the statements of " + f"`{n.function}` (split to keep rustc fast)."
                )
                item.line("#[inline(never)]")
                self._attributes(item, len(params))
                emit_fn_header(item, "", f"{n.chunk_prefix}{c}", params, "")
                item.lines.extend(body.lines)
                item.level = 1
                item.line("}")
                chunk_items.append(item)
                call_args = [n.inputs[p] for p in ins] + [n.outputs[p] for p in outs]
                if work:
                    call_args.append(n.work)
                calls.append(Call(f"{n.chunk_prefix}{c}", tuple(call_args)))
            self.lints = set()
        body = Emitter()
        body.level = 1
        self._checks(body, n.inputs, [p.size for p in k.inputs], "InputLength")
        self._checks(body, n.outputs, [p.size for p in k.outputs], "OutputLength")
        if alloc.workspace_size:
            self._check(body, n.work, "WorkspaceLength", alloc.workspace_size, True)
        for p, fill in enumerate(self.filled):
            if fill:
                emit_statement(body, Chain(n.outputs[p], (Call("fill", ("0.0",)),)))
        if chunked:
            for call in calls:
                emit_call_statement(body, call)
        elif alloc.chunks:
            self._statements(body, 0)
        for v, targets in self.writes.items():
            if k.ops[v] in LEAVES:
                for p, j in targets:
                    emit_assign(body, f"{n.outputs[p]}[{j}] = ", self.operand(v, -1))
        body.line("Ok(())")
        params = self._params(range(len(k.inputs)), range(len(k.outputs)), True)
        for item in chunk_items:
            e.lines.extend(item.lines)
            e.line()
        self._doc(e)
        if self.inline:
            e.line("#[inline(always)]")
        self._attributes(e, len(params))
        emit_fn_header(e, "pub " if self.public else "", n.function, params, " -> Result<(), GradgenError>")
        e.lines.extend(body.lines)
        e.level = 1
        e.line("}")
        if self.trailer:
            e.line()
            e.block(self.trailer.rstrip("\n"))
