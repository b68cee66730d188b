"""What the dump tool prints: the IR with its Rust names, unified diffs between passes, the pass
time table, statistics and the kernel graph (networkx, DOT). Pure functions of kernels and
``PassEvent``s; :mod:`gradgen.dump` is the command line around them."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import networkx as nx

from gradgen.backends.names import rust_signature_lines
from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import OP_INFO, Op
from gradgen.ir.printer import format_kernel as format_ir
from gradgen.passes.manager import PassEvent
from gradgen.passes.sparsity import SPARSE_SWEEPS

#: above this many line comparisons a diff falls back to printing the whole "after" IR
DIFF_WORK_LIMIT = 4_000_000
_MASKED = "x.xxx"


def format_kernel(kernel: Kernel) -> str:
    """The IR text of ``kernel`` (:func:`ir.printer.format_kernel`), with the Rust function and
    argument names once the sanitize pass chose them."""
    return format_ir(kernel, rust_signature_lines(kernel))


def _workspace(kernel: Kernel) -> str:
    return "-" if kernel.allocation is None else str(kernel.allocation.workspace_size)


def _unified_range(start: int, stop: int) -> str:
    """A hunk range in unified-diff notation (as ``difflib`` writes it)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def unified_diff(before: list[str], after: list[str], name: str) -> list[str]:
    """Unified diff of two IR listings, bounded to linear time on large rewrites.

    The common prefix and suffix are found first. When the changed region is small (the product of
    its two lengths at most ``DIFF_WORK_LIMIT``) ``difflib`` computes a minimal diff; otherwise the
    whole changed region is one hunk (every old line removed, every new line added, three lines of
    context), which is still a valid unified diff but avoids ``difflib``'s quadratic worst case.
    """
    if before == after:
        return []
    n = min(len(before), len(after))
    prefix = 0
    while prefix < n and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while suffix < n - prefix and before[-1 - suffix] == after[-1 - suffix]:
        suffix += 1
    old = before[prefix : len(before) - suffix]
    new = after[prefix : len(after) - suffix]
    head = [f"--- before {name}", f"+++ after {name}"]
    if len(old) * len(new) <= DIFF_WORK_LIMIT:
        return list(difflib.unified_diff(before, after, head[0][4:], head[1][4:], lineterm=""))
    start = max(0, prefix - 3)
    context_after = before[len(before) - suffix : len(before) - suffix + 3]
    a_stop = prefix + len(old) + len(context_after)
    b_stop = prefix + len(new) + len(context_after)
    return [
        *head,
        f"@@ -{_unified_range(start, a_stop)} +{_unified_range(start, b_stop)} @@",
        *(" " + line for line in before[start:prefix]),
        *("-" + line for line in old),
        *("+" + line for line in new),
        *(" " + line for line in context_after),
    ]


def format_diff(event: PassEvent) -> str:
    """``event``'s change as a unified diff of the printed IR (empty when nothing changed)."""
    before = format_kernel(event.before).splitlines()
    after = format_kernel(event.after).splitlines()
    return "\n".join(unified_diff(before, after, event.name))


def format_time_table(events: Sequence[PassEvent], mask: bool) -> str:
    """The ``--time-passes`` table: wall time, op count and workspace before/after each pass."""
    head = ("#", "pass", "wall ms", "ops before", "ops after", "workspace before", "workspace after")
    rows = [
        (
            str(e.index + 1),
            e.name,
            _MASKED if mask else f"{e.seconds * 1e3:.3f}",
            str(e.before.op_count()),
            str(e.after.op_count()),
            _workspace(e.before),
            _workspace(e.after),
        )
        for e in events
    ]
    total = sum(e.seconds for e in events)
    rows.append(("", "total", _MASKED if mask else f"{total * 1e3:.3f}", "", "", "", ""))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = []
    for r in (head, *rows):
        cells = [r[0].rjust(widths[0]), r[1].ljust(widths[1])] + [
            c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def format_stats(kernel: Kernel, events: Sequence[PassEvent]) -> str:
    """The ``--stats`` text: instruction counts, depth, workspace, the sweeps of a sparse
    Jacobian (the ``"sparse_sweeps"`` note: used against dense), op histogram, and the rules
    fired by each pass (the ``"rules_fired"`` note of the kernel it made)."""
    n_inputs = sum(1 for op in kernel.ops if op is Op.INPUT)
    n_consts = sum(1 for op in kernel.ops if op is Op.CONST)
    rows: list[tuple[str, str]] = [
        ("kernel", kernel.name),
        ("instructions", str(len(kernel.ops))),
        ("  computed", str(kernel.op_count())),
        ("  inputs", str(n_inputs)),
        ("  constants", str(n_consts)),
        ("outputs", str(sum(len(r) for r in kernel.results))),
        ("depth", str(kernel.depth())),
    ]
    alloc = kernel.allocation
    if alloc is None:
        rows.append(("workspace", "- (not allocated: the pipeline has no allocate pass)"))
    else:
        rows.append(
            (
                "workspace",
                f"{alloc.workspace_size} ({len(alloc.chunks)} chunk(s), {alloc.register_count} registers)",
            )
        )
    sweeps = next((e.after.note(SPARSE_SWEEPS) for e in events if e.after.note(SPARSE_SWEEPS)), None)
    if sweeps:
        rows.append(("sparse sweeps", ""))
        for k, plan in sorted(sweeps.items()):
            rows.append((f"  {kernel.outputs[k].name}", plan.describe()))
    rows.append(("op histogram", ""))
    rows.extend((f"  {name}", str(count)) for name, count in kernel.histogram().items())
    for event in events:
        fired = event.after.note("rules_fired")
        if fired and fired is not event.before.note("rules_fired"):  # made here, not carried over
            rows.append((f"rules fired by pass {event.index + 1} ({event.name})", ""))
            rows.extend((f"  {rule}", str(count)) for rule, count in sorted(fired.items()))
    width = max(len(label) for label, value in rows if value)
    return "\n".join(f"{label.ljust(width)}  {value}".rstrip() for label, value in rows) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kernel_graph(kernel: Kernel) -> nx.MultiDiGraph[str]:
    """The kernel as a networkx graph: value nodes ``v<i>``, output nodes ``<port>[<j>]``."""
    g: nx.MultiDiGraph[str] = nx.MultiDiGraph(name=kernel.name)
    for i, op in enumerate(kernel.ops):
        attr = kernel.attrs[i]
        if op is Op.INPUT:
            g.add_node(f"v{i}", label=f"{kernel.inputs[attr[0]].name}[{attr[1]}]", shape="box")
        elif op is Op.CONST:
            g.add_node(f"v{i}", label=repr(attr), shape="plaintext")
        else:
            info = OP_INFO[op]
            name = info.name if attr is None else f"{info.name}[{attr!r}]"
            g.add_node(f"v{i}", label=f"v{i} = {name}", shape="ellipse")
            args = kernel.args[i]
            positional = len(args) > 1 and not info.commutative
            for k, a in enumerate(args):
                if positional:
                    g.add_edge(f"v{a}", f"v{i}", label=str(k))
                else:
                    g.add_edge(f"v{a}", f"v{i}")
    for port, res in zip(kernel.outputs, kernel.results, strict=True):
        for j, v in enumerate(res):
            node = f"{port.name}[{j}]"
            g.add_node(node, label=node, shape="house")
            g.add_edge(f"v{v}", node)
    return g


def format_dot(graph: nx.MultiDiGraph[str]) -> str:
    """Graphviz DOT text of a graph built by :func:`kernel_graph` (nodes and edges in insertion order)."""

    def attrs(data: dict[str, Any]) -> str:
        if not data:
            return ""
        return " [" + ", ".join(f"{k}={_dot_quote(str(v))}" for k, v in sorted(data.items())) + "]"

    lines = [
        f"digraph {_dot_quote(str(graph.graph.get('name', 'kernel')))} {{",
        '  node [fontname="monospace"];',
    ]
    for node, data in graph.nodes(data=True):
        lines.append(f"  {_dot_quote(node)}{attrs(data)};")
    for a, b, data in graph.edges(data=True):
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)}{attrs(data)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
