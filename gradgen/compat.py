"""The spellings of gradgen 0.5.2 that differ from ours, translated to ours in one place.

Everything here maps an argument as a 0.5.2 script writes it to what the rest of the façade
takes: simplification efforts given as pass counts, the positional seeds of ``jvp``/``vjp``, and
renaming the ports and the name of a derived kernel (``name=``, ``tangent_name=``,
``cotangent_names=``). See the migration table in GUIDE.md.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import attrs

from gradgen.errors import (
    FunctionDefinitionError,
    GradgenTypeError,
    InvalidLevelError,
)
from gradgen.ir.kernel import Kernel
from gradgen.ir.ordered import refuse_unordered

#: 0.5.2's named efforts (its pass counts are these levels' names there); ours are levels
EFFORT_NAMES = ("none", "basic", "medium", "high", "max")


def level_from_effort(max_effort: object) -> str:
    """Our simplification level for a 0.5.2 ``max_effort``: a level name, or a pass count
    (0 -> none, 1-2 -> basic, 3-5 -> medium, 6-9 -> high, 10 or more -> max, the pass counts
    0.5.2 gives its named efforts)."""
    wrong = f"max_effort must be one of {', '.join(EFFORT_NAMES)} or a pass count >= 0, got {max_effort!r}"
    if isinstance(max_effort, str):
        if max_effort not in EFFORT_NAMES:
            raise InvalidLevelError(wrong)
        return max_effort
    if isinstance(max_effort, bool) or not isinstance(max_effort, numbers.Integral) or int(max_effort) < 0:
        raise InvalidLevelError(wrong)
    passes = int(max_effort)
    for bound, level in ((10, "max"), (6, "high"), (3, "medium"), (1, "basic")):
        if passes >= bound:
            return level
    return "none"


def resolve_wrt(wrt: Any, wrt_index: Any, default: Any = 0) -> Any:
    """``wrt`` (ours) or ``wrt_index=`` (0.5.2's keyword); giving both different is an error."""
    if wrt_index is None:
        return default if wrt is None else wrt
    if wrt is not None and wrt != wrt_index:
        raise GradgenTypeError(
            f"give the input either as wrt={wrt!r} or as wrt_index={wrt_index!r}, not both"
        )
    return wrt_index


def _is_index_spec(value: object, n_inputs: int) -> bool:
    """An input index, or a list of distinct input indices, of a function with ``n_inputs``."""

    def index(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n_inputs

    if isinstance(value, list):
        return bool(value) and all(index(v) for v in value) and len(set(value)) == len(value)
    return index(value)


def split_seeds(kind: str, positional: tuple[Any, ...], count: int, n_inputs: int) -> tuple[Any, Any]:
    """``(seed, wrt)`` for ``f.jvp(...)`` / ``f.vjp(...)`` called with positional arguments.

    Ours is ``(seed, wrt_index)``; 0.5.2's is one seed per input (jvp) or per output (vjp).
    Two positionals whose second is an index are ours, except where 0.5.2 would read a different
    derivative (``count == 2`` and an index other than 0): that call is refused as ambiguous."""
    what = "tangent" if kind == "jvp" else "cotangent"
    per = "input" if kind == "jvp" else "output"
    if len(positional) <= 1:
        return (positional[0] if positional else None), None
    if len(positional) == 2:  # ours: (seed, wrt_index), and a set has no order for either reading
        refuse_unordered(positional[1], "wrt")
    if len(positional) == 2 and _is_index_spec(positional[1], n_inputs):
        if positional[0] is not None and count == 2 and positional[1] != 0:
            raise GradgenTypeError(
                f"f.{kind}({what}, {positional[1]!r}) is ambiguous: gradgen reads the second argument as "
                f"wrt_index, gradgen 0.5.2 as the {what} of the second {per}; write "
                f"f.{kind}({what}, wrt_index={positional[1]!r}) or give the {what}s as floats"
            )
        return positional[0], positional[1]
    return list(positional), None


def renamed(
    kernel: Kernel, name: str | None = None, appended_inputs: Sequence[str] | None = None, first: int = 0
) -> Kernel:
    """``kernel`` with a new ``name`` and/or its input ports from ``first`` on renamed."""
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise FunctionDefinitionError(f"a function name must be a non-empty string, got {name!r}")
        kernel = attrs.evolve(kernel, name=name)
    if appended_inputs is not None:
        names = list(appended_inputs)
        ports = kernel.inputs[first:]
        if len(names) != len(ports):
            raise FunctionDefinitionError(
                f"expected {len(ports)} name(s) for the added inputs, got {len(names)}"
            )
        new = [attrs.evolve(p, name=n) for p, n in zip(ports, names, strict=True)]
        inputs = (*kernel.inputs[:first], *new)
        all_names = [p.name for p in inputs] + [p.name for p in kernel.outputs]
        for n in names:
            if not isinstance(n, str) or not n.strip():
                raise FunctionDefinitionError(f"an input name must be a non-empty string, got {n!r}")
            if all_names.count(n) > 1:
                raise FunctionDefinitionError(f"input name {n!r} is used more than once in {kernel.name!r}")
        kernel = attrs.evolve(kernel, inputs=inputs)
    return kernel
