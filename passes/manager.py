"""The pass manager: runs an explicit list of passes, verifying the IR after each one.

A pass is any object with a ``name`` and ``run(kernel) -> kernel``; only a pass with a true
``accepts_staged`` attribute is given a staged kernel (:mod:`ir.staged`). The manager hands every
intermediate kernel to an optional callback (the dump tool's ``--print-ir-after-all`` and
``--time-passes``) and logs one INFO line per pass on the ``gradgen.passes`` logger: its position,
name, wall time (verification excluded) and the op counts before and after it, with
``extra={"progress": (done, total)}`` for :mod:`gradgen.progress`.

:func:`run_module` runs one pipeline per kernel over a module of kernels that call each other
(:mod:`ir.staged`), callees first, so a caller's passes see its callees compiled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
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
    """What one pass did: the kernels before and after it and its wall time."""

    index: int
    name: str
    before: Kernel
    after: Kernel
    seconds: float


PassCallback = Callable[[PassEvent], None]


@attrs.define
class PassManager:
    passes: Sequence[Pass]
    verify_each: bool = True
    callback: PassCallback | None = None

    @paused_gc()
    def run(self, kernel: Kernel) -> Kernel:
        verified = verify(kernel, "lowering") if self.verify_each else None
        for index, p in enumerate(self.passes):
            if kernel.steps and not getattr(p, "accepts_staged", False):
                raise StagedKernelError(
                    f"pass {p.name!r} works on straight-line kernels and {kernel.name!r} is staged "
                    "(a loop over stages): use the staged function's own derivative methods, or "
                    "to_function() for the unrolled equivalent"
                )
            t0 = time.perf_counter()
            out = p.run(kernel)
            seconds = time.perf_counter() - t0
            if self.verify_each:
                # what the pass left untouched is recognised by identity, not re-checked
                verified = verify(out, p.name, verified)
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
            if self.callback is not None:
                self.callback(PassEvent(index, p.name, kernel, out, seconds))
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
