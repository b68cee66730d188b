"""The pass manager: runs an explicit list of passes, verifying the IR after each one.

A pass is any object with a ``name`` and ``run(kernel) -> kernel``; only a pass with a true
``accepts_staged`` attribute is given a staged kernel (:mod:`ir.staged`). The manager hands every
intermediate kernel to an optional callback (the dump tool's ``--print-ir-after-all`` and
``--time-passes``) and to every observer installed with :func:`observe_passes` (the benchmarks'
per-pass time table, which watches the pass managers that ``Function.gradient`` and
``generate_rust`` create), and logs one INFO line per pass on the ``gradgen.passes`` logger: its
position, name, wall time (verification excluded) and the op counts before and after it, with
``extra={"progress": (done, total)}`` for :mod:`gradgen.progress`.

:func:`run_module` runs one pipeline per kernel over a module of kernels that call each other
(:mod:`ir.staged`), callees first, so a caller's passes see its callees compiled.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Protocol

import attrs

from gradgen.ir.kernel import Kernel
from gradgen.ir.nogc import paused_gc
from gradgen.ir.staged import module_of, replace_callees
from gradgen.ir.verify import verify

from .errors import StagedKernelError

log = logging.getLogger("gradgen.passes")


class Pass(Protocol):
    @property
    def name(self) -> str: ...

    def run(self, kernel: Kernel) -> Kernel: ...


@attrs.frozen
class PassEvent:
    """What one pass did: the kernels before and after it, its wall time and the time spent
    verifying (``verify_seconds``: its output, and for the first pass also its input; 0 without
    verification)."""

    index: int
    name: str
    before: Kernel
    after: Kernel
    seconds: float
    verify_seconds: float = 0.0


PassCallback = Callable[[PassEvent], None]

_observers: ContextVar[tuple[PassCallback, ...]] = ContextVar("gradgen_pass_observers", default=())


@contextlib.contextmanager
def observe_passes(callback: PassCallback) -> Iterator[None]:
    """Within the ``with`` block, every pass manager (in this thread or task) also hands its
    events to ``callback``."""
    token = _observers.set((*_observers.get(), callback))
    try:
        yield
    finally:
        _observers.reset(token)


@attrs.define
class PassManager:
    passes: Sequence[Pass]
    verify_each: bool = True
    callback: PassCallback | None = None

    @paused_gc()
    def run(self, kernel: Kernel) -> Kernel:
        listeners = _observers.get()
        if self.callback is not None:
            listeners = (self.callback, *listeners)
        t0 = time.perf_counter()
        verified = verify(kernel, "lowering") if self.verify_each else None
        checking = time.perf_counter() - t0
        for index, p in enumerate(self.passes):
            if kernel.steps and not getattr(p, "accepts_staged", False):
                raise StagedKernelError(
                    f"pass {p.name!r} works on straight-line kernels and {kernel.name!r} is staged "
                    "(a loop over stages): use the staged function's own derivative methods, or "
                    "to_function() for the unrolled equivalent"
                )
            t0 = time.perf_counter()
            out = p.run(kernel)
            t1 = time.perf_counter()
            if self.verify_each:
                # what the pass left untouched is recognised by identity, not re-checked
                verified = verify(out, p.name, verified)
                checking += time.perf_counter() - t1
            seconds = t1 - t0
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "pass %d/%d %-15s %8.3f s  %7d -> %7d ops  kernel %s",
                    index + 1,
                    len(self.passes),
                    p.name,
                    seconds,
                    kernel.op_count(),
                    out.op_count(),
                    kernel.name,
                    extra={"progress": (index + 1, len(self.passes))},
                )
            if listeners:
                event = PassEvent(index, p.name, kernel, out, seconds, checking)
                for listener in listeners:
                    listener(event)
            checking = 0.0
            kernel = out
        return kernel


def run_module(
    kernels: Sequence[Kernel],
    pipeline: Callable[[Kernel], Sequence[Pass]],
    verify_each: bool = True,
    callback: PassCallback | None = None,
) -> list[Kernel]:
    """Compile ``kernels`` and every kernel they call: callees first (:func:`ir.staged.module_of`),
    each through ``pipeline(kernel)`` (called with the kernel as given), with each caller's
    calls pointing at its compiled callees. Returns the compiled ``kernels`` in order."""
    compiled: dict[int, Kernel] = {}
    for k in module_of(kernels):
        ready = replace_callees(k, compiled)
        compiled[id(k)] = PassManager(pipeline(k), verify_each, callback).run(ready)
    return [compiled[id(k)] for k in kernels]
