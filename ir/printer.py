"""The one textual form of a kernel, used by the dump tool, snapshots and error messages.

Values are named ``v0, v1, ...`` by id, floats are printed with ``repr`` and nothing depends on
memory addresses or hashing, so the text is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

from .kernel import Kernel, Port
from .ops import OP_INFO, Op
from .staged import format_steps, module_of


def _port(p: Port) -> str:
    return f"{p.name}: scalar" if p.scalar else f"{p.name}[{p.size}]"


def format_kernel(kernel: Kernel, comments: Sequence[str] = ()) -> str:
    """The text of ``kernel``; ``comments`` are printed as ``;`` lines under its header (a
    backend uses them to show what it noted about the kernel). A staged kernel prints its
    temporaries and steps (:func:`ir.staged.format_steps`); see :func:`format_module` for the
    kernels it calls."""
    ins = ", ".join(_port(p) for p in kernel.inputs)
    outs = ", ".join(_port(p) for p in kernel.outputs)
    lines = [f"kernel {kernel.name}({ins}) -> ({outs})"]
    alloc = kernel.allocation
    lines.extend(f"  ; {c}" for c in comments)
    if alloc is not None:
        lines.append(
            f"  ; {len(alloc.chunks)} chunk(s), workspace {alloc.workspace_size}, "
            f"registers {alloc.register_count}"
        )
    lines.extend(format_steps(kernel))
    chunk_of: dict[int, int] = {}
    if alloc is not None:
        for c, ch in enumerate(alloc.chunks):
            for s in alloc.statements[ch.start : ch.stop]:
                chunk_of[s] = c
    for i, op in enumerate(kernel.ops):
        attr = kernel.attrs[i]
        if op is Op.INPUT:
            port = kernel.inputs[attr[0]]
            text = f"input {port.name}[{attr[1]}]"
        elif op is Op.CONST:
            text = f"const {attr!r}"
        else:
            name = OP_INFO[op].name
            if attr is not None:
                name = f"{name}[{attr!r}]"
            text = name + " " + ", ".join(f"v{a}" for a in kernel.args[i])
        note = ""
        if alloc is not None and i in alloc.local:
            note = f"  ; c{chunk_of.get(i, 0)} r{alloc.local[i]}"
            if i in alloc.slot:
                note += f" work[{alloc.slot[i]}]"
            if i in alloc.scratch:
                p, j = alloc.scratch[i]
                note += f" {kernel.outputs[p].name}[{j}]"
        lines.append(f"  v{i} = {text}{note}")
    for k, port in enumerate(kernel.outputs):
        for j, v in enumerate(kernel.results[k]):
            lines.append(f"  {port.name}[{j}] = v{v}")
    return "\n".join(lines) + "\n"


def format_module(kernels: Sequence[Kernel]) -> str:
    """The text of ``kernels`` and every kernel they call, callees first, once each."""
    return "\n".join(format_kernel(k) for k in module_of(kernels))
