"""The explicit pass pipelines, one per simplification level, and the pass registry.

Every pipeline is listed here, in order, one comment per pass:

==========  ====================================================================================
level       passes
==========  ====================================================================================
none        (construction-time exact folds and hash-consing only)
basic       simplify(basic, 2 rounds) -> cse
medium      simplify(medium, 2 rounds) -> cse
high        simplify(high, 3 rounds) -> cse
max         simplify(max, 4 rounds) -> cse
==========  ====================================================================================

Code generation (``gradgen.pipeline``) appends :func:`codegen_passes`: ``schedule``
(depth-first order from the outputs, a statement that is the last use of two or more values moved
up to its operands) -> ``allocate`` (chunks, locals and workspace slots by
liveness) -> the backend's naming pass it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from .allocate import DEFAULT_MAX_CHUNK, AllocatePass
from .cse import CSEPass
from .errors import UnknownPassError
from .levels import LEVELS, level_index
from .manager import Pass
from .schedule import SchedulePass
from .simplify import SimplifyPass

__all__ = [
    "LEVELS",
    "REGISTRY",
    "ROUNDS",
    "codegen_passes",
    "level_index",
    "passes_by_name",
    "simplification_passes",
]

#: simplification rounds per level (each round is one linear rebuild)
ROUNDS: dict[int, int] = {1: 2, 2: 2, 3: 3, 4: 4}


def simplification_passes(level: str | int) -> list[Pass]:
    n = level_index(level)
    if n == 0:
        return []
    return [SimplifyPass(n, ROUNDS[n]), CSEPass()]


def codegen_passes(sanitize: Pass | None = None, max_chunk: int = DEFAULT_MAX_CHUNK) -> list[Pass]:
    passes: list[Pass] = [SchedulePass(), AllocatePass(max_chunk)]
    if sanitize is not None:
        passes.append(sanitize)
    return passes


#: name -> factory for the dump tool's ``--passes a,b,c`` (explicit, no import-time registration)
REGISTRY: dict[str, Callable[[], Pass]] = {
    **{f"simplify-{LEVELS[n]}": partial(SimplifyPass, n, rounds) for n, rounds in ROUNDS.items()},
    "cse": CSEPass,
    "schedule": SchedulePass,
    "allocate": AllocatePass,
}


def passes_by_name(names: Sequence[str], extra: dict[str, Callable[[], Any]] | None = None) -> list[Pass]:
    table = dict(REGISTRY)
    if extra:
        table.update(extra)
    out: list[Pass] = []
    for name in names:
        factory = table.get(name)
        if factory is None:
            raise UnknownPassError(f"unknown pass {name!r}; registered passes: {', '.join(sorted(table))}")
        out.append(factory())
    return out
