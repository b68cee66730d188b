"""Functions with many scalar inputs, built by ``gradgen.compile`` for the C ABI tests."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import gradgen as gg
from gradgen import SX, Function
from tests.cargo import cargo_env


def wide_function(name: str, n: int, second: Callable[[list[SX]], SX]) -> Function:
    """``name(x0, ..., x{n-1}) = (s, p)``: ``s = sum (i + 1) * x_i`` and ``p = second(xs)``."""
    xs = [SX.sym(f"x{i}") for i in range(n)]
    total = SX.const(0.0)
    for i, x in enumerate(xs):
        total = total + (i + 1) * x
    return Function(
        name, xs, [total, second(xs)], input_names=[f"x{i}" for i in range(n)], output_names=["s", "p"]
    )


def compile_unoptimised(f: Function, cache: pathlib.Path) -> gg.native_call.CompiledFunction:
    """``gradgen.compile(f)`` at opt-level 0: these tests check the C ABI, not speed, and LLVM
    spends minutes optimising C ABI functions of thousands of arguments."""
    return gg.compile(f, build_dir=cache, env={**cargo_env(), "CARGO_PROFILE_RELEASE_OPT_LEVEL": "0"})
