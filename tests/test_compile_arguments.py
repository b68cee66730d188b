"""``gradgen.compile`` of functions with more slices than ``ctypes`` passes as arguments (1024, that
is 511 inputs plus outputs): calls go through ``NAME_ffi_array``, which takes the slices' pointers
and lengths as two arrays."""

from __future__ import annotations

import ctypes
import math
import pathlib

import pytest

import gradgen as gg
from gradgen import SX, Function, KernelCallError
from gradgen.backends import ffi
from tests.cargo import cargo_env
from tests.wide import compile_unoptimised, wide_function

N_INPUTS = 520  # 520 inputs + 2 outputs + the workspace: 1,046 C arguments in NAME_ffi


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Function, gg.native_call.CompiledFunction]:
    f = wide_function("wide", N_INPUTS, lambda xs: gg.sin(xs[0]) * xs[-1])
    return f, compile_unoptimised(f, tmp_path_factory.mktemp("wide-cache"))


def test_more_than_511_inputs_plus_outputs(
    wide: tuple[Function, gg.native_call.CompiledFunction],
) -> None:
    f, c = wide
    assert 2 * ffi.slice_count(c.signature) > 1024
    args = [0.25 * i - 3.0 for i in range(N_INPUTS)]
    s, p = c(*args)
    exact = math.fsum((i + 1) * a for i, a in enumerate(args))
    assert s == pytest.approx(exact, rel=1e-12)
    assert p == math.sin(args[0]) * args[-1]
    assert (s, p) == tuple(f(*args))  # the Python evaluation: same operations, same rounding
    with pytest.raises(KernelCallError, match=rf"'wide' takes {N_INPUTS} argument\(s\)"):
        c(*args[:-1])
    with pytest.raises(
        KernelCallError, match=r"'wide' takes 1046 C arguments and ctypes passes at most 1024"
    ):
        c.c_function  # noqa: B018


def test_the_array_entry_point_checks_its_arrays(
    wide: tuple[Function, gg.native_call.CompiledFunction],
) -> None:
    _, c = wide
    n = ffi.slice_count(c.signature)
    pointers = (ctypes.c_void_p * n)()
    lengths = (ctypes.c_size_t * n)()
    status = c.c_array_function(pointers, lengths, n - 1)
    assert status == ffi.ARGUMENT_COUNT == -1
    with pytest.raises(KernelCallError, match=rf"rejected its argument arrays: expected {n} pointers"):
        c.raise_for_status(status)
    assert c.c_array_function(None, lengths, n) == ffi.ARGUMENT_COUNT
    # all null with nonzero lengths: the first slice is reported, nothing is written
    for k in range(n):
        lengths[k] = 1
    assert c.c_array_function(pointers, lengths, n) == ffi.NULL_POINTER


def test_small_functions_keep_the_per_argument_entry_point(tmp_path: pathlib.Path) -> None:
    x = SX.sym("x")
    f = Function("sq", [x], [x * x], input_names=["x"], output_names=["y"])
    c = gg.compile(f, build_dir=tmp_path, env=cargo_env())
    y = (ctypes.c_double * 1)()
    xin = (ctypes.c_double * 1)(3.0)
    work = (ctypes.c_double * 1)()
    assert c.c_function(ctypes.addressof(xin), 1, ctypes.addressof(y), 1, ctypes.addressof(work), 1) == 0
    assert y[0] == 9.0 == c(3.0)
