"""Interning under threads: symbols, constants and hash-consed nodes stay unique when many threads
build the same expressions at once (with a tiny switch interval to force interleavings)."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import gradgen as gg
from gradgen import SX, Function
from gradgen.ir.expr import interned_count

THREADS = 8


@contextmanager
def tiny_switch_interval() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def run_threads(work: Callable[[int], list[SX]]) -> list[list[SX]]:
    """Run ``work(t)`` in THREADS threads started together; their results in thread order."""
    results: list[list[SX]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def body(t: int) -> None:
        try:
            start.wait()
            results[t] = work(t)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(t,)) for t in range(THREADS)]
    with tiny_switch_interval():
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert not errors, errors
    return results


def assert_same_objects(results: list[list[SX]]) -> None:
    first = results[0]
    for other in results[1:]:
        assert len(other) == len(first)
        split = [i for i, (a, b) in enumerate(zip(first, other, strict=True)) if a is not b]
        assert not split, f"{len(split)} nodes exist twice, e.g. {first[split[0]]}"


def test_symbols_are_unique_across_threads() -> None:
    names = [f"s{i}" for i in range(20_000)]
    results = run_threads(lambda t: [SX.sym(n) for n in (names if t % 2 else names[::-1])])
    for t in range(1, THREADS, 2):
        results[t] = results[t][::-1]
    assert_same_objects(results)
    # what went wrong before: a Function over one thread's symbols, outputs from another's
    xs, ys = results[0][:50], results[1][:50]
    f = Function("f", [gg.vector(xs)], [sum(y * y for y in ys)])
    assert list(f.gradient(0)([1.0] * 50)) == [2.0] * 50


def test_constants_and_operations_are_unique_across_threads() -> None:
    x, y = SX.sym("x"), SX.sym("y")

    def build(t: int) -> list[SX]:
        out = []
        for i in range(4_000):
            c = SX.const(0.5 + i)  # new constants
            e = (x * c + y) / (c - x)  # new operations on them
            out += [c, e, gg.sin(e) * y, e**3]
        return out if t % 2 else out[::-1]

    results = run_threads(build)
    for t in range(1, THREADS, 2):
        results[t] = results[t][::-1]
    assert_same_objects(results)


def test_nodes_freed_while_other_threads_rebuild_them() -> None:
    """Entries of freed nodes are removed while other threads create the same keys again: no
    duplicate, no lost entry, and the table is empty of them at the end."""
    gc.collect()
    before = interned_count()

    def churn(t: int) -> list[SX]:
        keep: list[SX] = []
        for round_ in range(40):
            batch = [SX.sym(f"churn{i}") * (i + 0.25) for i in range(300)]
            if round_ == 39:
                keep = batch
            del batch
        return keep

    results = run_threads(churn)
    assert_same_objects(results)
    for e in results[0]:
        assert SX.sym(e.args[0].name) * e.args[1] is e
    del results, e
    gc.collect()
    assert interned_count() == before
