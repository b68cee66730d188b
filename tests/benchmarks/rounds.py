"""Round-robin timing: the systems' runs of one case interleaved, so that load drift hits them alike.

On a shared machine the load changes over seconds. Timing one system's case in one block and
the next system's afterwards lets a busy second land on one side only, and the ratio between
the systems moves with it. Here each group (one problem, size and kernel) is timed in
``rounds`` rounds; in each round every slot of the group (each system's kernel and its
empty-function harness loop) runs ``loops`` short loops, the slots in an order rotated by one
place per round, so no slot is always first or always last. A slot's figure is the median
over all its loops; :func:`spread` is their interquartile range as a percentage of that
median, which the report prints so a reader sees the noise behind each figure.

On this kind of machine (a virtual machine sharing its host) the noise is not only outliers: a
process, or a stretch of loops, runs either in a fast mode or in a slow one about 1.5-1.8x slower
(the same binary timed twice in a row gives both), and the share of slow loops differs from slot to
slot. A median then mixes the two modes in proportions that move ratios between systems by tens of
percent from one run to the next. The fastest loop of a slot is its fast-mode time: noise only ever
adds time, and on an otherwise idle machine each slot reaches the fast mode within a few hundred
short loops, so that figure repeats to about 1 % between runs. (The slow mode follows the load of
the machine's other virtual CPU: under sustained load a slot may never reach the fast mode, and
then its fastest loop is as noisy as its median.) The report shows both: the median (what a
caller sees on a busy machine) and the fastest loop (what the code costs), and checks the speed
targets on each.

The timer is a parameter: ``run.py`` passes one that runs the native harness, the unit tests
one that records the calls and returns made-up figures.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def rotated(slots: Sequence[K], r: int) -> list[K]:
    """``slots`` started at place ``r`` (modulo their number) and wrapped around."""
    if not slots:
        return []
    k = r % len(slots)
    return [*slots[k:], *slots[:k]]


def time_round_robin(
    groups: Sequence[Sequence[K]],
    rounds: int,
    loops: int,
    timer: Callable[[K, int], list[float] | None],
) -> dict[K, list[float] | None]:
    """Every loop's ns/call per slot: group after group, ``rounds`` rounds each, every slot of the
    group timed once per round by ``timer(slot, loops)`` (its figures per loop, or ``None`` if it
    failed: the slot is then ``None`` and not timed again)."""
    samples: dict[K, list[float] | None] = {}
    for group in groups:
        for slot in group:
            samples[slot] = []
        for r in range(rounds):
            for slot in rotated(group, r):
                got = samples[slot]
                if got is None:
                    continue
                figures = timer(slot, loops)
                samples[slot] = None if figures is None else got + list(figures)
    return samples


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float:
    """Interquartile range of ``values`` as a percentage of their median (0 for fewer than 2)."""
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    mid = median(values)
    return 100.0 * (q3 - q1) / mid if mid else 0.0
