"""Split a joint forward + reverse kernel into a forward part that records a tape and a
reverse part that reads it.

A stage of an adjoint sweep (a VJP, or the JVP of a VJP) reads two kinds of inputs: the
*forward* ones (the state, the control, the parameters, their tangents), known when the
forward loop runs, and the *reverse* ones (the adjoint and its tangent), known only when the
reversed loop reaches the stage. Every instruction that depends on no reverse input can run in
the forward loop instead; the values of those instructions that the rest of the kernel reads
are the stage's *tape*.

:func:`split_tape` marks the instructions that depend on a reverse input (one pass in id
order, ids being topological), then builds

* ``forward``: the forward inputs -> one output ``tape`` (inputs and constants are never
  taped), and
* ``reverse``: the forward inputs it still reads, then ``tape``, then the reverse inputs ->
  the outputs of the kernel, computing the marked instructions (and, with ``free_inputs``,
  the cheap forward values it recomputes).

Which forward values are taped:

* without ``free_inputs``, every unmarked computed value a marked instruction reads or the
  kernel returns (the reverse half recomputes nothing);
* with ``free_inputs`` (the forward ports the caller can hand the reverse half at no cost,
  such as a loop's controls and parameters; every other forward port read by the reverse half
  costs its size, the caller storing it), the fewest values under one rule: a value of an op
  in :data:`~ir.ops.EXPENSIVE` that depends on no reverse input is computed once, in the
  forward half. That is a minimum vertex cut (:func:`_recomputed`); among the minimum cuts,
  the one recomputing the fewest values. Division stays expensive here: treating it as cheap
  shortens the bicycle MPC's tape from 7 to 6 values per stage but made its gradient and HVP
  1.1-1.35x slower (round-robin medians, N = 50).

With ``invariant_inputs`` (inputs the same at every stage of the loop, such as the
parameters), a value of those inputs alone is never taped: the reverse half recomputes it and
its loop computes it once, before the loop (:mod:`ir.hoist`).

Both are built through a :class:`~ir.kernel.KernelBuilder`, so a caller that also emits the
forward stage (the rollout) into one builder shares the common values by hash-consing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import attrs
import networkx as nx
from networkx.algorithms.flow import boykov_kolmogorov

from .errors import VerificationError
from .hoist import INVARIANT, invariant_values
from .kernel import Kernel, KernelBuilder, Port
from .ops import EXPENSIVE, Op

#: above this many instructions the cut is not searched and every forward value read is taped
#: (measured: the cut of a 2,300-instruction stage takes 0.04-0.08 s on a loaded machine)
CUT_SIZE_LIMIT = 2500


@attrs.frozen(eq=False)
class TapeSplit:
    """The two halves of a kernel (see the module docstring). ``kept`` lists the indices
    (into the original kernel's inputs) of the forward inputs ``reverse`` reads, in order;
    ``reverse``'s inputs are those, then ``tape`` (when :attr:`tape_size` is not 0), then
    the reverse inputs in their original order (``late``)."""

    forward: Kernel
    reverse: Kernel
    kept: tuple[int, ...]
    tape_size: int
    late: tuple[int, ...]


def split_tape(
    kernel: Kernel,
    reverse_inputs: Sequence[int],
    free_inputs: Sequence[int] | None = None,
    invariant_inputs: Sequence[int] = (),
) -> TapeSplit:
    """Split the straight-line ``kernel`` at the inputs ``reverse_inputs`` (port indices);
    the reverse half keeps the kernel's name, the forward half is ``<name>_tape``. With
    ``free_inputs`` (port indices of forward inputs), the tape is the smallest one the module
    docstring describes; without, every forward value the reverse half reads is taped.
    ``invariant_inputs`` (forward inputs the same at every stage of the caller's loops, such
    as the parameters) make every value of them alone free: never taped, recomputed by the
    reverse half, whose loop hoists it (:mod:`ir.hoist`)."""
    if kernel.steps:
        raise VerificationError(f"kernel {kernel.name!r} is staged; split_tape takes a straight-line kernel")
    n_in = len(kernel.inputs)
    late = set(reverse_inputs)
    free = set(free_inputs) if free_inputs is not None else None
    for given in (late, free or set()):
        if not given <= set(range(n_in)):
            raise VerificationError(f"kernel {kernel.name!r} has no input {sorted(given - set(range(n_in)))}")
    if free is not None and free & late:
        raise VerificationError(
            f"kernel {kernel.name!r}: the inputs {sorted(free & late)} are both free and reverse inputs"
        )
    fixed = set(invariant_inputs)
    if not fixed <= set(range(n_in)) - late:
        raise VerificationError(
            f"kernel {kernel.name!r}: the invariant inputs {sorted(fixed)} must be forward inputs"
        )
    early = [p for p in range(n_in) if p not in late]
    ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
    n = len(ops)
    marked = bytearray(n)
    for i in range(n):
        op = ops[i]
        if op is Op.INPUT:
            marked[i] = attrs_[i][0] in late
        elif op is not Op.CONST:
            marked[i] = any(marked[a] for a in args[i])
    # the reverse half: the marked instructions and the forward values it recomputes
    inv = invariant_values(kernel, sorted(fixed))
    if free is not None:
        again = _recomputed(kernel, marked, free, inv)
    else:
        again = _needed(kernel, marked, set(), inv)
    in_reverse = bytearray(m | r for m, r in zip(marked, again, strict=True))
    # the tape: the other forward computed values a reverse instruction or an output reads
    tape_of: dict[int, int] = {}
    kept_ports: set[int] = set()

    def need(v: int) -> None:
        if in_reverse[v]:
            return
        op = ops[v]
        if op is Op.INPUT:
            kept_ports.add(attrs_[v][0])
        elif op is not Op.CONST and v not in tape_of:
            tape_of[v] = len(tape_of)

    for i in range(n):
        if in_reverse[i] and ops[i] is not Op.INPUT:
            for a in args[i]:
                need(a)
    for res in kernel.results:
        for v in res:
            need(v)
    tape = sorted(tape_of, key=tape_of.__getitem__)
    tape_size = len(tape)

    # the forward half: every unmarked instruction, the taped ones returned
    fb = KernelBuilder()
    early_at = {p: k for k, p in enumerate(early)}
    new = fb.copy_part(kernel, [not m for m in marked], early_at)
    tape_port = Port("tape", max(tape_size, 1))
    forward = fb.finish(
        f"{kernel.name}_tape",
        tuple(kernel.inputs[p] for p in early),
        (tape_port,),
        [[new[v] for v in tape] or [fb.const(0.0)]],
    )

    # the reverse half: the marked and recomputed instructions, reading the kept inputs, the
    # tape and the rest
    kept = tuple(p for p in early if p in kept_ports)
    port_at = {p: k for k, p in enumerate(kept)}
    tape_index = len(kept)
    late_base = tape_index + (1 if tape_size else 0)
    port_at.update({p: late_base + k for k, p in enumerate(sorted(late))})
    rb = KernelBuilder()
    rnew: dict[int, int] = {}

    def value(v: int) -> int:
        got = rnew.get(v)
        if got is None:
            op = ops[v]
            if op is Op.CONST:
                got = rb.const(attrs_[v])
            elif op is Op.INPUT:
                port, j = attrs_[v]
                got = rb.input(port_at[port], j)
            else:
                got = rb.input(tape_index, tape_of[v])
            rnew[v] = got
        return got

    for i in range(n):
        if in_reverse[i]:
            rnew[i] = (
                value(i) if ops[i] is Op.INPUT else rb.emit(ops[i], [value(a) for a in args[i]], attrs_[i])
            )
    ports = [kernel.inputs[p] for p in kept]
    if tape_size:
        ports.append(tape_port)
    ports += [kernel.inputs[p] for p in sorted(late)]
    reverse = rb.finish(
        kernel.name,
        tuple(ports),
        kernel.outputs,
        [[value(v) for v in res] for res in kernel.results],
    )
    return TapeSplit(forward, reverse, kept, tape_size, tuple(sorted(late)))


def _recomputed(kernel: Kernel, marked: bytearray, free: set[int], inv: bytearray) -> bytearray:
    """The unmarked computed values the reverse half recomputes (1 per value id): a minimum
    vertex cut between the forward half and the reverse consumers.

    The flow graph has, per unmarked computed value ``v``, the nodes ``(v, 0)`` ("v is
    computed") and ``(v, 1)`` ("v is available"), joined by an edge of capacity 1 (taping
    ``v``); an infinite edge from ``(a, 1)`` to ``(v, 0)`` per argument ``a``; per forward
    port ``P`` that is not free, a node ``P`` fed by the source with capacity ``size(P)``
    (storing it) and an infinite edge to each reader of an element of ``P``; an infinite edge
    from the source to ``(v, 0)`` when ``v``'s op is expensive (computed in the forward half
    only); and from every value a marked instruction or an output reads, an infinite edge to
    the sink. Free inputs and constants have no node: they are available everywhere.

    A cut leaves ``(v, 0)`` on the sink side for a recomputed ``v``, ``(v, 0)`` on the source
    side and ``(v, 1)`` on the sink side for a taped ``v``. The sink side is taken as small as
    the maximum flow allows (the nodes that reach the sink in the residual graph), so among
    the minimum cuts this one recomputes the fewest values. An invariant value (``inv``, see
    :func:`ir.hoist.invariant_values`) has no node either: it is recomputed, out of the loop.

    Cost: building the graph and reading the cut are linear in the kernel's size; the
    maximum flow is networkx's Boykov-Kolmogorov algorithm, superlinear in the worst case
    (its flow is at most the full tape's size plus the stored ports' sizes). Above
    :data:`CUT_SIZE_LIMIT` instructions the search is skipped and nothing but the invariant
    values is recomputed (the full tape).
    """
    ops, args, attrs_ = kernel.ops, kernel.args, kernel.attrs
    n = len(ops)

    def computed(v: int) -> bool:
        return not marked[v] and ops[v] is not Op.INPUT and ops[v] is not Op.CONST and inv[v] != INVARIANT

    sinks: list[int] = []
    for i in range(n):
        if marked[i] and ops[i] is not Op.INPUT:
            sinks.extend(a for a in args[i] if not marked[a])
    for res in kernel.results:
        sinks.extend(v for v in res if not marked[v])
    if n > CUT_SIZE_LIMIT:
        return _needed(kernel, marked, set(), inv)
    graph: nx.DiGraph[object] = nx.DiGraph()
    source, sink = "source", "sink"

    def node(v: int) -> object:
        """The node of value ``v`` as an argument (None: free everywhere)."""
        op = ops[v]
        if op is Op.CONST or inv[v] == INVARIANT:
            return None
        if op is Op.INPUT:
            port = attrs_[v][0]
            if port in free:
                return None
            graph.add_edge(source, ("port", port), capacity=kernel.inputs[port].size)
            return ("port", port)
        return (v, 1)

    for v in range(n):
        if not computed(v):
            continue
        graph.add_edge((v, 0), (v, 1), capacity=1)
        if ops[v] in EXPENSIVE:
            graph.add_edge(source, (v, 0))
        for a in args[v]:
            got = node(a)
            if got is not None:
                graph.add_edge(got, (v, 0))
    for v in sinks:
        got = node(v)
        if got is not None:
            graph.add_edge(got, sink)
    if sink not in graph or source not in graph:
        # nothing to store, or nothing that must be: recompute what the reverse half reads
        return _needed(kernel, marked, None, inv)
    residual = boykov_kolmogorov(graph, source, sink)
    # the sink side: the nodes with a residual path to the sink
    reach: set[object] = {sink}
    queue = deque([sink])
    pred = residual.pred
    while queue:
        w = queue.popleft()
        for u, data in pred[w].items():
            if u not in reach and data["flow"] < data["capacity"]:
                reach.add(u)
                queue.append(u)
    return _needed(kernel, marked, reach, inv)


def _needed(kernel: Kernel, marked: bytearray, reach: set[object] | None, inv: bytearray) -> bytearray:
    """The unmarked computed values on the sink side (all when ``reach`` is None) or invariant
    (``inv``) that a reverse instruction or an output reads, directly or through other such
    values: one pass in decreasing id order."""
    ops, args = kernel.ops, kernel.args
    n = len(ops)
    want = bytearray(n)
    for res in kernel.results:
        for v in res:
            want[v] = 1
    again = bytearray(n)
    for i in range(n - 1, -1, -1):
        op = ops[i]
        if op is Op.INPUT or op is Op.CONST:
            continue
        if marked[i]:
            for a in args[i]:
                want[a] = 1
        elif want[i] and (reach is None or inv[i] == INVARIANT or (i, 0) in reach):
            again[i] = 1
            for a in args[i]:
                want[a] = 1
    return again
