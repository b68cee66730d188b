"""The simplification pass: applies the named rewrite rules of ``passes.simplify_rules`` up to a
level, rebuilding the kernel through the hash-consing builder, for a bounded number of rounds
(each round is linear in the kernel size)."""

from __future__ import annotations

import attrs

from ir.kernel import Kernel, KernelBuilder
from ir.ops import Op

from .simplify_rules import rules_by_op


@attrs.define
class SimplifyPass:
    level: int
    rounds: int = 1
    name: str = "simplify"
    #: how many times each rule fired during the last run (for the dump tool's statistics)
    fired: dict[str, int] = attrs.field(factory=dict)

    def run(self, kernel: Kernel) -> Kernel:
        table = rules_by_op(self.level)
        self.fired = {}
        for _ in range(max(1, self.rounds)):
            b = KernelBuilder()
            new = [0] * len(kernel.ops)
            changed = 0
            for i, op in enumerate(kernel.ops):
                attr = kernel.attrs[i]
                if op is Op.CONST:
                    new[i] = b.const(attr)
                    continue
                if op is Op.INPUT:
                    new[i] = b.input(*attr)
                    continue
                args = tuple(new[a] for a in kernel.args[i])
                out = None
                for rule in table.get(op, ()):
                    out = rule.apply(b, op, args, attr)
                    if out is not None:
                        self.fired[rule.name] = self.fired.get(rule.name, 0) + 1
                        changed += 1
                        break
                new[i] = out if out is not None else b.emit(op, args, attr)
            kernel = b.finish(
                kernel.name, kernel.inputs, kernel.outputs,
                [[new[v] for v in res] for res in kernel.results],
            )
            if not changed:
                break
        return kernel
