"""Pausing Python's cyclic garbage collector while gradgen builds.

The compiler's data holds no reference cycles that could become garbage: kernels are lists of
ints, tuples and floats, and ``SX`` nodes are interned through weak references. While a large
expression is lowered, transformed or printed, the cyclic collector therefore frees nothing, yet
each of its full collections scans every live object -- the whole expression graph -- and on
graphs of 10^6 nodes those scans took most of the build time. :func:`paused_gc` disables the
collector for the duration of a build step and restores the previous state on exit, even when
the step raises. Memory is still released by reference counting as usual; cycles that the
caller's own code creates are collected at the first collection after the step. The
construction of the user's ``SX`` expressions happens outside gradgen's calls and is not
affected.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic GC inside the block (also usable as a decorator); nests freely."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
