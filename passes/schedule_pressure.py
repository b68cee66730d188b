"""Fewer values live at once: a statement that is the last use of two or more values moves up.

The depth-first schedule (:mod:`passes.schedule`) computes a value just before its first
consumer, which keeps most live ranges short, but a statement whose operands are all ready long
before it is needed still waits for its turn. When it is the last use of two or more computed
values, computing it as soon as its operands are ready shortens their live ranges to that point
and starts its own one: one value (its result) is live instead of two or more, at every statement
between the two places. Nothing else moves, so no live range grows and the number of values live
across any statement never increases.

On the Hessian-vector product of the RK4 pendulum this is ``sin(th) * dth``, needed only by the
reverse sweep: computed in the forward sweep, its two operands die there, and the workspace of
the 100-stage kernel drops from 1,464 to 1,192 slots.

A statement no other statement reads (it only writes an output) moves up in the same way when it
is the last use of one computed value: it frees that value and starts nothing. Such a statement,
or one that frees two values, may also bring along an operand not computed yet when that operand
needs at most :data:`PULL_MAX` statements of its own, each read only by the next, over inputs,
constants and values already computed: they are computed and consumed right there, so they add
no live value either. On the reverse sweep of the pendulum gradient, ``grad_u[k] = w_k + u[k] *
0.02`` used to keep every ``w_k`` live to the end of the kernel (the depth-first order reaches
``u[k] * 0.02`` only after ``grad_u[k - 1]``); now each element is written as soon as its
``w_k`` is ready (``tests/benchmarks/KERNEL_SPEED.md``: 0.93x and 0.92x the time of the gradient
and HVP of pendulum(20)). An output written early no longer holds values crossing chunks before
its final write, so this can grow the workspace by a few slots (the pendulum(100) HVP: 1,093
instead of 1,092, against CasADi's 1,121); ``free_outputs=False`` leaves such statements in place
(for comparison). Keeping, per kernel, whichever order allocates the smaller workspace took a
second walk and two workspace counts: a quarter more build time on the pendulum(100) gradient and
HVP, for that one slot (``tests/benchmarks/KERNEL_SPEED.md``).

The pass is one walk over the given order keeping, for every value, the number of its readers not
yet emitted and the sum of their ids (the id of the last one when one remains). A statement is
looked at when its last operand is emitted while it is that operand's only reader left, or when an
operand comes down to it as its only reader (a sine or cosine never moves: it stays next to its
partner); looking at one visits its operands and at most
:data:`PULL_MAX` statements below them, so the work is linear in the kernel size.
"""

from __future__ import annotations

from gradgen.ir.kernel import Kernel
from gradgen.ir.ops import LEAVES, Op

#: the most statements a moved statement brings along for an operand not computed yet
PULL_MAX = 4
_TRIG = frozenset((Op.SIN, Op.COS))


def hoist_last_uses(kernel: Kernel, order: list[int], free_outputs: bool = True) -> list[int]:
    """``order`` (a topological order of the values it lists) with every statement that is the
    last use of two or more computed values (one, for a statement no other one reads, unless
    ``free_outputs`` is False) moved up to just after its last operand, with the few statements
    of an operand not computed yet."""
    ops, args = kernel.ops, kernel.args
    n = len(ops)
    remaining = [0] * n  # readers of a value not emitted yet
    user_sum = [0] * n  # the sum of their ids: the id of the last one when one remains
    for v in order:
        a = args[v]
        if len(a) == 2:
            x, y = a
            remaining[x] += 1
            user_sum[x] += v
            if y != x:
                remaining[y] += 1
                user_sum[y] += v
        elif a:
            for x in a if len(a) == 1 else dict.fromkeys(a):
                remaining[x] += 1
                user_sum[x] += v
    computed = [op not in LEAVES for op in ops]
    trig = bytearray(map(_TRIG.__contains__, ops))
    unread_frees = 1 if free_outputs else 2  # values a statement no other one reads must free
    emitted = bytearray(n)
    out: list[int] = []
    # computed values live now (emitted, a reader not emitted yet), and the most ``order`` has
    live = [0, _peak_live(kernel, order, remaining, computed)]

    def pending(x: int, found: list[int]) -> bool:
        """Appends to ``found`` the values ``x`` needs that are not emitted (post-order, leaves
        included): True when they are at most ``PULL_MAX`` statements each read only by the
        next one."""
        stack = [(x, False)]
        statements = sum(map(computed.__getitem__, found))
        while stack:
            v, ready = stack.pop()
            if emitted[v] or v in found:  # ``found`` holds at most 2 * PULL_MAX + 2 values
                continue
            if ready or not computed[v]:
                found.append(v)
                continue
            if remaining[v] != 1 or statements == PULL_MAX or trig[v]:
                return False  # (a sine or cosine stays next to its partner)
            statements += 1
            stack.append((v, True))
            stack.extend((a, False) for a in reversed(args[v]) if not emitted[a])
        return True

    def hoistable(w: int) -> list[int] | None:
        """The values to emit before ``w`` when it moves up now; None when it stays."""
        if emitted[w] or trig[w]:
            return None
        dying = 0
        brought: list[int] = []
        for x in dict.fromkeys(args[w]):
            if not emitted[x]:
                if not pending(x, brought):
                    return None
            elif computed[x]:
                if remaining[x] != 1:
                    return None
                dying += 1
        if dying < (2 if remaining[w] else unread_frees):
            return None
        # what is brought is live while it is computed: never more values than ``order`` has
        statements = sum(map(computed.__getitem__, brought))
        if live[0] + statements > live[1]:
            return None
        return brought

    def emit(v: int, checks: list[int]) -> None:
        # a statement becomes movable when its last operand is emitted while it is that
        # operand's only reader left, or when an operand comes down to it as its only reader
        emitted[v] = 1
        out.append(v)
        if remaining[v] == 1:
            checks.append(user_sum[v])
        now = live[0] + (computed[v] and remaining[v] > 0)
        a = args[v]
        for x in a if len(a) < 2 or (len(a) == 2 and a[0] != a[1]) else dict.fromkeys(a):
            r = remaining[x] - 1
            remaining[x] = r
            user_sum[x] -= v
            if r == 1 and computed[x]:
                checks.append(user_sum[x])
            elif r == 0 and computed[x]:
                now -= 1
        live[0] = now

    for i, v in enumerate(order):
        if emitted[v]:
            continue
        checks: list[int] = []
        emit(v, checks)
        if trig[v] and i + 1 < len(order):
            p = order[i + 1]  # the partner the schedule put next to it stays next to it
            if trig[p] and ops[p] is not ops[v] and args[p] == args[v] and not emitted[p]:
                emit(p, checks)
        while checks:
            w = checks.pop()
            brought = hoistable(w)
            if brought is not None:
                for x in brought:
                    emit(x, checks)
                emit(w, checks)
    return out


def peak_live(kernel: Kernel, order: list[int]) -> int:
    """The most computed values live at once in ``order`` (a topological order of values of
    ``kernel``; a value is live from its statement until its last reader)."""
    args = kernel.args
    readers = [0] * len(kernel.ops)
    for v in order:
        a = args[v]
        for x in a if len(a) < 2 or (len(a) == 2 and a[0] != a[1]) else dict.fromkeys(a):
            readers[x] += 1
    return _peak_live(kernel, order, readers, [op not in LEAVES for op in kernel.ops])


def _peak_live(kernel: Kernel, order: list[int], readers: list[int], computed: list[bool]) -> int:
    """The most computed values live at once in ``order`` (a value is live from its statement
    until its last reader; ``readers``: the number of readers of each value)."""
    args = kernel.args
    left = list(readers)
    live = peak = 0
    for v in order:
        if computed[v] and left[v]:
            live += 1
        a = args[v]
        for x in a if len(a) < 2 or (len(a) == 2 and a[0] != a[1]) else dict.fromkeys(a):
            left[x] -= 1
            if not left[x] and computed[x]:
                live -= 1
        if live > peak:
            peak = live
    return peak
