"""One crate-naming rule for every entry point, and one signature record that the printer, the
metadata, the C ABI wrapper and the README all read (no cargo needed)."""

from __future__ import annotations

import json
import pathlib
import tomllib

import pytest

import gradgen as gg
from gradgen import SX, CodeGenerationBuilder, Function, FunctionBundle, RustBackendConfig, SXVector
from gradgen.backends.crate import KERNELS_TABLE, resolve_crate_name
from gradgen.backends.ffi import render_ffi, symbol
from gradgen.backends.signature import FunctionSignature
from gradgen.errors import InvalidNameError
from gradgen.native_build import resolve


def named(name: str) -> Function:
    x = SXVector.sym("x", 3)
    u = SX.sym("u")
    e = x.norm2sq() + u * gg.sin(x[0]) + x[1] * x[2]
    return Function(name, [x, u], [e], input_names=["x", "u"], output_names=["e"])


# ---- one naming rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directory", "expected"),
    [("energy", "energy"), ("My Crate-2", "my_crate_2"), ("test", "test_kernel"), ("2fast", "n2fast")],
)
def test_every_entry_point_names_a_crate_by_the_same_rule(
    tmp_path: pathlib.Path, directory: str, expected: str
) -> None:
    assert resolve_crate_name(None, tmp_path / directory) == expected
    assert resolve_crate_name(None, directory) == expected
    # create_rust_project and the builder: from the directory they write
    project = gg.create_rust_project(named("f"), tmp_path / "project" / directory)
    built = CodeGenerationBuilder(named("f")).add_primal().build(tmp_path / "builder" / directory)
    # the derivative bundle: the primal crate from the function's name, the others from their
    # directories; gradgen.compile: from the function's name
    bundle = gg.create_rust_derivative_bundle(named(directory), tmp_path / "bundle")
    compiled = resolve(named(directory), None)
    assert project.crate_name == built.crate_name == bundle.crates["primal"].crate_name == expected
    assert compiled.name == expected
    for crate_dir, crate in zip(bundle.crate_dirs, bundle.crates.values(), strict=True):
        if crate_dir.name != "primal":
            assert crate.crate_name == resolve_crate_name(None, crate_dir) == crate_dir.name


def test_a_directory_named_like_a_crate_root_gets_the_kernel_suffix(tmp_path: pathlib.Path) -> None:
    # (a function cannot be called `std`: it would clash with the crate root in Rust)
    project = gg.create_rust_project(named("f"), tmp_path / "p" / "std")
    built = CodeGenerationBuilder(named("f")).add_primal().build(tmp_path / "b" / "std")
    assert project.crate_name == built.crate_name == resolve_crate_name(None, "std") == "std_kernel"


def test_every_entry_point_validates_an_explicit_crate_name_the_same_way(tmp_path: pathlib.Path) -> None:
    config = RustBackendConfig().with_crate_name("std")
    message = r"crate name 'std' is reserved by Rust or cargo; choose another, e\.g\. 'std_kernel'"
    with pytest.raises(InvalidNameError, match=message):
        gg.create_rust_project(named("f"), tmp_path / "a", config=config)
    with pytest.raises(InvalidNameError, match=message):
        CodeGenerationBuilder(named("f")).with_backend_config(config).add_primal().build(tmp_path / "b")
    with pytest.raises(InvalidNameError, match=message):
        resolve(named("f"), config)
    with pytest.raises(InvalidNameError, match=message):
        resolve(CodeGenerationBuilder(named("f")).with_backend_config(config).add_primal(), None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_compile_names_a_builder_crate_kernels_by_default() -> None:
    assert resolve(CodeGenerationBuilder(named("f")).add_primal(), None).name == "kernels"


# ---- one signature record ------------------------------------------------------------------------


def _builder() -> CodeGenerationBuilder:
    return (
        CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_scalar_type("f32"))
        .for_function(named("energy"))
        .add_primal()
        .add_hessian(wrt=0, sparse=True, triangle="lower")
        .add_joint(FunctionBundle().add_f().add_hvp(wrt=[0, 1]).add_hessian(wrt=0, sparse=True))
        .done()
    )


def _args_line(sig: FunctionSignature) -> str:
    ins = ", ".join(f"`{a.name}` ({a.size})" for a in sig.inputs) or "none"
    outs = ", ".join(f"`{a.name}` ({a.size})" for a in sig.outputs)
    return f"/// Inputs (lengths): {ins}.\n/// Outputs (lengths): {outs}."


def test_metadata_ffi_readme_and_doc_comments_agree_with_the_signature(tmp_path: pathlib.Path) -> None:
    r = _builder().build(tmp_path / "sig")
    sigs = r.crate.signatures
    assert [s.function_name for s in sigs] == list(r.function_names)
    meta = json.loads((r.project_dir / "metadata.json").read_text())
    readme = (r.project_dir / "README.md").read_text()
    ffi = (r.project_dir / "src" / "ffi.rs").read_text()
    assert ffi == render_ffi(sigs, "f32")
    for sig, fn, entry in zip(sigs, r.functions, meta["functions"], strict=True):
        # the result objects are views over the record
        assert fn.signature is sig
        assert (fn.input_names, fn.input_sizes) == (sig.input_names, sig.input_sizes)
        assert (fn.output_names, fn.output_sizes) == (sig.output_names, sig.output_sizes)
        assert fn.workspace_size == sig.workspace_size and sig.scalar_type == "f32"
        # metadata.json: the record's entry plus what the builder was asked for
        assert entry == {**sig.as_json(), **fn.as_json()}
        back = FunctionSignature.from_json(entry, meta["scalar_type"])
        assert (back.inputs, back.outputs, back.workspace_size) == (
            sig.inputs,
            sig.outputs,
            sig.workspace_size,
        )
        # the C ABI wrapper, the README and the Rust doc comment
        assert f"fn {symbol(sig)}(" in ffi and _args_line(sig) in ffi
        assert f"- `{sig.function_name}`: inputs " in readme
        for a in sig.inputs:
            assert f'/// * `{a.name}` - input "{a.source_name}", length {a.size}' in r.source
            assert f"pub const {sig.argument_constant(a)}: usize = {a.size};" in r.source
        assert f"pub const {sig.work_constant()}: usize = {sig.workspace_size};" in r.source
        for s in sig.sparse_outputs:
            assert f"pub const {s.prefix}NNZ: usize = {s.pattern.nnz};" in r.source
            assert fn.pattern(s.output) is s.pattern
    assert [len(s.sparse_outputs) for s in sigs] == [0, 1, 1]
    joint = sigs[2]
    # one sparse output among several: its constants carry the output's name
    assert joint.sparse_outputs[0].output == "hessian_x"
    assert joint.sparse_outputs[0].prefix == f"{joint.function_name.upper()}_HESSIAN_X_"
    assert sigs[1].sparse_outputs[0].prefix == f"{sigs[1].function_name.upper()}_"
    # the scalar flags travel with the record: u is a scalar input, v_u its direction
    assert [a.scalar for a in joint.inputs] == [False, True, False, True]


def test_project_manifest_and_generation_result_read_the_signature(tmp_path: pathlib.Path) -> None:
    project = gg.create_rust_project(named("energy"), tmp_path / "one")
    sig = project.generation.signature
    assert (project.function_name, project.generation.input_names) == (sig.function_name, ("x", "u"))
    manifest = tomllib.loads((tmp_path / "one" / "Cargo.toml").read_text())
    table = manifest
    for key in KERNELS_TABLE.split("."):
        table = table[key]
    (entry,) = json.loads(table["json"])["functions"]
    assert entry == sig.as_json()
    assert f"- `{sig.function_name}`: inputs `x` (3), `u` (1); outputs `e` (1)" in (
        (tmp_path / "one" / "README.md").read_text()
    )


def test_compile_reads_the_same_signatures_as_the_builder() -> None:
    builder = _builder()
    crate = resolve(builder, None)
    meta = json.loads(crate.files["metadata.json"])
    generated = builder.generate("kernels").signatures
    read = [FunctionSignature.from_json(e, meta["scalar_type"]) for e in meta["functions"]]
    assert [(s.function_name, s.inputs, s.outputs, s.workspace_size) for s in read] == [
        (s.function_name, s.inputs, s.outputs, s.workspace_size) for s in generated
    ]
