"""Status codes of the C ABI name one argument whatever the function's size: the families are
``STATUS_SPACING`` apart, a function with more slices than that is refused with
``CAbiLimitError`` before anything is written, and ``gradgen.compile`` decodes a status with the
same table ``ffi.rs`` declares its constants from."""

from __future__ import annotations

import ctypes
import json
import math
import pathlib
import re

import pytest

import gradgen as gg
from gradgen import SX, CAbiLimitError, CodeGenerationBuilder, Function, KernelCallError
from gradgen.backends import ffi
from tests.cargo import cargo_env
from tests.wide import compile_unoptimised, wide_function

N_INPUTS = 1500  # more than the 1000 that the codes of a spacing of 1000 could number


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Function, gg.native_call.CompiledFunction]:
    f = wide_function("wide1500", N_INPUTS, lambda xs: xs[1200] * xs[3])
    return f, compile_unoptimised(f, tmp_path_factory.mktemp("wide1500-cache"))


def _arrays(
    c: gg.native_call.CompiledFunction, args: list[float]
) -> tuple[ctypes.Array[ctypes.c_void_p], ctypes.Array[ctypes.c_size_t], list[ctypes.Array[ctypes.c_double]]]:
    """Pointers and lengths of a correct call of ``c`` (and the buffers they point to)."""
    sig = c.signature
    buffers = [(ctypes.c_double * 1)(a) for a in args]
    buffers += [(ctypes.c_double * s.size)() for s in sig.outputs]
    buffers.append((ctypes.c_double * max(sig.workspace_size, 1))())
    n = ffi.slice_count(sig)
    pointers = (ctypes.c_void_p * n)(*(ctypes.addressof(b) for b in buffers))
    lengths = (ctypes.c_size_t * n)(*(s.size for s in sig.inputs + sig.outputs), sig.workspace_size)
    return pointers, lengths, buffers


def test_1500_inputs_compute_and_name_each_argument_in_their_status(
    wide: tuple[Function, gg.native_call.CompiledFunction],
) -> None:
    f, c = wide
    args = [0.5 * math.sin(i) for i in range(N_INPUTS)]
    s, p = c(*args)
    assert s == pytest.approx(math.fsum((i + 1) * a for i, a in enumerate(args)), rel=1e-12)
    assert p == args[1200] * args[3]
    assert (s, p) == tuple(f(*args))

    pointers, lengths, buffers = _arrays(c, args)
    n = ffi.slice_count(c.signature)
    assert c.c_array_function(pointers, lengths, n) == ffi.OK
    outputs = buffers[N_INPUTS : N_INPUTS + 2]
    for out in outputs:
        out[0] = 7.0
    cases = [
        # (slice, length, status, message)
        (1200, 2, 101_200, "rejected its input 'x1200': wrong length, expected 1 (status 101200)"),
        (N_INPUTS, 3, 200_000, "rejected its output 's': wrong length, expected 1 (status 200000)"),
        (N_INPUTS + 1, 0, 200_001, "rejected its output 'p': wrong length, expected 1 (status 200001)"),
    ]
    for k, length, status, message in cases:
        lengths[k] = length
        got = c.c_array_function(pointers, lengths, n)
        lengths[k] = 1
        assert got == status
        with pytest.raises(KernelCallError, match=re.escape(f"'wide1500' {message}")):
            c.raise_for_status(got)
    # null pointers: input 1200 and the workspace, the last slice
    for k, status, name in [(1200, 401_200, "x1200"), (n - 1, 400_000 + N_INPUTS + 2, "work")]:
        saved, lengths_k = pointers[k], lengths[k]
        pointers[k] = None
        lengths[k] = max(lengths_k, 1)
        got = c.c_array_function(pointers, lengths, n)
        pointers[k], lengths[k] = saved, lengths_k
        assert got == status
        message = f"'wide1500' got a null pointer for '{name}' (status {status})"
        with pytest.raises(KernelCallError, match=re.escape(message)):
            c.raise_for_status(got)
    assert [out[0] for out in outputs] == [7.0, 7.0]  # nothing written by a refused call


def test_the_decoder_reads_the_table_ffi_rs_declares() -> None:
    sig = ffi.FfiFunction("k", ["x", "y"], [1, 2], ["o"], [3], 4)
    text = ffi.render_ffi([sig], "f64")
    for code in ffi.STATUS_CODES:
        assert f"pub const {code.name}: i32 = {code.value:_};" in text
        if code.family is None:
            assert ffi.decode_status(code.value) == (code, None)
    assert f"pub const STATUS_SPACING: i32 = {ffi.STATUS_SPACING:_};" in text
    families = [c for c in ffi.STATUS_CODES if c.family is not None]
    assert [c.family for c in families] == ["input", "output", "slice"]
    # every index a function may have decodes to its own family: no two codes coincide
    seen: dict[int, tuple[str, int]] = {}
    singles = {c.value for c in ffi.STATUS_CODES if c.family is None}
    for code in families:
        for k in (0, 1, 999, 1000, 1200, ffi.MAX_SLICES - 1):
            status = code.value + k
            assert ffi.decode_status(status) == (code, k)
            assert status not in seen and status not in singles
            seen[status] = (code.name, k)
    assert ffi.decode_status(ffi.WORKSPACE_LENGTH + 1) is None
    assert ffi.decode_status(17) is None
    assert max(seen) < 2**31  # an i32


def test_the_largest_encodable_function_is_accepted_one_more_slice_is_refused(tmp_path: pathlib.Path) -> None:
    # MAX_SLICES slices: MAX_SLICES - 2 inputs, one output and the workspace
    names = [f"x{i}" for i in range(ffi.MAX_SLICES - 1)]
    ffi.check_slice_count("fits", ffi.MAX_SLICES - 2, 1)
    ffi.check_encodable([ffi.FfiFunction("fits", names[:-1], [1] * len(names[:-1]), ["y"], [1], 0)])
    message = (
        "has 100,001 slices (99,999 input(s), 1 output(s) and the workspace); its C ABI numbers at "
        "most 100,000 in its status codes (FAMILY + k with k < 100,000)"
    )
    with pytest.raises(CAbiLimitError, match=re.escape(f"function 'wide' {message}")):
        ffi.check_slice_count("wide", ffi.MAX_SLICES - 1, 1)
    xs = [SX.sym(n) for n in names]
    too_many = Function("many", xs, [xs[0] * xs[-1]], output_names=["y"])
    cache = tmp_path / "cache"
    with pytest.raises(CAbiLimitError, match=re.escape(f"function 'many' {message}")) as info:
        gg.compile(too_many, build_dir=cache, env=cargo_env())
    assert isinstance(info.value, ValueError) and isinstance(info.value, gg.GradgenError)
    assert not cache.exists()
    # the builder's crates carry the C ABI: refused before the crate is written
    with pytest.raises(CAbiLimitError, match=re.escape(f"function 'crate_many_f' {message}")):
        CodeGenerationBuilder().for_function(too_many).add_primal().done().build(tmp_path / "crate")
    assert not (tmp_path / "crate").exists()
    # a crate on disk whose metadata describes such a function: refused before the cache is touched
    crate = tmp_path / "handmade"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "handmade"\nversion = "0.1.0"\n')
    (crate / "src" / "lib.rs").write_text("//! handmade\n")
    sig = ffi.FfiFunction("handmade_many", names, [1] * len(names), ["y"], [1], 0)
    meta = {"crate": "handmade", "scalar_type": "f64", "functions": [sig.as_json()]}
    (crate / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(CAbiLimitError, match=re.escape(f"function 'handmade_many' {message}")):
        gg.compile(crate, build_dir=cache, env=cargo_env())
    assert not cache.exists()
