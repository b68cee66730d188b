"""The Rust printer of staged kernels (:mod:`ir.staged`): calls and loops over sub-slices.

A staged kernel becomes a function with the usual slice ABI that checks every length once, then
runs its steps. Each step carves the slices it touches out of the output slices and the
workspace with ``split_at_mut`` (offsets fixed by the layout pass and checked against the
lengths at the entry, so no split can panic), turns every per-stage slice into a
``chunks_exact`` iterator (``.rev()`` for a reversed loop) and runs ``for`` over the zipped
iterators, calling the callee, a private function of the module, once per stage. A carried
state lives in two workspace buffers that are swapped after each stage (``core::mem::swap`` of
the two slice references; the data is never copied); its initial value is copied in before the
loop and its final value out after it.

A loop the layout pass unrolls (``StepLayout.unroll`` stages per iteration, see
``passes.staging.UNROLL``) iterates over chunks of that many stages, splits each chunk into its
stages with ``split_at`` and calls the callee once per stage, passing the state from one call
to the next in a local array; the buffers are swapped after each iteration. The stages left
over (``count % unroll``) are split off the end of every per-stage slice (its start, for a
reversed loop) and run after the loop, one stage at a time. Such a callee is printed
``#[inline(always)]`` (:func:`loop_callees`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs

from gradgen.ir.errors import VerificationError
from gradgen.ir.kernel import Kernel
from gradgen.ir.staged import STAGE_LAYOUT, Call, Ref, StageLayout, StepLayout, final_buffer, module_of, span

from .emitter import (
    CHAIN_WIDTH,
    INDENT,
    MAX_WIDTH,
    Binary,
    Chain,
    Emitter,
    emit_assign,
    emit_field,
    emit_fn_header,
    emit_if,
    emit_statement,
)
from .emitter import Call as CallExpr
from .names import NameTable, find_rust_names
from .signature import FunctionSignature

#: ``CARRY_FENCES``: in a callee of a staged loop, a scheduling fence precedes each store into an
#: output the loop keeps in the workspace from stage to stage: a state it carries to the next
#: stage (``x_next``, ``lam_prev``) and its per-stage temporaries (the tape); see
#: :func:`loop_callees`. Rust's slices do not alias, so LLVM's SLP vectorizer packs adjacent
#: stores and the arithmetic under them into vectors: the state then crosses the stages in one
#: vector register and is unpacked on the loop-carried dependency chain (the adjoint sweep is
#: latency-bound: about 68 flops of latency per stage for the pendulum), and two tape entries of
#: the HVP share a vector with the tangent products under them. With the fences no two such
#: stores share a region. Measured with the minimum ns/call over 200 loops (the fast mode of the
#: bench machine), ratio to CasADi's unrolled C, before -> after, in two runs: pendulum_staged
#: 10_grad 1.126 -> 1.023, 100_grad 1.062 -> 0.957, 1000_grad 73.5 -> 65.9 us; 10_hvp 1.072 ->
#: 1.046, 100_hvp 0.99 -> 0.97, 1000_hvp 87.6 -> 83.8 us; 10_f 0.996 -> 0.984, 100_f 0.997 ->
#: 0.980. The carried states alone: the gradients the same, the HVPs 0.2-0.6 % slower than before;
#: fences after the stores instead of before: 100_grad 1.033; before every output store of the
#: callees (the per-stage gradient and the terminal adjoint too): 10_grad 1.105, 100_grad 1.034.


@attrs.frozen
class LoopCallee:
    """How a callee of the staged kernels' loops is printed: ``fenced``, the indices of its
    outputs a loop keeps in the workspace from stage to stage (the states it carries and its
    per-stage temporaries: the tape, also where it sits in the slices of an output that a later
    step reads), each store into them after a fence (see ``CARRY_FENCES``); ``inline``, printed
    ``#[inline(always)]`` because a loop runs several stages of it per iteration
    (``StepLayout.unroll``, ``passes.staging.UNROLL``) and LLVM stops inlining a callee called
    more than once."""

    fenced: frozenset[int] = frozenset()
    inline: bool = False


def loop_callees(kernels: Sequence[Kernel]) -> dict[str, LoopCallee]:
    """Rust function name of each callee of the staged kernels among ``kernels`` (and the kernels
    they call) -> how it is printed, over every call of it."""
    fenced: dict[str, set[int]] = {}
    inline: set[str] = set()
    for k in module_of(kernels):
        if not k.steps:
            continue
        layout = k.note(STAGE_LAYOUT)
        unrolls = [s.unroll for s in layout.steps] if isinstance(layout, StageLayout) else [1] * len(k.steps)
        # the per-stage slices of outputs a later step reads (a tape kept in an output's slices)
        reread = {r for call in k.steps[1:] for r in call.inputs if r is not None and r.buffer == "out"}
        for call, unroll in zip(k.steps, unrolls, strict=True):
            names = find_rust_names(call.callee)
            if names is None:
                continue
            kept = {c.output for c in call.carries}
            for j, r in enumerate(call.outputs):
                if r is None or not r.stride:
                    continue
                if r.buffer == "tmp" or (r in reread and r not in call.inputs):
                    kept.add(j)
            fenced.setdefault(names.function, set()).update(kept)
            if unroll > 1:
                inline.add(names.function)
    return {fn: LoopCallee(frozenset(outs), fn in inline) for fn, outs in fenced.items()}


def _method(receiver: str, *links: tuple[str, tuple[str, ...]]) -> Chain:
    return Chain(receiver, tuple(CallExpr(name, args) for name, args in links))


def emit_length_check(e: Emitter, name: str, variant: str, size: int, at_least: bool) -> None:
    """``if name.len() != size { return Err(...) }`` (``< size`` for ``at_least``)."""
    if at_least and size == 1:  # clippy's len_zero wants is_empty() for `< 1`
        emit_if(e, _method(name, ("is_empty", ())))
    else:
        emit_if(e, Binary(_method(name, ("len", ())), "<" if at_least else "!=", str(size)))
    e.line(f"return Err(GradgenError::{variant} {{")
    emit_field(e, "argument", f'"{name}"')
    e.line(f"expected: {size},")
    emit_field(e, "actual", _method(name, ("len", ())))
    e.line("});")
    e.line("}")


def emit_try_call(e: Emitter, callee: str, args: Sequence[str]) -> None:
    """``callee(args)?;`` laid out as rustfmt does."""
    emit_statement(e, CallExpr(callee, tuple(args)), "?;")


@attrs.frozen
class _Bound:
    """One step's callee and the Rust text of what it is called with (``StagedPrinter._step``):
    ``in_vars`` / ``out_vars`` (variable, whether a per-stage slice) per callee port,
    ``carry_vars`` (current, next) per carry, ``carry_of_input`` / ``carry_of_output`` (callee
    port -> its carry), ``updated`` (input -> the output whose slice it reads as it was before
    the call), ``per_stage`` (variable, port size, mutable)."""

    call: Call
    function: str
    text: dict[str, str]
    in_vars: list[tuple[str, bool]]
    out_vars: list[tuple[str, bool]]
    work_var: str | None
    carry_vars: list[tuple[str, str]]
    carry_of_input: dict[int, int]
    carry_of_output: dict[int, int]
    updated: dict[int, int]
    per_stage: list[tuple[str, int, bool]]


class StagedPrinter:
    """Prints one staged kernel (scheduled by the layout pass and named)."""

    def __init__(
        self,
        kernel: Kernel,
        scalar: str,
        summary: str | None = None,
        trailer: str | None = None,
        public: bool = True,
    ) -> None:
        names = find_rust_names(kernel)
        layout = kernel.note(STAGE_LAYOUT)
        if names is None or not isinstance(layout, StageLayout) or kernel.allocation is None:
            raise VerificationError(
                f"staged kernel {kernel.name!r} must be laid out and named before printing"
            )
        self.k = kernel
        self.names: NameTable = names
        self.layout = layout
        self.scalar = scalar
        self.summary = summary
        self.trailer = trailer
        self.public = public
        self._counter = 0

    def fresh(self) -> str:
        self._counter += 1
        return f"{self.names.local_prefix}{self._counter}"

    # ---- one step -----------------------------------------------------------------------------
    def _buffer(self, ref: Ref) -> tuple[str, int]:
        """The Rust slice holding ``ref`` and the offset of the referenced buffer in it."""
        if ref.buffer == "in":
            return self.names.inputs[ref.index], 0
        if ref.buffer == "out":
            return self.names.outputs[ref.index], 0
        return self.names.work, self.layout.temp_offsets[ref.index]

    def _at(self, ref: Ref) -> int | None:
        """Where a temporary's slice starts in the workspace (``None``: not a temporary)."""
        return self.layout.temp_offsets[ref.index] + ref.offset if ref.buffer == "tmp" else None

    def _full_length(self, name: str) -> int:
        for n, p in zip(self.names.inputs, self.k.inputs, strict=True):
            if n == name:
                return p.size
        for n, p in zip(self.names.outputs, self.k.outputs, strict=True):
            if n == name:
                return p.size
        return -1  # the workspace: always carved

    def _step(self, e: Emitter, call: Call, sl: StepLayout) -> None:
        callee = call.callee
        cnames = find_rust_names(callee)
        if cnames is None:
            raise VerificationError(f"callee {callee.name!r} must be named before printing")
        looped = call.count > 1
        # every slice of the step: key -> (buffer name, start, stop, mutable)
        regions: dict[str, tuple[str, int, int, bool]] = {}

        def region(ref: Ref, size: int, mutable: bool) -> str:
            name, base = self._buffer(ref)
            lo, hi = span(call, ref, size) if looped else (ref.offset, ref.offset + size)
            var = self.fresh()
            regions[var] = (name, base + lo, base + hi, mutable or ref.buffer != "in")
            return var

        in_vars: list[tuple[str, bool]] = []  # (variable, per stage)
        carry_of_input = {c.input: n for n, c in enumerate(call.carries)}
        carry_of_output = {c.output: n for n, c in enumerate(call.carries)}
        carry_vars: list[tuple[str, str]] = []
        for (a, b), c in zip(sl.carry_buffers, call.carries, strict=True):
            size = callee.inputs[c.input].size
            cur, nxt = self.fresh(), self.fresh()
            regions[cur] = (self.names.work, a, a + size, True)
            regions[nxt] = (self.names.work, b, b + size, True)
            carry_vars.append((cur, nxt))
        # an input bound to the slice an output writes (``ir.staged``: read before the call)
        # is a copy of that output's slice, taken just before the call
        written_by = {
            (ref, port.size): j
            for j, (ref, port) in enumerate(zip(call.outputs, callee.outputs, strict=True))
            if ref is not None
        }
        updated: dict[int, int] = {}
        for i, (ref, port) in enumerate(zip(call.inputs, callee.inputs, strict=True)):
            if ref is None:
                in_vars.append((carry_vars[carry_of_input[i]][0], False))
            elif (ref, port.size) in written_by:
                updated[i] = written_by[(ref, port.size)]
                in_vars.append((self.fresh(), False))
            else:
                in_vars.append((region(ref, port.size, False), looped and ref.stride > 0))
        out_vars: list[tuple[str, bool]] = []
        for j, (ref, port) in enumerate(zip(call.outputs, callee.outputs, strict=True)):
            if ref is None:
                out_vars.append((carry_vars[carry_of_output[j]][1], False))
            else:
                out_vars.append((region(ref, port.size, True), looped and ref.stride > 0))
        # a carry's initial or final slice that is one of its buffers (the layout pass places
        # them so) needs no region and no copy
        inits: list[str | None] = []
        finals: list[str | None] = []
        for (a, b), c in zip(sl.carry_buffers, call.carries, strict=True):
            size = callee.inputs[c.input].size
            kept = (a, b)[final_buffer(call, sl.unroll)]
            inits.append(None if self._at(c.init) == a else region(attrs_evolve_fixed(c.init), size, False))
            finals.append(
                None
                if c.final is None or self._at(c.final) == kept
                else region(attrs_evolve_fixed(c.final), size, True)
            )
        work_var = None
        if sl.work_size:
            work_var = self.fresh()
            regions[work_var] = (self.names.work, sl.work_offset, sl.work_offset + sl.work_size, True)
        swapped = {v for pair in carry_vars for v in pair} if looped else set()
        text = self._carve(e, regions, swapped)
        unroll = sl.unroll if looped else 1
        whole, left = divmod(call.count, unroll) if looped else (1, 0)
        # the per-stage slices (variable, port size, mutable) and the stages an unrolled loop
        # leaves over, split off their end (their start for a reversed loop)
        per_stage = [(v, p.size, False) for (v, ps), p in zip(in_vars, callee.inputs, strict=True) if ps]
        per_stage += [(v, p.size, True) for (v, ps), p in zip(out_vars, callee.outputs, strict=True) if ps]
        main: dict[str, str] = {}
        rest: dict[str, str] = {}
        for var, size, mut in per_stage:
            src = text[var] if mut else text[var].lstrip("&")
            if unroll > 1 and left:
                looped_part, left_part = self.fresh(), self.fresh()
                cut = left * size if call.reverse else whole * unroll * size
                method = "split_at_mut" if mut else "split_at"
                parts = (left_part, looped_part) if call.reverse else (looped_part, left_part)
                emit_assign(e, f"let ({parts[0]}, {parts[1]}) = ", _method(src, (method, (str(cut),))))
                main[var], rest[var] = looped_part, left_part
            else:
                main[var] = src
        copies = [
            (cur, text[init]) for (cur, _), init in zip(carry_vars, inits, strict=True) if init is not None
        ]
        holder = [cur if looped else nxt for cur, nxt in carry_vars]
        bound = _Bound(
            call,
            cnames.function,
            text,
            in_vars,
            out_vars,
            work_var,
            carry_vars,
            carry_of_input,
            carry_of_output,
            updated,
            per_stage,
        )
        if not looped:
            for cur, src in copies:
                emit_statement(e, _method(cur, ("copy_from_slice", (src,))))
            self._calls(e, bound, {}, 1)
        else:
            self._loop(e, bound, main, unroll, whole, copies)
            if left == 1 and unroll > 1:
                self._calls(e, bound, {var: [rest[var]] for var, _, _ in per_stage}, 1)
                holder = [nxt for _, nxt in carry_vars]
            elif left:
                self._loop(e, bound, rest, 1, left, [])
        for h, final in zip(holder, finals, strict=True):
            if final is not None:
                emit_statement(e, _method(text[final], ("copy_from_slice", (h,))))

    def _loop(
        self,
        e: Emitter,
        b: _Bound,
        slices: dict[str, str],
        unroll: int,
        iterations: int,
        copies: list[tuple[str, str]],
    ) -> None:
        """``for`` over ``iterations`` groups of ``unroll`` stages of the per-stage ``slices``,
        the carried states swapped after each group (``copies``: initial states copied in)."""
        iters: list[str] = []
        items: list[str] = []
        for var, size, mut in b.per_stage:
            it = self.fresh()
            chunks = "chunks_exact_mut" if mut else "chunks_exact"
            links = [(chunks, (str(size * unroll),))] + ([("rev", ())] if b.call.reverse else [])
            emit_assign(e, f"let {it} = ", _method(slices[var], *links))
            iters.append(it)
            items.append(self.fresh())
        for cur, src in copies:
            emit_statement(e, _method(cur, ("copy_from_slice", (src,))))
        if not iters:
            e.line(f"for _ in 0..{iterations} {{")
        else:
            pattern = items[0]
            chain = iters[0]
            for it, item in zip(iters[1:], items[1:], strict=True):
                pattern = f"({pattern}, {item})"
                chain = f"{chain}.zip({it})"
            header = f"for {pattern} in {chain} {{"
            if e.indent + len(header) <= MAX_WIDTH:
                e.line(header)
            elif len(chain) <= CHAIN_WIDTH:  # rustfmt: a short chain on a line of its own
                e.line(f"for {pattern} in")
                e.lines.append(f"{INDENT * (e.level + 1)}{chain}")
                e.line("{")
            else:  # rustfmt's layout of a long chain: one `.zip(..)` per line
                e.line(f"for {pattern} in {iters[0]}")
                e.lines.extend(f"{INDENT * (e.level + 1)}.zip({it})" for it in iters[1:])
                e.line("{")
        # each item split into its stages, in the order the calls run them
        pieces: dict[str, list[str]] = {}
        for (var, size, mut), item in zip(b.per_stage, items, strict=True):
            parts: list[str] = []
            cur = item
            for _ in range(unroll - 1):
                head, tail = self.fresh(), self.fresh()
                method = "split_at_mut" if mut else "split_at"
                emit_assign(e, f"let ({head}, {tail}) = ", _method(cur, (method, (str(size),))))
                parts.append(head)
                cur = tail
            parts.append(cur)
            pieces[var] = parts[::-1] if b.call.reverse else parts
        self._calls(e, b, pieces, unroll)
        for cur, nxt in b.carry_vars:
            emit_statement(e, CallExpr("core::mem::swap", (f"&mut {cur}", f"&mut {nxt}")))
        e.line("}")

    def _calls(self, e: Emitter, b: _Bound, pieces: dict[str, list[str]], count: int) -> None:
        """``count`` calls in a row (stage slices from ``pieces``), each reading the state the
        one before it wrote into a local array; the first reads the current state buffer, the
        last writes the next one."""
        call, callee = b.call, b.call.callee
        carry_of_input, carry_of_output = b.carry_of_input, b.carry_of_output
        locals_: list[list[str]] = [[] for _ in call.carries]
        for t in range(count):
            if t < count - 1:
                for n, c in enumerate(call.carries):
                    local = self.fresh()
                    e.line(f"let mut {local} = [0.0; {callee.inputs[c.input].size}];")
                    locals_[n].append(local)
            out_args: list[str] = []
            for j, (var, per_stage) in enumerate(b.out_vars):
                if j in carry_of_output:
                    n = carry_of_output[j]
                    out_args.append(b.carry_vars[n][1] if t == count - 1 else f"&mut {locals_[n][t]}")
                else:
                    out_args.append(pieces[var][t] if per_stage else b.text[var])
            args: list[str] = []
            for i, ((var, per_stage), port) in enumerate(zip(b.in_vars, callee.inputs, strict=True)):
                if i in carry_of_input:
                    n = carry_of_input[i]
                    args.append(b.carry_vars[n][0] if t == 0 else f"&{locals_[n][t - 1]}")
                elif i in b.updated:  # a copy of an output's slice, taken just before the call
                    copy = var if t == 0 else self.fresh()
                    e.line(f"let mut {copy} = [0.0; {port.size}];")
                    emit_statement(e, _method(copy, ("copy_from_slice", (out_args[b.updated[i]],))))
                    args.append(f"&{copy}")
                else:
                    args.append(pieces[var][t] if per_stage else b.text[var])
            args += out_args
            args.append(b.text[b.work_var] if b.work_var is not None else "&mut []")
            emit_try_call(e, b.function, args)

    def _carve(
        self, e: Emitter, regions: dict[str, tuple[str, int, int, bool]], mutable: set[str]
    ) -> dict[str, str]:
        """Bind every region to a Rust expression: an input range is borrowed in place; the
        regions of each mutable slice are split off in address order. Returns var -> text."""
        text: dict[str, str] = {}
        by_buffer: dict[str, list[tuple[int, int, str]]] = {}
        for var, (name, lo, hi, mut) in regions.items():
            if not mut:
                full = self._full_length(name)
                text[var] = name if (lo == 0 and hi == full) else f"&{name}[{lo}..{hi}]"
            else:
                by_buffer.setdefault(name, []).append((lo, hi, var))
        for name, parts in by_buffer.items():
            parts.sort()
            if len(parts) == 1 and parts[0][0] == 0 and parts[0][1] == self._full_length(name):
                text[parts[0][2]] = name
                continue
            cur, pos = name, 0
            for n, (lo, hi, var) in enumerate(parts):
                if lo > pos:
                    rest = self.fresh()
                    emit_assign(e, f"let (_, {rest}) = ", _method(cur, ("split_at_mut", (str(lo - pos),))))
                    cur, pos = rest, lo
                binding = f"mut {var}" if var in mutable else var
                if n == len(parts) - 1:
                    emit_assign(e, f"let ({binding}, _) = ", _method(cur, ("split_at_mut", (str(hi - pos),))))
                else:
                    rest = self.fresh()
                    emit_assign(
                        e, f"let ({binding}, {rest}) = ", _method(cur, ("split_at_mut", (str(hi - pos),)))
                    )
                    cur, pos = rest, hi
                text[var] = var
        return text

    # ---- the function -------------------------------------------------------------------------
    def _doc(self, e: Emitter, sig: FunctionSignature) -> None:
        ins = ", ".join(f"`{a.name}`" for a in sig.inputs)
        outs = ", ".join(f"`{a.name}`" for a in sig.outputs)
        if self.summary is not None:
            e.line(f"/// {self.summary}")
        else:
            name = json.dumps(self.k.name, ensure_ascii=False)
            e.line(f"/// Evaluates the gradgen staged function {name}: computes {outs} from {ins}.")
        e.line("///")
        e.line("/// # Arguments")
        e.line("///")
        for a in sig.inputs:
            e.line(f"/// * `{a.name}` - input {json.dumps(a.source_name)}, length {a.size}")
        for a in sig.outputs:
            e.line(f"/// * `{a.name}` - output {json.dumps(a.source_name)}, length {a.size} (overwritten)")
        if sig.workspace_size:
            e.line(
                f"/// * `{self.names.work}` - workspace, length at least {sig.workspace_size} (overwritten)"
            )
        else:
            e.line(f"/// * `{self.names.work}` - workspace, unused (this function needs none; any length)")
        e.line("///")
        e.line("/// # Errors")
        e.line("///")
        e.line("/// Returns [`GradgenError`] before writing anything when a slice has the wrong length.")

    def emit(self, e: Emitter) -> None:
        k, n = self.k, self.names
        sig = FunctionSignature.of(k, self.scalar)
        t = self.scalar
        params = [f"{name}: &[{t}]" for name in n.inputs]
        params += [f"{name}: &mut [{t}]" for name in n.outputs]
        params.append(f"{n.work}: &mut [{t}]")
        self._doc(e, sig)
        if len(params) > 7:
            e.line("#[allow(clippy::too_many_arguments)]")
        emit_fn_header(e, "pub " if self.public else "", n.function, params, " -> Result<(), GradgenError>")
        for port, name in zip(k.inputs, n.inputs, strict=True):
            emit_length_check(e, name, "InputLength", port.size, False)
        for port, name in zip(k.outputs, n.outputs, strict=True):
            emit_length_check(e, name, "OutputLength", port.size, False)
        if self.layout.size:
            emit_length_check(e, n.work, "WorkspaceLength", self.layout.size, True)
        for call, sl in zip(k.steps, self.layout.steps, strict=True):
            self._step(e, call, sl)
        e.line("Ok(())")
        e.line("}")
        if self.trailer:
            e.line()
            e.block(self.trailer.rstrip("\n"))


def attrs_evolve_fixed(ref: Ref) -> Ref:
    """``ref`` read or written once (stride 0): the slice of a carry's initial or final value."""
    return Ref(ref.buffer, ref.index, ref.offset, 0)
