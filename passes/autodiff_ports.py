"""Argument checks and port naming shared by every derivative kernel builder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gradgen.ir.kernel import Kernel, Port

from .errors import DifferentiationError


def check_wrt(kernel: Kernel, wrt: Any) -> int:
    """``wrt`` as a valid input index of ``kernel`` or a :class:`DifferentiationError`."""
    names = ", ".join(repr(p.name) for p in kernel.inputs)
    if isinstance(wrt, bool) or not isinstance(wrt, int):
        raise DifferentiationError(
            f"wrt must be an input index of {kernel.name!r} (inputs: {names}), got {wrt!r}"
        )
    if not 0 <= wrt < len(kernel.inputs):
        raise DifferentiationError(
            f"wrt index {wrt} is out of range: {kernel.name!r} has {len(kernel.inputs)} input(s) ({names})"
        )
    return wrt


def check_wrt_list(kernel: Kernel, wrt: Any) -> tuple[int, ...]:
    """``None`` (all inputs), an index or a sequence of distinct indices."""
    if wrt is None:
        return tuple(range(len(kernel.inputs)))
    items = [wrt] if isinstance(wrt, int) else wrt
    try:
        out = tuple(check_wrt(kernel, w) for w in items)
    except TypeError:
        raise DifferentiationError(f"wrt must be an input index or a list of them, got {wrt!r}") from None
    if not out:
        raise DifferentiationError(f"wrt for {kernel.name!r} is empty; give at least one input index")
    if len(set(out)) != len(out):
        raise DifferentiationError(f"wrt {list(out)!r} for {kernel.name!r} lists an input more than once")
    return out


class PortNames:
    """Port names already used; :meth:`take` returns ``name`` or ``name_1``, ``name_2``..."""

    def __init__(self, ports: Sequence[Port]) -> None:
        self.taken = {p.name for p in ports}

    def take(self, name: str) -> str:
        out, k = name, 0
        while out in self.taken:
            k += 1
            out = f"{name}_{k}"
        self.taken.add(out)
        return out
