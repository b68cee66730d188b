"""Rust naming: sanitization of user-facing names, strict validation of explicit names, early
collision errors (type and message), all raised before any file is written."""

from __future__ import annotations

import pathlib

import pytest

import gradgen as gg
from gradgen import SX, Function, InvalidNameError, RustBackendConfig, SXVector, create_rust_project
from gradgen.backends.names import rust_names
from gradgen.backends.sanitize import SanitizePass
from gradgen.codegen import compile_kernel, generate_rust
from gradgen.errors import ConfigError, VerificationError


def simple(name: str = "square_plus_one", inputs=("x",), outputs=("y",)) -> Function:  # type: ignore[no-untyped-def]
    syms = [SX.sym(f"s{i}") for i in range(len(inputs))]
    total = sum(syms[1:], syms[0])
    return Function(
        name, syms, [total * total + 1 for _ in outputs], input_names=list(inputs), output_names=list(outputs)
    )


def test_user_facing_names_are_sanitized() -> None:
    f = simple("my function", inputs=("in value", "2x", "type"), outputs=("Out-Value",))
    r = f.generate_rust()
    assert r.function_name == "my_function"
    assert r.input_names == ("in_value", "n2x", "type_")
    assert r.output_names == ("out_value",)
    assert "pub fn my_function(" in r.source and "out_value: &mut [f64]" in r.source


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fn", "function name 'fn' is a Rust keyword"),
        ("eval kernel", r"function name 'eval kernel' is not a valid Rust identifier .*'eval_kernel'"),
        ("2abc", "function name '2abc' is not a valid Rust identifier"),
        ("EvalKernel", "function name 'EvalKernel' is not snake_case"),
        ("norm2", "function name 'norm2'.* already used by the helper function 'norm2'"),
        ("GradgenError", "function name 'GradgenError'"),
    ],
)
def test_explicit_function_names_are_strict(name: str, message: str) -> None:
    with pytest.raises(InvalidNameError, match=message):
        generate_rust(simple(), RustBackendConfig().with_function_name(name))


def test_sanitized_function_name_colliding_with_a_helper() -> None:
    with pytest.raises(
        InvalidNameError,
        match=(
            r"function name 'Norm Inf' becomes the Rust identifier 'norm_inf', "
            r"which is already used by the helper function 'norm_inf'"
        ),
    ):
        simple("Norm Inf").generate_rust()


def test_two_names_collapsing_to_one_identifier() -> None:
    f = simple(inputs=("x-1", "x 1"))
    with pytest.raises(
        InvalidNameError,
        match=r"input 'x 1' becomes the Rust identifier 'x_1', which is already used by input 'x-1'",
    ):
        f.generate_rust()
    g = simple(inputs=("value",), outputs=("Value",))
    with pytest.raises(
        InvalidNameError, match=r"output 'Value' .* 'value', which is already used by input 'value'"
    ):
        g.generate_rust()


@pytest.mark.parametrize("arg", ["work", "_work", "Work", "libm", "core", "norm2", "erfc", "f64"])
def test_arguments_colliding_with_abi_names(arg: str) -> None:
    with pytest.raises(
        InvalidNameError,
        match=rf"input '{arg}' becomes the Rust identifier '\w+', which is already used by the",
    ):
        simple(inputs=(arg,)).generate_rust()
    with pytest.raises(InvalidNameError, match=rf"output '{arg}' becomes"):
        simple(outputs=(arg,)).generate_rust()


def test_arguments_colliding_with_other_kernels_of_the_crate() -> None:
    f = simple(inputs=("f_grad",))
    with pytest.raises(InvalidNameError, match=r"input 'f_grad' .* the generated function 'f_grad'"):
        compile_kernel(f.kernel, RustBackendConfig(), other_kernels=("f_grad",))


def test_local_and_chunk_prefixes_avoid_arguments() -> None:
    f = simple(inputs=("w0", "w_3", "t1"))
    k = compile_kernel(f.kernel, RustBackendConfig())
    assert rust_names(k).local_prefix == "tmp"
    src = generate_rust(f).source
    assert "let tmp0 = " in src
    g = simple("f")
    k = compile_kernel(g.kernel, RustBackendConfig(), other_kernels=("f_chunk1",))
    assert rust_names(k).chunk_prefix == "f_chunk_"
    h = simple("f", inputs=("f_chunk0",))
    assert rust_names(compile_kernel(h.kernel, RustBackendConfig())).chunk_prefix == "f_chunk_"


def test_sanitize_needs_allocation() -> None:
    with pytest.raises(VerificationError, match="must run after workspace allocation"):
        SanitizePass().run(simple().kernel)


def test_bad_config_type() -> None:
    with pytest.raises(ConfigError, match="config must be a RustBackendConfig, got dict"):
        generate_rust(simple(), {"backend_mode": "std"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crate_name": "fn"}, "crate name 'fn' is a Rust keyword"),
        ({"crate_name": "my-crate"}, "crate name 'my-crate' is not a valid Rust identifier"),
        ({"crate_name": "9lives"}, "crate name '9lives' is not a valid Rust identifier"),
        ({"crate_name": "test"}, "crate name 'test' is reserved by Rust or cargo"),
        ({"function_name": "match"}, "function name 'match' is a Rust keyword"),
        ({"function_name": "eval-kernel"}, "function name 'eval-kernel' is not a valid Rust identifier"),
        (
            {"config": RustBackendConfig().with_crate_name("ok_name").with_function_name("norm2")},
            "helper function 'norm2'",
        ),
    ],
)
def test_project_name_errors_before_writing(tmp_path: pathlib.Path, kwargs: dict, message: str) -> None:
    target = tmp_path / "crate_dir"
    with pytest.raises(InvalidNameError, match=message):
        create_rust_project(simple(), target, **kwargs)
    assert not target.exists()


def test_collisions_in_a_project_are_raised_before_writing(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "crate_dir"
    with pytest.raises(InvalidNameError, match="input 'work'"):
        simple(inputs=("work",)).create_rust_project(target)
    assert not target.exists()


def test_project_layout_and_default_names(tmp_path: pathlib.Path) -> None:
    x = SXVector.sym("x", 2)
    f = Function("square plus one", [x], [x.norm2() + gg.erf(x[0])], input_names=["x"], output_names=["y"])
    p = create_rust_project(f, tmp_path / "My Kernel-Dir")
    assert p.crate_name == "my_kernel_dir" and p.function_name == "square_plus_one"
    assert sorted(
        q.relative_to(p.project_dir).as_posix() for q in p.project_dir.rglob("*") if q.is_file()
    ) == [
        "Cargo.toml",
        "README.md",
        "metadata.json",
        "src/lib.rs",
        "tests/reference.rs",
    ]
    toml = (p.project_dir / "Cargo.toml").read_text()
    assert 'name = "my_kernel_dir"' in toml and 'edition = "2021"' in toml and "[dependencies]" not in toml
    assert "cargo build" in (p.project_dir / "README.md").read_text()
    assert (p.project_dir / "src" / "lib.rs").read_text() == p.source == p.generation.source
    q = f.create_rust_project(
        tmp_path / "other",
        crate_name="my_kernel",
        function_name="eval_kernel",
        config=RustBackendConfig().with_backend_mode("no_std"),
    )
    toml = (q.project_dir / "Cargo.toml").read_text()
    assert 'name = "my_kernel"' in toml and '[dependencies]\nlibm = "0.2"' in toml
    assert "pub fn eval_kernel(" in q.source and "#![no_std]" in q.source
    assert create_rust_project(f, tmp_path / "test").crate_name == "test_kernel"
