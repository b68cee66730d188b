"""The simplification pass: applies the named rewrite rules of :mod:`passes.simplify_rules` up to a
level, rebuilding the kernel through the hash-consing builder.

One round visits every instruction once, in id order, with its arguments already simplified.
The first enabled rule that fires replaces the instruction; when the replacement is a freshly
built instruction, the rules are tried on it again, at most :data:`MAX_STEPS` times, so chains
such as ``x + (-x) -> x - x -> 0`` complete in one round. Work per instruction is therefore
bounded and a round is linear in the kernel size. A level runs a bounded number of rounds and
stops early once a round fires no rule.
"""

from __future__ import annotations

import attrs

from ir.errors import InvalidLevelError
from ir.kernel import Kernel, KernelBuilder
from ir.ops import LEAVES, Op

from .simplify_rules import LEVEL_NAMES, Rule, rules_by_op

#: rule applications per instruction and round (the first one plus re-applications)
MAX_STEPS = 8


def _check_level(instance: SimplifyPass, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 4:
        raise InvalidLevelError(
            f"SimplifyPass level must be an integer 0-4 "
            f"({', '.join(f'{k}={v}' for k, v in LEVEL_NAMES.items())}), got {value!r}"
        )


@attrs.define
class SimplifyPass:
    level: int = attrs.field(validator=_check_level)
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
                elif op is Op.INPUT:
                    new[i] = b.input(*attr)
                else:
                    args = tuple(new[a] for a in kernel.args[i])
                    start = len(b)
                    out = self._apply(table, b, op, args, attr)
                    if out is None:
                        new[i] = b.emit(op, args, attr)
                        continue
                    changed += 1
                    for _step in range(MAX_STEPS - 1):
                        if out < start or b.ops[out] in LEAVES:
                            break  # an existing value: it was simplified when it was built
                        again = self._apply(table, b, b.ops[out], b.args[out], b.attrs[out])
                        if again is None or again == out:
                            break
                        out = again
                    new[i] = out
            kernel = b.finish(
                kernel.name,
                kernel.inputs,
                kernel.outputs,
                [[new[v] for v in res] for res in kernel.results],
            )
            if not changed:
                break
        return kernel

    def _apply(
        self, table: dict[Op, tuple[Rule, ...]], b: KernelBuilder, op: Op, args: tuple[int, ...], attr: object
    ) -> int | None:
        for rule in table[op]:
            out = rule.apply(b, op, args, attr)
            if out is not None:
                self.fired[rule.name] = self.fired.get(rule.name, 0) + 1
                return out
        return None
