"""The input symbols of a kernel-only ``Function``, made when a user first asks for them.

A Function built from expressions knows its symbols. One wrapped around a kernel (a derivative, a
simplified or sparse-Hessian kernel, :meth:`Function.from_kernel`) only keeps an
:class:`InputSymbols` until :attr:`Function.inputs`, :attr:`Function.input_symbols` or
:attr:`Function.outputs` is read: deriving and generating code never build an ``SX``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradgen.ir.errors import FunctionDefinitionError
from gradgen.ir.expr import SX
from gradgen.ir.kernel import Kernel, Port


def checked_blocks(kernel: Kernel, blocks: Sequence[Sequence[SX]]) -> tuple[tuple[SX, ...], ...]:
    """``blocks`` as tuples, checked to be one sequence of symbols per input port of ``kernel``."""
    if not isinstance(blocks, (list, tuple)) or len(blocks) != len(kernel.inputs):
        raise FunctionDefinitionError(
            f"kernel {kernel.name!r} has {len(kernel.inputs)} input(s); give one sequence of "
            f"symbols per input, got {blocks!r}"
        )
    out = []
    for port, block in zip(kernel.inputs, blocks, strict=True):
        symbols = tuple(block)
        if len(symbols) != port.size or not all(isinstance(s, SX) and s.is_symbol for s in symbols):
            raise FunctionDefinitionError(
                f"input {port.name!r} of kernel {kernel.name!r} needs {port.size} symbol(s), got {block!r}"
            )
        out.append(symbols)
    return tuple(out)


def _fresh_blocks(
    ports: Sequence[Port], known: tuple[tuple[SX, ...], ...], bare_scalars: bool
) -> tuple[tuple[SX, ...], ...]:
    """Fresh symbols for ``ports``: ``<port>_0, <port>_1, ...`` with ``_`` appended to the port
    name until none of them is the name of a symbol in ``known`` or of one made before (with
    ``bare_scalars``, a scalar port whose name is free is a symbol of that name)."""
    taken = {s.name for block in known for s in block}
    blocks = []
    for port in ports:
        if bare_scalars and port.scalar and port.name not in taken:
            names = [port.name]
        else:
            base = port.name
            while any(f"{base}_{j}" in taken for j in range(port.size)):
                base += "_"
            names = [f"{base}_{j}" for j in range(port.size)]
        taken.update(names)
        blocks.append(tuple(SX.sym(n) for n in names))
    return tuple(blocks)


class InputSymbols:
    """The input symbols of a Function, made on first use.

    ``blocks`` are the symbols themselves when known (a Function built from expressions). A
    kernel-only Function takes ``base``'s symbols (those of the function it was derived from) for
    its first ports and fresh ones (:func:`_fresh_blocks`) for the ports a derivative appended;
    without a base, every port gets fresh symbols. Only port descriptions are kept until then, so
    a derived Function does not keep the kernel it was derived from alive."""

    __slots__ = ("_base", "_blocks", "_ports")

    def __init__(
        self,
        ports: Sequence[Port],
        blocks: tuple[tuple[SX, ...], ...] | None = None,
        base: InputSymbols | None = None,
    ) -> None:
        self._ports = tuple(ports)
        self._blocks = blocks
        self._base = base

    def get(self) -> tuple[tuple[SX, ...], ...]:
        chain: list[InputSymbols] = []
        node: InputSymbols | None = self
        while node is not None and node._blocks is None:  # a loop, however long the derivation chain
            chain.append(node)
            node = node._base
        known: tuple[tuple[SX, ...], ...] | None = None if node is None else node._blocks
        for link in reversed(chain):
            if known is None:
                known = _fresh_blocks(link._ports, (), bare_scalars=True)
            else:
                known = known[: len(link._ports)] + _fresh_blocks(link._ports[len(known) :], known, False)
            link._blocks = known
            link._base = None
        assert self._blocks is not None
        return self._blocks
