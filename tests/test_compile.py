"""``gradgen.compile``: generated kernels built as a shared library (C ABI feature ``ffi``) and
called from Python through ctypes, compared with the Python evaluation of the same Functions.

Crates are built once per module (builds share the test target dir through ``cargo_env``): one
builder crate with a kernel of every kind (f64, std), one ``no_std`` f32 crate, and a few small
ones for the cache and error paths.
"""

from __future__ import annotations

import json
import math
import pathlib
import random
import struct
import threading

import numpy as np
import pytest

import gradgen as gg
from gradgen import (
    SX,
    BuildError,
    CodeGenerationBuilder,
    ConfigError,
    Function,
    FunctionBundle,
    GradgenTypeError,
    KernelCallError,
    RustBackendConfig,
    SXVector,
)
from gradgen.backends.crate import write_crate
from gradgen.backends.ffi import FfiFunction, render_ffi
from gradgen.backends.metadata import metadata_json
from gradgen.native_call import CompiledCrate, CompiledFunction
from tests.cargo import cargo, cargo_env, rustfmt_check

N_POINTS = 40
#: its gradient is split into chunks and needs a workspace: each step scales the running sum,
#: and the reverse sweep reads back more of those values than its outputs can hold
ROSEN_N = 260


def energy() -> Function:
    x = SXVector.sym("x", 3)
    u = SX.sym("u")
    e = x.norm2sq() + u * gg.sin(x[0]) + x[1] * x[2] + gg.exp(u * x[2]) / (1 + x[0] * x[0])
    return Function("energy", [x, u], [e], input_names=["x", "u"], output_names=["e"])


def field() -> Function:
    y = SXVector.sym("y", 2)
    r = SXVector([gg.exp(y[0]) * y[1], y[0] - gg.cos(y[1]), gg.atan2(y[0], 1 + y[1] * y[1])])
    return Function("field", [y], [r], input_names=["y"], output_names=["r"])


def rosen() -> Function:
    z = SXVector.sym("z", ROSEN_N)
    total = SX.const(0.0)
    for i in range(ROSEN_N - 1):
        total = total * (1 + 0.01 * z[i]) + (1 - z[i]) ** 2 + 100 * (z[i + 1] - z[i] ** 2) ** 2
    return Function("rosen", [z], [total], input_names=["z"], output_names=["r"])


F, G, R = energy(), field(), rosen()

#: Rust name in the builder crate -> the Function whose Python evaluation is the reference
REFERENCES: dict[str, Function] = {
    "calls_energy_f": F,
    "calls_energy_grad_x": F.gradient(0),
    "calls_energy_grad_u": F.gradient(1),
    "calls_energy_hessian_x": F.hessian(0),
    "calls_energy_hvp_x": F.hvp(0),
    "calls_field_f": G,
    "calls_field_jf": G.jacobian(0),
    "calls_field_vjp": G.vjp(),
    "calls_rosen_grad": R.gradient(0),
}


def builder() -> CodeGenerationBuilder:
    return (
        CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_crate_name("calls"))
        .for_function(F)
        .add_primal()
        .add_gradient()
        .add_hessian(wrt=0)
        .add_hvp(wrt=0)
        .add_joint(FunctionBundle().add_f().add_gradient(wrt=0).add_hvp(wrt=0))
        .done()
        .for_function(G)
        .add_primal()
        .add_jacobian()
        .add_vjp()
        .done()
        .for_function(R)
        .add_gradient()
        .done()
    )


def points(f: Function, rng: random.Random, count: int = N_POINTS) -> list[list[list[float]]]:
    return [[[rng.uniform(-1.5, 1.5) for _ in range(n)] for n in f.input_sizes] for _ in range(count)]


def as_lists(value: object, n_outputs: int) -> list[list[float]]:
    values = list(value) if n_outputs > 1 else [value]  # type: ignore[call-overload]
    return [[float(v)] if isinstance(v, (float, np.floating)) else [float(t) for t in v] for v in values]


def close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)


def to_f32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("gradgen-cache")


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return cargo_env()


@pytest.fixture(scope="module")
def calls(cache: pathlib.Path, env: dict[str, str]) -> CompiledCrate:
    return gg.compile(builder(), build_dir=cache, env=env)


@pytest.fixture(scope="module")
def small_f32(cache: pathlib.Path, env: dict[str, str]) -> CompiledCrate:
    config = (
        RustBackendConfig().with_backend_mode("no_std").with_scalar_type("f32").with_crate_name("small32")
    )
    b = (
        CodeGenerationBuilder()
        .with_backend_config(config)
        .for_function(F)
        .add_primal()
        .add_gradient(wrt=0)
        .add_hvp(wrt=0)
        .done()
        .for_function(G)
        .add_jacobian()
        .done()
    )
    return gg.compile(b, build_dir=cache, env=env)


# ---- every kind of kernel ------------------------------------------------------------------------
def test_crate_has_every_kernel(calls: CompiledCrate) -> None:
    assert set(REFERENCES) | {"calls_energy_f_grad_x_hvp_x"} == set(calls)
    assert calls.library.built and calls.library.path.is_file()
    assert calls["calls_rosen_grad"].workspace_size > 0
    assert calls.calls_energy_hvp_x.input_names == ("x", "u", "v_x")
    assert calls.calls_field_vjp.input_sizes == (2, 3) and calls.calls_field_vjp.output_sizes == (2,)
    assert repr(calls.calls_energy_f) == "<compiled f64 kernel calls_energy_f(x[3], u[1]) -> (e[1])>"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_kernel_matches_python(calls: CompiledCrate, name: str) -> None:
    kernel, ref = calls[name], REFERENCES[name]
    assert kernel.input_sizes == ref.input_sizes and kernel.output_sizes == ref.output_sizes
    rng = random.Random(name)
    n_out = len(ref.output_sizes)
    for args in points(ref, rng, 8 if name == "calls_rosen_grad" else N_POINTS):
        got = as_lists(kernel(*args), n_out)
        want = as_lists(ref(*args), n_out)
        for g, w in zip(got, want, strict=False):
            assert len(g) == len(w)
            assert all(close(a, b, 1e-12) for a, b in zip(g, w, strict=False)), (name, args, g, w)


def test_joint_kernel_matches_separate_references(calls: CompiledCrate) -> None:
    joint = calls.calls_energy_f_grad_x_hvp_x
    rng = random.Random(3)
    for x, (u,), v in points(REFERENCES["calls_energy_hvp_x"], rng):
        e, grad, hv = joint(x, u, v)
        assert isinstance(e, float) and isinstance(grad, list) and len(hv) == 3
        assert close(e, F(x, u), 1e-12)
        assert all(close(a, b, 1e-12) for a, b in zip(grad, F.gradient(0)(x, u), strict=False))
        assert all(close(a, b, 1e-12) for a, b in zip(hv, F.hvp(0)(x, u, v), strict=False))


def test_gradient_matches_finite_differences(calls: CompiledCrate) -> None:
    x, u, h = [0.3, -0.7, 1.1], 0.4, 1e-6
    grad = calls.calls_energy_grad_x(x, u)
    for i in range(3):
        xp, xm = list(x), list(x)
        xp[i] += h
        xm[i] -= h
        fd = (calls.calls_energy_f(xp, u) - calls.calls_energy_f(xm, u)) / (2 * h)
        assert math.isclose(grad[i], fd, rel_tol=1e-6, abs_tol=1e-8)


def test_scalar_and_vector_results(calls: CompiledCrate) -> None:
    e = calls.calls_energy_f([1.0, 2.0, -0.5], 3.0)
    assert isinstance(e, float)
    assert e == calls.calls_energy_f((1.0, 2.0, -0.5), [3.0]) == calls.calls_energy_f([1, 2, -0.5], 3)
    jac = calls.calls_field_jf([0.5, -0.25])
    assert isinstance(jac, list) and len(jac) == 6


def test_numpy_in_numpy_out(calls: CompiledCrate) -> None:
    x = np.array([0.2, -1.0, 0.7])
    grad = calls.calls_energy_grad_x(x, 0.5)
    assert isinstance(grad, np.ndarray) and grad.dtype == np.float64 and grad.shape == (3,)
    assert grad.tolist() == calls.calls_energy_grad_x(x.tolist(), 0.5)
    e = calls.calls_energy_f(x, np.float64(0.5))
    assert isinstance(e, np.float64) and e == calls.calls_energy_f(x.tolist(), 0.5)
    # integer and strided arrays are converted
    strided = np.array([0.2, 9.0, -1.0, 9.0, 0.7])[::2]
    assert calls.calls_energy_grad_x(strided, 0.5).tolist() == grad.tolist()
    assert calls.calls_field_f(np.array([1, 2])).tolist() == calls.calls_field_f([1.0, 2.0])
    assert calls.calls_energy_f(x, np.array(0.5)) == e  # a 0-d array is a scalar


def test_workspace_is_allocated_once_and_reused(calls: CompiledCrate) -> None:
    k = calls.calls_rosen_grad
    work = k._work
    z = [0.02 * i - 3.0 for i in range(ROSEN_N)]
    first = k(z)
    assert k(z) == first and k._work is work
    assert first == REFERENCES["calls_rosen_grad"](z)


def test_calls_from_several_threads(calls: CompiledCrate) -> None:
    k = calls.calls_rosen_grad
    rng = random.Random(7)
    inputs = [[rng.uniform(-2, 2) for _ in range(ROSEN_N)] for _ in range(4)]
    expected = [k(z) for z in inputs]
    results: dict[int, list[list[float]]] = {}

    def worker(i: int) -> None:
        results[i] = [k(inputs[i]) for _ in range(25)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert all(r == expected[i] for r in results[i])


# ---- f32 and no_std ------------------------------------------------------------------------------
def test_f32_no_std_kernels_convert_values(small_f32: CompiledCrate) -> None:
    refs = {
        "small32_energy_f": F,
        "small32_energy_grad_x": F.gradient(0),
        "small32_energy_hvp_x": F.hvp(0),
        "small32_field_jf": G.jacobian(0),
    }
    assert set(small_f32) == set(refs)
    rng = random.Random(32)
    for name, ref in refs.items():
        k = small_f32[name]
        assert k.scalar_type == "f32"
        for args in points(ref, rng):
            rounded = [[to_f32(v) for v in a] for a in args]
            got = as_lists(k(*args), len(ref.output_sizes))
            want = as_lists(ref(*rounded), len(ref.output_sizes))
            for g, w in zip(got, want, strict=False):
                assert all(v == to_f32(v) for v in g)  # f32 values, widened exactly
                assert all(close(a, b, 2e-5 * max(1.0, abs(b))) for a, b in zip(g, w, strict=False)), (
                    name,
                    args,
                    g,
                    w,
                )
    arr = small_f32.small32_energy_grad_x(np.array([0.1, 0.2, 0.3]), 0.5)
    assert arr.dtype == np.float32
    big = small_f32.small32_energy_grad_x([0.0, 1e39, 0.0], 0.0)  # 1e39 is beyond f32: inf
    assert big[1:] == [math.inf, math.inf] and big[1:] == F.gradient(0)([0.0, math.inf, 0.0], 0.0)[1:]


def test_no_std_crate_keeps_its_guarantees(small_f32: CompiledCrate, env: dict[str, str]) -> None:
    crate = small_f32.library.crate_dir
    lib = (crate / "src" / "lib.rs").read_text()
    ffi_rs = (crate / "src" / "ffi.rs").read_text()
    assert "#![no_std]" in lib and "unsafe" not in lib.replace("unsafe_code", "")
    assert '#![cfg_attr(not(feature = "ffi"), forbid(unsafe_code))]' in lib
    assert '#![cfg_attr(feature = "ffi", deny(unsafe_code))]' in lib
    assert "[features]\nffi = []\n" in (crate / "Cargo.toml").read_text()
    assert 'pub unsafe extern "C" fn small32_energy_grad_x_ffi(' in ffi_rs
    assert "std::" not in ffi_rs and "panic" not in ffi_rs
    assert rustfmt_check(lib) is None and rustfmt_check(ffi_rs) is None
    for features in ([], ["--features", "ffi"]):
        build = cargo(["build", "--release", *features], crate)
        assert "warning" not in build.stderr, build.stderr
        cargo(["clippy", "--release", *features, "--", "-D", "warnings"], crate)


def test_std_crate_lints_clean_with_and_without_ffi(calls: CompiledCrate) -> None:
    crate = calls.library.crate_dir
    assert rustfmt_check((crate / "src" / "ffi.rs").read_text()) is None
    assert rustfmt_check((crate / "src" / "lib.rs").read_text()) is None
    for features in ([], ["--features", "ffi"]):
        cargo(["clippy", "--release", *features, "--", "-D", "warnings"], crate)


def test_ffi_source_is_rustfmt_clean_for_long_names() -> None:
    long_in = "a_rather_long_argument_name_for_layout"
    fns = [
        FfiFunction("k", ("x",), (1,), ("y",), (1,), 0),
        FfiFunction(
            "a_quite_long_function_name_to_force_breaks",
            (long_in, "x", "x_len"),
            (2, 1, 1),
            ("the_output_with_a_long_long_name",),
            (3,),
            4,
        ),
        FfiFunction("no_inputs", (), (), ("y",), (2,), 0),
    ]
    for scalar in ("f64", "f32"):
        source = render_ffi(fns, scalar)
        assert rustfmt_check(source) is None
        # a length name never collides with an argument
        assert (
            "x: *const SCALAR,\n    x_len_1: usize,\n"
            "    x_len: *const SCALAR,\n    x_len_len: usize,".replace("SCALAR", scalar)
            in source
        )


# ---- the cache -----------------------------------------------------------------------------------
def test_compile_function_twice_hits_the_cache(tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    x = SX.sym("x")
    f = Function("square_plus_one", [x], [x * x + 1], input_names=["x"], output_names=["y"])
    first = gg.compile(f, build_dir=tmp_path, env=env)
    assert isinstance(first, CompiledFunction) and first.library.built
    mtime = first.library.path.stat().st_mtime_ns
    second = gg.compile(f, build_dir=tmp_path, env=env)
    assert not second.library.built
    assert second.library.path == first.library.path and second.library.path.stat().st_mtime_ns == mtime
    assert first(3.0) == second(3.0) == 10.0
    # another configuration is another entry
    named = gg.compile(
        f, config=RustBackendConfig().with_function_name("eval_kernel"), build_dir=tmp_path, env=env
    )
    assert named.library.built and named.name == "eval_kernel" and named(-2.0) == 5.0
    assert named.library.entry != first.library.entry
    entries = sorted(p.name for p in tmp_path.iterdir() if (p / "build.json").is_file())
    assert len(entries) == 2


def test_compile_crate_path(
    calls: CompiledCrate, tmp_path: pathlib.Path, cache: pathlib.Path, env: dict[str, str]
) -> None:
    project = builder().build(tmp_path / "calls")
    from_path = gg.compile(project.project_dir, build_dir=cache, env=env)
    assert set(from_path) == set(calls)
    again = gg.compile(str(project.project_dir), build_dir=cache, env=env)
    assert from_path.library.built and not again.library.built
    assert not (project.project_dir / "target").exists()  # the user's crate is not touched
    rng = random.Random(11)
    for name in ("calls_energy_hvp_x", "calls_field_vjp"):
        for args in points(REFERENCES[name], rng, 10):
            assert as_lists(from_path[name](*args), 1) == as_lists(calls[name](*args), 1)


def test_compile_create_rust_project_path(
    tmp_path: pathlib.Path, cache: pathlib.Path, env: dict[str, str]
) -> None:
    """A crate written by ``create_rust_project`` (with its metadata.json and its self-tests, and
    its function described in its Cargo.toml too) compiles from its path."""
    project = F.create_rust_project(tmp_path / "plain", crate_name="plain")
    assert sorted(p.name for p in project.project_dir.iterdir()) == [
        "Cargo.toml",
        "README.md",
        "metadata.json",
        "src",
        "tests",
    ]
    lib = gg.compile(project.project_dir, build_dir=cache, env=env)
    (name,) = list(lib)
    assert name == project.function_name
    rng = random.Random(5)
    for args in points(F, rng, 10):
        got, want = as_lists(lib[name](*args), len(F.output_names)), as_lists(F(*args), len(F.output_names))
        for g, w in zip(got, want, strict=True):
            assert g == pytest.approx(w, rel=1e-13, abs=1e-13)


def test_write_crate_with_the_ffi_feature(
    tmp_path: pathlib.Path, cache: pathlib.Path, env: dict[str, str]
) -> None:
    """A crate written with ``write_crate(..., ffi_source=...)`` carries the feature itself: it
    lints clean with and without it, and compile() builds exactly those files."""
    config = RustBackendConfig().with_backend_mode("no_std").with_crate_name("own_ffi")
    crate = CodeGenerationBuilder(G).with_backend_config(config).add_primal().add_vjp().generate("own_ffi")
    fns = [
        FfiFunction(f.name, f.input_names, f.input_sizes, f.output_names, f.output_sizes, f.workspace_size)
        for f in crate.functions
    ]
    root = tmp_path / "own_ffi"
    write_crate(root, "own_ffi", crate.source, list(crate.function_names), True, render_ffi(fns, "f64"))
    (root / "metadata.json").write_text(metadata_json(crate.metadata))
    assert "`ffi`" in (root / "README.md").read_text()
    for features in ([], ["--features", "ffi"]):
        cargo(["clippy", "--release", *features, "--", "-D", "warnings"], root)
    compiled = gg.compile(root, build_dir=cache, env=env)
    for rel in ("Cargo.toml", "src/lib.rs", "src/ffi.rs"):
        assert (compiled.library.crate_dir / rel).read_text() == (root / rel).read_text(), rel
    y, cot = [0.3, -1.2], [1.0, -2.0, 0.5]
    assert compiled.own_ffi_field_vjp(y, cot) == G.vjp()(y, cot)
    assert compiled.own_ffi_field_f(y) == G(y)


# ---- errors ----------------------------------------------------------------------------------------
def test_wrong_arguments_raise_before_the_call(calls: CompiledCrate) -> None:
    k = calls.calls_energy_hvp_x
    with pytest.raises(
        KernelCallError, match=r"'calls_energy_hvp_x' takes 3 argument\(s\) \(x, u, v_x\), got 2"
    ):
        k([1.0, 2.0, 3.0], 1.0)
    with pytest.raises(
        KernelCallError, match="argument 'v_x' of 'calls_energy_hvp_x' has length 2, expected 3"
    ):
        k([1.0, 2.0, 3.0], 1.0, [1.0, 2.0])
    with pytest.raises(
        KernelCallError, match="argument 'x' of 'calls_energy_hvp_x' has length 4, expected 3"
    ):
        k(np.zeros(4), 1.0, np.zeros(3))
    with pytest.raises(
        KernelCallError, match="argument 'u' of 'calls_energy_hvp_x' has length 2, expected 1"
    ):
        k([1.0, 2.0, 3.0], [1.0, 2.0], [0.0, 0.0, 0.0])
    with pytest.raises(
        KernelCallError,
        match=r"argument 'x' .* must be a sequence of 3 numbers, got an array of shape \(3, 1\)",
    ):
        k(np.zeros((3, 1)), 1.0, np.zeros(3))
    with pytest.raises(
        KernelCallError, match="argument 'u' of 'calls_energy_hvp_x' must be a number, got 'one'"
    ):
        k([1.0, 2.0, 3.0], "one", [0.0, 0.0, 0.0])
    with pytest.raises(
        KernelCallError, match=r"argument 'x' .* must be a sequence of 3 numbers, got \[1.0, None, 3.0\]"
    ):
        k([1.0, None, 3.0], 1.0, [0.0, 0.0, 0.0])
    with pytest.raises(KernelCallError, match="the crate 'calls' has no function 'calls_nope'"):
        _ = calls.calls_nope
    assert isinstance(KernelCallError("x"), ValueError)


def test_status_codes_from_rust_are_mapped(calls: CompiledCrate) -> None:
    k = calls.calls_rosen_grad
    n, ws = ROSEN_N, k.workspace_size
    z = np.linspace(-1.0, 1.0, n)
    out = np.zeros(n)
    work = np.zeros(ws)
    raw = k.c_function
    ok = raw(z.ctypes.data, n, out.ctypes.data, n, work.ctypes.data, ws)
    assert ok == 0 and out.tolist() == k(z.tolist())
    cases = [
        (
            (z.ctypes.data, n - 1, out.ctypes.data, n, work.ctypes.data, ws),
            100_000,
            "'calls_rosen_grad' rejected its input 'z': wrong length, expected 260 (status 100000)",
        ),
        (
            (z.ctypes.data, n, out.ctypes.data, n + 1, work.ctypes.data, ws),
            200_000,
            "'calls_rosen_grad' rejected its output 'grad_z': wrong length, expected 260 (status 200000)",
        ),
        (
            (z.ctypes.data, n, out.ctypes.data, n, work.ctypes.data, ws - 1),
            300_000,
            f"'calls_rosen_grad' rejected its workspace: expected at least {ws} (status 300000)",
        ),
        (
            (None, n, out.ctypes.data, n, work.ctypes.data, ws),
            400_000,
            "'calls_rosen_grad' got a null pointer for 'z' (status 400000)",
        ),
        (
            (z.ctypes.data, n, out.ctypes.data, n, None, ws),
            400_002,
            "'calls_rosen_grad' got a null pointer for 'work' (status 400002)",
        ),
    ]
    out[:] = 7.0
    for args, code, message in cases:
        status = raw(*args)
        assert status == code
        with pytest.raises(KernelCallError, match=message.replace("(", r"\(").replace(")", r"\)")):
            k.raise_for_status(status)
    assert (out == 7.0).all()  # nothing written on error
    hvp = calls.calls_energy_hvp_x
    x3 = np.zeros(3)
    status = hvp.c_function(
        x3.ctypes.data, 3, x3.ctypes.data, 1, x3.ctypes.data, 2, out.ctypes.data, 3, None, 0
    )
    assert status == 100_002
    with pytest.raises(KernelCallError, match="rejected its input 'v_x': wrong length, expected 3"):
        hvp.raise_for_status(status)
    with pytest.raises(KernelCallError, match="returned the unknown status 17"):
        hvp.raise_for_status(17)


def test_missing_cargo_is_one_clear_error(tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    no_rust = dict(env, PATH=str(empty))
    with pytest.raises(
        BuildError, match=r"cargo was not found on PATH; .*install the Rust toolchain with rustup"
    ):
        gg.compile(F, build_dir=tmp_path / "cache", env=no_rust)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_broken_crate_reports_cargo_errors(tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    x = SX.sym("x")
    project = CodeGenerationBuilder(Function("sq", [x], [x * x])).add_primal().build(tmp_path / "broken")
    lib = project.project_dir / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("Ok(())", "Ok(()) oops", 1))
    with pytest.raises(BuildError, match=r"(?s)cargo build of the crate 'broken' failed .*error.*oops"):
        gg.compile(project.project_dir, build_dir=tmp_path / "cache", env=env)


def test_bad_targets(tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    with pytest.raises(
        GradgenTypeError, match="compile\\(\\) takes a Function, a CodeGenerationBuilder or the path"
    ):
        gg.compile(42, build_dir=tmp_path, env=env)
    with pytest.raises(BuildError, match=r"is not a Cargo crate \(no Cargo.toml\)"):
        gg.compile(tmp_path, build_dir=tmp_path / "cache", env=env)
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "Cargo.toml").write_text("[package]\n")
    (tmp_path / "odd" / "metadata.json").write_text(json.dumps({"crate": "odd", "functions": []}))
    with pytest.raises(
        BuildError, match=r"odd/metadata.json' is not a gradgen metadata.json \(KeyError: 'scalar_type'\)"
    ):
        gg.compile(tmp_path / "odd", build_dir=tmp_path / "cache", env=env)
    (tmp_path / "bare" / "src").mkdir(parents=True)  # a Cargo crate gradgen did not describe
    (tmp_path / "bare" / "Cargo.toml").write_text('[package]\nname = "bare"\n')
    with pytest.raises(
        BuildError,
        match=r"does not describe its functions \(no metadata.json and no "
        r"\[package.metadata.gradgen-kernels\] table in Cargo.toml\); .*gradgen.compile\(f\)",
    ):
        gg.compile(tmp_path / "bare", build_dir=tmp_path / "cache", env=env)
    with pytest.raises(ConfigError, match="config= applies to a Function only"):
        gg.compile(builder(), config=RustBackendConfig(), build_dir=tmp_path, env=env)
    with pytest.raises(ConfigError, match="config must be a RustBackendConfig, got dict"):
        gg.compile(F, config={}, build_dir=tmp_path, env=env)  # type: ignore[arg-type]
