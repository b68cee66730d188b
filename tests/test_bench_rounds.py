"""The benchmark's round-robin timing (``tests/benchmarks/rounds.py``) and how ``run.py`` turns
its loops into the reported figures, with fake timers: which slot runs when, and which medians
and spreads come out. Nothing here is timed."""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

import pytest

from tests.benchmarks import run
from tests.benchmarks.report import write_report
from tests.benchmarks.rounds import median, rotated, spread, time_round_robin


def test_rotated_starts_one_place_later_per_round() -> None:
    slots = ["a", "b", "c"]
    assert [rotated(slots, r) for r in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert rotated([], 3) == []


def test_every_slot_of_a_group_runs_once_per_round_in_rotated_order() -> None:
    calls: list[tuple[str, int]] = []

    def timer(slot: str, loops: int) -> list[float]:
        calls.append((slot, loops))
        return [float(len(calls))] * loops

    samples = time_round_robin([["a", "b", "c"], ["x", "y"]], rounds=3, loops=2, timer=timer)
    # group after group; within a group, round after round, each round rotated by one place
    assert "".join(s for s, _ in calls) == "abcbcacab" + "xyyxxy"
    assert {n for _, n in calls} == {2}
    # each call's figures appended to its slot's loops, in call order
    assert samples == {
        "a": [1.0, 1.0, 6.0, 6.0, 8.0, 8.0],
        "b": [2.0, 2.0, 4.0, 4.0, 9.0, 9.0],
        "c": [3.0, 3.0, 5.0, 5.0, 7.0, 7.0],
        "x": [10.0, 10.0, 13.0, 13.0, 14.0, 14.0],
        "y": [11.0, 11.0, 12.0, 12.0, 15.0, 15.0],
    }


def test_a_drift_hits_every_slot_alike() -> None:
    """A load that doubles every figure from the middle of the run on: timed one system after
    the other, the second system would look twice as slow; in rotated rounds both medians move
    the same way and their ratio stays the true one (1.5)."""
    cost = {"ours": 10.0, "peer": 15.0}
    clock = [0]

    def timer(slot: str, loops: int) -> list[float]:
        clock[0] += 1
        load = 2.0 if clock[0] > 4 else 1.0
        return [cost[slot] * load] * loops

    samples = time_round_robin([["ours", "peer"]], rounds=8, loops=3, timer=timer)
    ours, peer = samples["ours"], samples["peer"]
    assert ours is not None and peer is not None
    assert len(ours) == len(peer) == 24
    assert median(peer) / median(ours) == pytest.approx(1.5)


def test_a_failed_slot_is_not_timed_again() -> None:
    calls: list[str] = []

    def timer(slot: str, loops: int) -> list[float] | None:
        calls.append(slot)
        return None if slot == "bad" else [1.0] * loops

    samples = time_round_robin([["ok", "bad"]], rounds=3, loops=1, timer=timer)
    assert samples == {"ok": [1.0, 1.0, 1.0], "bad": None}
    assert calls.count("bad") == 1 and calls.count("ok") == 3


def test_spread_is_the_interquartile_range_over_the_median() -> None:
    assert spread([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(100.0 * 2.0 / 3.0)
    assert spread([7.0, 7.0, 7.0, 7.0]) == 0.0
    assert spread([7.0]) == 0.0
    # one preempted loop moves neither the median nor the spread much
    assert median([10.0] * 9 + [1000.0]) == 10.0
    assert spread([10.0] * 9 + [1000.0]) == 0.0


def _row(system: str, kernel: str = "grad") -> dict[str, Any]:
    return {
        "system": system,
        "problem": "rosenbrock",
        "n": 10,
        "kernel": kernel,
        "key": f"rosenbrock_10_{kernel}",
    }


def test_time_cases_interleaves_systems_and_reports_medians(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run.time_cases`` over fake harness loops: one group per (problem, n, kernel) holding each
    system's kernel and empty loop, the same calls per loop for all of them (from the slowest
    probe), and per row the median ns, harness ns, their difference and the spread."""
    calls: list[tuple[str, str, int, int]] = []
    true_ns = {
        ("ours", "rosenbrock_10_grad"): 20.0,
        ("ours", "rosenbrock_10_grad@harness"): 5.0,
        ("casadi", "rosenbrock_10_grad"): 25.0,
        ("casadi", "rosenbrock_10_grad@harness"): 4.0,
        ("ours", "rosenbrock_10_f"): 8.0,
        ("ours", "rosenbrock_10_f@harness"): 3.0,
    }

    def fake_loop(
        exe: pathlib.Path, key: str, d: pathlib.Path, iters: int, loops: int, out: str = "out.bin"
    ) -> list[float]:
        system = exe.name
        calls.append((system, key, iters, loops))
        assert out == ("empty.bin" if key.endswith("@harness") else "out.bin")
        # every fourth call of a slot preempted: an outlier the median ignores
        return [true_ns[(system, key)] * (3.0 if len(calls) % 4 == 0 else 1.0)] + [true_ns[(system, key)]] * (
            loops - 1
        )

    monkeypatch.setattr(run, "time_loop", fake_loop)
    ours, peer, ours_f = _row("ours"), _row("casadi"), _row("ours", "f")
    runs = [
        (pathlib.Path("ours"), ours, 40.0),
        (pathlib.Path("casadi"), peer, 50.0),
        (pathlib.Path("ours"), ours_f, 10.0),
    ]
    run.time_cases(runs, argparse.Namespace(quick=False))
    grad_calls = [c for c in calls if "grad" in c[1]]
    assert len(grad_calls) == 4 * run.ROUNDS and len(calls) == 6 * run.ROUNDS
    # the grad group is timed first, round by round, each round rotated
    first = [(s, k) for s, k, _, _ in grad_calls[:8]]
    assert first == [
        ("ours", "rosenbrock_10_grad"),
        ("ours", "rosenbrock_10_grad@harness"),
        ("casadi", "rosenbrock_10_grad"),
        ("casadi", "rosenbrock_10_grad@harness"),
        ("ours", "rosenbrock_10_grad@harness"),
        ("casadi", "rosenbrock_10_grad"),
        ("casadi", "rosenbrock_10_grad@harness"),
        ("ours", "rosenbrock_10_grad"),
    ]
    # 0.2 ms loops at the slowest probe (50 ns) for the whole group; 10 ns alone: 20000 calls
    assert {c[2] for c in grad_calls} == {4000}
    assert {c[2] for c in calls if "_f" in c[1]} == {20000}
    assert {c[3] for c in calls} == {run.LOOPS}
    assert ours["ns"] == 20.0 and ours["harness_ns"] == 5.0 and ours["kernel_ns"] == 15.0
    assert peer["ns"] == 25.0 and peer["harness_ns"] == 4.0 and peer["kernel_ns"] == 21.0
    assert ours_f["ns"] == 8.0 and ours_f["kernel_ns"] == 5.0
    assert ours["loops"] == run.ROUNDS * run.LOOPS and ours["iters"] == 4000
    assert ours["ns_spread"] == 0.0
    # the fastest loop of each slot: the preempted (3x) loops never count
    assert ours["ns_min"] == 20.0 and ours["kernel_ns_min"] == 15.0
    assert peer["ns_min"] == 25.0 and peer["kernel_ns_min"] == 21.0


def _report(rows: list[dict[str, Any]]) -> str:
    """The Markdown report of a run holding only ``rows``."""
    info = {"date": "today", "cpu": "cpu", "machine": "m", "quick": False, "total_s": 1.0}
    return write_report({"info": info, "rows": rows, "large": [], "floor": None, "fence": None})


def test_the_report_shows_spreads_and_ratios_against_both_casadi_builds() -> None:
    rows = []
    for system, ns, fast, spread_ in (
        ("ours", 9.0, 6.0, 2.5),
        ("casadi", 10.0, 5.0, 4.0),
        ("casadi_cse", 12.0, 8.0, 30.0),
    ):
        r = _row(system)
        r.update(status="ok", ns=ns, harness_ns=3.0, kernel_ns=ns - 3.0, ns_spread=spread_, iters=1000)
        r["ns_min"] = fast
        rows.append(r)
    md = _report(rows)
    assert "| ns/call | spread % | kernel ns |" in md
    assert "| 9 | 2.5 | 6 |" in md
    speed = md.split("## Kernel speed: ours / CasADi", 1)[1].split("##", 1)[0]
    assert (
        "| rosenbrock | 10 | grad | 9 (2.5) | 10 (4.0) | 0.9x | 0.86x | 1.2x "
        "| 12 (30.0) | 0.75x | 0.67x | 0.75x |" in speed
    )
    # the median wins, the fastest loop loses: each target is checked on both
    assert "kernel speed ours ≤ 1.0x CasADi (ns/call, harness included): met on all 1" in md
    assert "kernel speed ours ≤ 1.0x CasADi (fast mode: the fastest loop of each): **MISSED** on 1/1" in md


def test_the_staged_section_checks_medians_and_fast_mode_against_both_casadi_forms() -> None:
    rows = []
    for system, ns, fast in (("ours", 90.0, 80.0), ("casadi", 100.0, 70.0), ("casadi_loop", 200.0, 150.0)):
        r = {"system": system, "problem": "pendulum_staged", "n": 100, "kernel": "grad"}
        r.update(key="pendulum_staged_100_grad", status="ok", ns=ns, ns_min=fast, workspace=608)
        rows.append(r)
    md = _report(rows)
    staged = md.split("## Staged single shooting", 1)[1].split("\n## ", 1)[0]
    assert "| grad | 100 |" in staged and "| 0.9x | 0.45x | 1.1x | 0.53x |" in staged
    assert "- ns/call ours ≤ CasADi unrolled C: met (1 pairs)" in staged
    assert "- ns/call ours ≤ CasADi unrolled C (fast mode): **MISSED** on grad(100) 1.1x" in staged
    assert "- ns/call ours ≤ CasADi mapaccum (fast mode): met (1 pairs)" in staged
