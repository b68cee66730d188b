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

from collections import Counter
from itertools import chain

import attrs

from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import LEAVES, Op

from .errors import InvalidLevelError
from .rewrite_builder import RewriteBuilder
from .simplify_rules import LEVEL_NAMES, Apply, rules_by_op

#: rule applications per instruction and round (the first one plus re-applications)
MAX_STEPS = 8

_CONST, _INPUT = Op.CONST, Op.INPUT


def _check_level(instance: SimplifyPass, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 4:
        raise InvalidLevelError(
            f"SimplifyPass level must be an integer 0-4 "
            f"({', '.join(f'{k}={v}' for k, v in LEVEL_NAMES.items())}), got {value!r}"
        )


#: the note on a simplified kernel: how many times each rule fired in the pass that made it
RULES_FIRED = "rules_fired"


@attrs.frozen
class SimplifyPass:
    """Applies the rules up to ``level`` for at most ``rounds`` rounds.

    The kernel :meth:`run` returns carries the ``"rules_fired"`` note, ``{rule name: count}``
    (empty when no rule fired), and the other notes of its input (the inputs and outputs keep
    their layout); when no rule fires the input kernel itself is returned, with that note set
    only if it had a stale non-empty one.
    """

    level: int = attrs.field(validator=_check_level)
    rounds: int = 1
    name: str = "simplify"

    def run(self, kernel: Kernel) -> Kernel:
        table = {
            op: tuple((rule.name, rule.apply) for rule in rules)
            for op, rules in rules_by_op(self.level).items()
        }
        fired: dict[str, int] = {}
        original = kernel
        for _ in range(max(1, self.rounds)):
            out, changed = _round(kernel, table, fired)
            if not changed:
                # no rule fired: every instruction was re-emitted as it was, which reproduces a
                # builder's kernel exactly, so the input itself is the result (and _round did
                # not finish its copy)
                kernel = kernel if out is None else out
                break
            assert out is not None
            kernel = out
        if kernel is original and not original.note(RULES_FIRED):
            return kernel
        if kernel is not original and original.notes:
            # the interface is unchanged, so what earlier passes noted about it still holds
            kernel = kernel.with_annotations(notes=original.notes)
        return kernel.with_note(RULES_FIRED, fired)


def _round(
    kernel: Kernel, table: dict[Op, tuple[tuple[str, Apply], ...]], fired: dict[str, int]
) -> tuple[Kernel | None, int]:
    """One rebuild of ``kernel`` with the rules applied (counted in ``fired``); the number of
    instructions a rule replaced. The rebuilt kernel is ``None`` when no rule fired and
    ``kernel`` is canonical: the rebuild would reproduce it exactly, so it is not finished."""
    readers = [0] * len(kernel.ops)  # reads of each value, by instructions and as a result
    for a in kernel.args:
        for x in a:
            readers[x] += 1
    for x, count in Counter(chain.from_iterable(kernel.results)).items():
        readers[x] += count  # (counted in C: an output may repeat a value a million times)
    b = RewriteBuilder()
    built = b.built
    new = [0] * len(kernel.ops)
    at = new.__getitem__
    changed = 0
    const, input_, emit = b.const, b.input, b.emit
    b_ops = b.ops
    for i, (op, a, attr) in enumerate(zip(kernel.ops, kernel.args, kernel.attrs, strict=True)):
        if op is _CONST:
            new[i] = const(attr)
        elif op is _INPUT:
            new[i] = input_(*attr)
        else:
            args = tuple(map(at, a))
            start = len(b_ops)
            out = _apply(table[op], b, op, args, attr, fired)
            if out is None:
                new[i] = out = emit(op, args, attr)
                built(start, out, readers[i], args)
                continue
            changed += 1
            for _step in range(MAX_STEPS - 1):
                if out < start or b_ops[out] in LEAVES:
                    break  # an existing value: it was simplified when it was built
                again = _apply(table[b_ops[out]], b, b_ops[out], b.args[out], b.attrs[out], fired)
                if again is None or again == out:
                    break
                out = again
            new[i] = out
            built(start, out, readers[i])
    if not changed and kernel.canonical:
        return None, 0
    results = [list(map(at, res)) for res in kernel.results]
    return b.finish(kernel.name, kernel.inputs, kernel.outputs, results), changed


def _apply(
    rules: tuple[tuple[str, Apply], ...],
    b: RewriteBuilder,
    op: Op,
    args: tuple[int, ...],
    attr: object,
    fired: dict[str, int],
) -> int | None:
    for name, apply in rules:
        out = apply(b, op, args, attr)
        if out is not None:
            fired[name] = fired.get(name, 0) + 1
            return out
    return None
