"""CodeGenerationBuilder and FunctionBundle without cargo: names, layouts, validation (before any
file is written), shared work in joint kernels, metadata. ``tests/test_builder_rust.py``
compiles and runs the generated crates."""

from __future__ import annotations

import json
import pathlib

import pytest

import gradgen as gg
from gradgen import (
    SX,
    CodeGenerationBuilder,
    ConfigError,
    DifferentiationError,
    Function,
    FunctionBundle,
    GradgenTypeError,
    InvalidLevelError,
    InvalidNameError,
    ProjectWriteError,
    RustBackendConfig,
    SXVector,
)


def scalar_f() -> Function:
    """One input, one scalar output (the ``f`` of the seed's examples)."""
    x = SXVector.sym("x", 3)
    y = x.norm2sq() + gg.sin(x[0]) * x[1] + gg.exp(0.5 * x[2]) * x[0]
    return Function("f", [x], [y], input_names=["x"], output_names=["y"])


def energy() -> Function:
    """Two inputs ``x`` (3) and ``u`` (scalar), one scalar output."""
    x = SXVector.sym("x", 3)
    u = SX.sym("u")
    e = x.norm2sq() + u * gg.sin(x[0]) + x[1] * x[2] + u * u * u
    return Function("energy", [x, u], [e], input_names=["x", "u"], output_names=["e"])


def three_inputs() -> Function:
    """Inputs ``a`` (2), ``b`` (scalar), ``c`` (2); a scalar output."""
    a = SXVector.sym("a", 2)
    b = SX.sym("b")
    c = SXVector.sym("c", 2)
    y = a[0] * a[1] * b + gg.cos(c[0]) * a[0] + c[1] * c[1] * b + gg.exp(a[1] * c[0])
    return Function("f", [a, b, c], [y], input_names=["a", "b", "c"], output_names=["y"])


def vector_g() -> Function:
    x = SXVector.sym("x", 2)
    p = SX.sym("p")
    y = SXVector([x[0] * x[1] * p, gg.exp(x[0]) + p * p, gg.sin(x[1])])
    return Function("g", [x, p], [y], input_names=["x", "p"], output_names=["y"])


def _crate(builder: CodeGenerationBuilder, name: str = "my_kernel"):
    return builder.generate(name)


# ---- names ---------------------------------------------------------------------------------------


def test_seed_names_single_function() -> None:
    f = scalar_f()
    crate = _crate(
        CodeGenerationBuilder()
        .for_function(f)
        .add_primal()
        .add_gradient()
        .add_jacobian()
        .add_hessian()
        .add_hvp()
        .add_joint(FunctionBundle().add_f().add_jf(wrt=0))
        .add_joint(FunctionBundle().add_f().add_jf(wrt=0).add_hvp(wrt=0))
        .add_vjp()
        .done()
    )
    assert crate.function_names == (
        "my_kernel_f_f",
        "my_kernel_f_grad",
        "my_kernel_f_jf",
        "my_kernel_f_hessian",
        "my_kernel_f_hvp",
        "my_kernel_f_f_jf",
        "my_kernel_f_f_jf_hvp",
        "my_kernel_f_vjp",
    )
    assert crate.function("my_kernel_f_hvp").input_names == ("x", "v_x")
    assert crate.function("my_kernel_f_vjp").input_names == ("x", "cotangent_y")
    assert crate.function("my_kernel_f_f_jf_hvp").output_names == ("y", "jacobian_y_x", "hvp_x")
    assert crate.function("my_kernel_f_hessian").output_sizes == (9,)


def test_seed_names_two_functions() -> None:
    x = SXVector.sym("x", 2)
    g = Function("g", [x], [x[0] * x[0] * x[1]], input_names=["x"], output_names=["z"])
    crate = _crate(
        CodeGenerationBuilder()
        .for_function(scalar_f())
        .add_primal()
        .add_jacobian()
        .done()
        .for_function(g)
        .add_primal()
        .add_hvp()
        .done()
    )
    assert crate.function_names == ("my_kernel_f_f", "my_kernel_f_jf", "my_kernel_g_f", "my_kernel_g_hvp")
    assert [f.source_function for f in crate.functions] == ["f", "f", "g", "g"]


def test_several_inputs_append_the_input_name() -> None:
    crate = _crate(
        CodeGenerationBuilder()
        .for_function(energy())
        .add_primal()
        .add_gradient()
        .add_hessian(wrt=1)
        .add_jacobian(wrt=[1, 0])
        .add_vjp(wrt=0)
        .add_hvp()
        .done(),
        "k",
    )
    assert crate.function_names == (
        "k_energy_f",
        "k_energy_grad_x",
        "k_energy_grad_u",
        "k_energy_hessian_u",
        "k_energy_jf_u",
        "k_energy_jf_x",
        "k_energy_vjp_x",
        "k_energy_hvp_x",
        "k_energy_hvp_u",
    )
    assert crate.function("k_energy_grad_u").output_names == ("grad_u",)
    assert crate.function("k_energy_jf_x").output_names == ("jacobian_e_x",)
    assert crate.function("k_energy_hvp_u").input_names == ("x", "u", "v_u")


def test_joint_with_several_wrt_blocks_layout() -> None:
    """Artifacts in the order added, blocks in wrt order, one HVP direction per block."""
    bundle = FunctionBundle().add_f().add_jf(wrt=[0, 1, 2]).add_hessian(wrt=[0, 1]).add_hvp(wrt=[2, 0])
    crate = _crate(CodeGenerationBuilder().for_function(three_inputs()).add_joint(bundle).done())
    (fn,) = crate.functions
    assert fn.name == "my_kernel_f_f_jf_a_b_c_hessian_a_b_hvp_c_a"
    assert fn.input_names == ("a", "b", "c", "v_c", "v_a")
    assert fn.input_sizes == (2, 1, 2, 2, 2)
    assert fn.output_names == (
        "y",
        "jacobian_y_a",
        "jacobian_y_b",
        "jacobian_y_c",
        "hessian_a",
        "hessian_b",
        "hvp_c",
        "hvp_a",
    )
    assert fn.output_sizes == (1, 2, 1, 2, 4, 1, 2, 2)
    assert fn.artifacts == (("f", ()), ("jf", ("a", "b", "c")), ("hessian", ("a", "b")), ("hvp", ("c", "a")))


def test_joint_kernel_values_match_separate_kernels() -> None:
    """In the interpreter, the joint kernel's blocks equal the separate derivative Functions."""
    from gradgen.ir.interp import run

    f = three_inputs()
    bundle = FunctionBundle().add_f().add_gradient(wrt=[2, 0]).add_jf(wrt=1).add_hessian(wrt=0).add_hvp(wrt=2)
    crate = _crate(CodeGenerationBuilder().for_function(f).add_joint(bundle).done())
    a, b, c, v = [0.3, -0.8], [1.7], [0.4, 0.9], [0.5, -1.5]
    outs = run(crate.kernels[0], [a, b, c, v])
    expected = [
        [f(a, b[0], c)],
        list(f.gradient(2)(a, b[0], c)),
        list(f.gradient(0)(a, b[0], c)),
        [f.jacobian(1)(a, b[0], c)],
        list(f.hessian(0)(a, b[0], c)),
        list(f.hvp(2)(a, b[0], c, v)),
    ]
    assert len(outs) == len(expected)
    for got, want in zip(outs, expected, strict=True):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_shorthand_equals_scoped_form() -> None:
    f = scalar_f()
    short = CodeGenerationBuilder(f).add_primal().add_gradient().add_joint(FunctionBundle().add_f().add_hvp())
    short = short.with_simplification("medium")
    scoped = (
        CodeGenerationBuilder()
        .for_function(f)
        .add_primal()
        .add_gradient()
        .add_joint(FunctionBundle().add_f().add_hvp())
        .with_simplification("medium")
        .done()
    )
    a, b = short.generate("sh"), scoped.generate("sh")
    assert a.function_names == ("sh_f_f", "sh_f_grad", "sh_f_f_hvp")
    assert a.source == b.source


def test_crate_name_from_config_or_directory(tmp_path: pathlib.Path) -> None:
    f = scalar_f()
    r = CodeGenerationBuilder(f).add_primal().build(tmp_path / "My Kernel-Crate")
    assert r.crate_name == "my_kernel_crate"
    assert r.function_names == ("my_kernel_crate_f_f",)
    assert 'name = "my_kernel_crate"' in (r.project_dir / "Cargo.toml").read_text()
    cfg = RustBackendConfig().with_crate_name("explicit")
    r = CodeGenerationBuilder(f).with_backend_config(cfg).add_primal().build(tmp_path / "other")
    assert r.crate_name == "explicit" and r.function_names == ("explicit_f_f",)
    assert sorted(p.name for p in r.project_dir.iterdir()) == [
        "Cargo.toml",
        "README.md",
        "metadata.json",
        "src",
        "tests",
    ]


def test_leading_underscores_of_the_crate_are_dropped_in_function_names() -> None:
    crate = CodeGenerationBuilder(scalar_f()).add_primal().generate("_k_")
    assert crate.function_names == ("k_f_f",)


# ---- shared work ------------------------------------------------------------------------------------


def _op_counts(f: Function, level: str = "basic") -> dict[str, int]:
    crate = (
        CodeGenerationBuilder()
        .with_backend_config(RustBackendConfig().with_simplification(level))
        .for_function(f)
        .add_primal()
        .add_gradient()
        .add_jacobian()
        .add_hessian()
        .add_hvp()
        .add_joint(FunctionBundle().add_f().add_jf())
        .add_joint(FunctionBundle().add_f().add_jf().add_hvp())
        .add_joint(FunctionBundle().add_gradient().add_hessian())
        .done()
        .generate("k")
    )
    return {fn.name: fn.op_count for fn in crate.functions}


@pytest.mark.parametrize("level", ["none", "basic", "high"])
def test_joint_kernels_share_work(level: str) -> None:
    c = _op_counts(scalar_f(), level)
    f_jf = c["k_f_f"] + c["k_f_jf"]
    assert c["k_f_f_jf"] < f_jf
    assert c["k_f_f_jf_hvp"] < f_jf + c["k_f_hvp"]
    assert c["k_f_grad_hessian"] < c["k_f_grad"] + c["k_f_hessian"]
    # measurably fewer: the primal's sin/exp/norm are computed once
    assert f_jf - c["k_f_f_jf"] >= 3


def test_joint_kernels_share_work_multi_input() -> None:
    f = three_inputs()
    bundle = FunctionBundle().add_f().add_jf(wrt=[0, 1, 2]).add_hessian(wrt=[0, 1])
    crate = (
        CodeGenerationBuilder()
        .for_function(f)
        .add_primal()
        .add_jacobian()
        .add_hessian(wrt=[0, 1])
        .add_joint(bundle)
        .done()
        .generate("k")
    )
    counts = {fn.name: fn.op_count for fn in crate.functions}
    joint = counts.pop("k_f_f_jf_a_b_c_hessian_a_b")
    assert joint <= sum(counts.values())
    assert sum(counts.values()) - joint >= 5


# ---- validation ---------------------------------------------------------------------------------------


def _never_written(tmp_path: pathlib.Path, builder: CodeGenerationBuilder, error: type, match: str) -> None:
    target = tmp_path / "crate"
    with pytest.raises(error, match=match):
        builder.build(target)
    assert not target.exists()


def test_empty_builder(tmp_path: pathlib.Path) -> None:
    _never_written(tmp_path, CodeGenerationBuilder(), ConfigError, "no kernels to generate")
    _never_written(tmp_path, CodeGenerationBuilder(scalar_f()), ConfigError, "no kernels to generate")
    builder = CodeGenerationBuilder().for_function(scalar_f()).done()
    _never_written(tmp_path, builder, ConfigError, "no kernels to generate")


def test_uncommitted_block(tmp_path: pathlib.Path) -> None:
    builder = CodeGenerationBuilder()
    builder.for_function(energy()).add_primal()
    _never_written(
        tmp_path, builder, ConfigError, r"block\(s\) of 'energy' were not committed; call .done\(\)"
    )


def test_block_used_after_done() -> None:
    block = CodeGenerationBuilder().for_function(scalar_f())
    block.add_primal().done()
    with pytest.raises(ConfigError, match="block of 'f' was already committed"):
        block.add_gradient()
    with pytest.raises(ConfigError, match="already committed"):
        block.done()


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda b: b.add_gradient(wrt=2),
            r"wrt index 2 is out of range: 'energy' has 2 input\(s\) \('x', 'u'\)",
        ),
        (lambda b: b.add_hvp(wrt=-1), "wrt index -1 is out of range"),
        (lambda b: b.add_jacobian(wrt=[0, 0]), r"wrt \[0, 0\] for 'energy' lists an input more than once"),
        (lambda b: b.add_hessian(wrt="nope"), "'energy' has no input named 'nope'; its inputs are x, u"),
        (lambda b: b.add_hessian(wrt=1.5), "wrt must be an input index or a list of them, got 1.5"),
        (lambda b: b.add_vjp(wrt=[]), "wrt is an empty list"),
        (lambda b: b.add_joint(FunctionBundle().add_jf(wrt=5)), "wrt index 5 is out of range"),
        (lambda b: b.add_joint(FunctionBundle().add_hvp(wrt=True)), "wrt must be an input index"),
        (
            lambda b: b.add_joint(FunctionBundle().add_jf(wrt=0).add_jf(wrt=[1, 0])),
            r"Jacobian w.r.t. input\(s\) 'x' of 'energy' more than once",
        ),
    ],
)
def test_wrt_errors(call, match: str) -> None:
    with pytest.raises(DifferentiationError, match=match):
        call(CodeGenerationBuilder().for_function(energy()))


@pytest.mark.parametrize(
    "call, what",
    [
        (lambda b: b.add_gradient(), "gradient"),
        (lambda b: b.add_hessian(), "Hessian"),
        (lambda b: b.add_hvp(wrt=1), "Hessian-vector product"),
        (lambda b: b.add_joint(FunctionBundle().add_f().add_hessian(wrt=0)), "Hessian"),
        (lambda b: b.add_joint(FunctionBundle().add_gradient()), "gradient"),
    ],
)
def test_scalar_only_kinds_reject_vector_functions(call, what: str) -> None:
    with pytest.raises(
        DifferentiationError,
        match=f"cannot add the {what} of 'g': it needs exactly one scalar output, "
        r"but the function has 'y' of size 3",
    ):
        call(CodeGenerationBuilder().for_function(vector_g()))


def test_bundle_errors() -> None:
    with pytest.raises(ConfigError, match="add_f\\(\\) was called twice"):
        FunctionBundle().add_f().add_f()
    with pytest.raises(ConfigError, match="the FunctionBundle for 'f' is empty"):
        CodeGenerationBuilder(scalar_f()).add_joint(FunctionBundle())
    with pytest.raises(GradgenTypeError, match="add_joint expects a FunctionBundle, got list"):
        CodeGenerationBuilder(scalar_f()).add_joint(["f", "jf"])
    with pytest.raises(GradgenTypeError, match="for_function expects a gradgen Function, got str"):
        CodeGenerationBuilder().for_function("f")


def test_shorthand_needs_a_function() -> None:
    with pytest.raises(ConfigError, match=r"add_primal\(\) needs a function: use CodeGenerationBuilder\(f\)"):
        CodeGenerationBuilder().add_primal()


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="with_backend_config expects a RustBackendConfig, got dict"):
        CodeGenerationBuilder().with_backend_config({"backend_mode": "std"})
    with pytest.raises(ConfigError, match="function_name 'eval_kernel' cannot apply"):
        CodeGenerationBuilder().with_backend_config(RustBackendConfig().with_function_name("eval_kernel"))
    with pytest.raises(InvalidLevelError, match="unknown simplification level 'extreme'"):
        CodeGenerationBuilder().for_function(scalar_f()).with_simplification("extreme")


@pytest.mark.parametrize(
    "name, error, match",
    [
        ("fn", InvalidNameError, "crate name 'fn' is a Rust keyword"),
        ("2kernel", InvalidNameError, "crate name '2kernel' is not a valid Rust identifier"),
        ("my-kernel", InvalidNameError, "crate name 'my-kernel' is not a valid Rust identifier.*'my_kernel'"),
        ("MyKernel", InvalidNameError, "crate name 'MyKernel' is not snake_case"),
        ("std", InvalidNameError, "crate name 'std' is reserved by Rust or cargo"),
    ],
)
def test_explicit_crate_names_are_strict(tmp_path: pathlib.Path, name: str, error: type, match: str) -> None:
    if name in ("std",):  # a valid identifier: rejected when the builder checks the crate name
        cfg = RustBackendConfig().with_crate_name(name)
        _never_written(
            tmp_path, CodeGenerationBuilder(scalar_f()).with_backend_config(cfg).add_primal(), error, match
        )
    else:
        with pytest.raises(error, match=match):
            RustBackendConfig().with_crate_name(name)
    with pytest.raises(error, match=match):
        CodeGenerationBuilder(scalar_f()).add_primal().generate(name)


def test_directory_named_like_a_reserved_crate(tmp_path: pathlib.Path) -> None:
    r = CodeGenerationBuilder(scalar_f()).add_primal().build(tmp_path / "core")
    assert r.crate_name == "core_kernel"


def test_duplicate_requests_collide(tmp_path: pathlib.Path) -> None:
    builder = CodeGenerationBuilder(scalar_f()).add_gradient().add_gradient(wrt=0)
    _never_written(
        tmp_path,
        builder,
        InvalidNameError,
        r"add_gradient\(\) of 'f' and add_gradient\(\) of 'f' both generate the Rust function 'crate_f_grad'",
    )
    builder = CodeGenerationBuilder(scalar_f()).add_primal().add_joint(FunctionBundle().add_f())
    _never_written(tmp_path, builder, InvalidNameError, r"add_joint\(...\) of 'f' and add_primal\(\) of 'f'")


def test_source_functions_with_colliding_names(tmp_path: pathlib.Path) -> None:
    x = SX.sym("x")
    a = Function("my f", [x], [x * x])
    b = Function("My_F", [x], [x + 1.0])
    builder = (
        CodeGenerationBuilder().for_function(a).add_primal().done().for_function(b).add_gradient().done()
    )
    _never_written(
        tmp_path, builder, InvalidNameError, "source functions 'my f' and 'My_F' both become 'my_f'"
    )


def test_same_function_in_two_blocks() -> None:
    f = scalar_f()
    crate = (
        CodeGenerationBuilder()
        .for_function(f)
        .add_primal()
        .done()
        .for_function(f)
        .add_hvp()
        .done()
        .generate("k")
    )
    assert crate.function_names == ("k_f_f", "k_f_hvp")


def test_argument_named_like_another_kernel(tmp_path: pathlib.Path) -> None:
    x = SX.sym("x")
    f = Function("f", [x], [x * x], input_names=["crate_f_grad"])
    builder = CodeGenerationBuilder(f).add_primal().add_gradient()
    _never_written(
        tmp_path, builder, InvalidNameError, "input 'crate_f_grad' becomes the Rust identifier 'crate_f_grad'"
    )


def test_size_constants_collide(tmp_path: pathlib.Path) -> None:
    x = SX.sym("x")
    f = Function("a", [x], [x * x], input_names=["hvp_work"])
    builder = CodeGenerationBuilder(f).add_primal().add_joint(FunctionBundle().add_f().add_hvp())
    _never_written(tmp_path, builder, InvalidNameError, "'CRATE_A_F_HVP_WORK_SIZE'")


def test_target_is_a_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "taken"
    target.write_text("not a directory")
    with pytest.raises(ProjectWriteError, match="it is a file"):
        CodeGenerationBuilder(scalar_f()).add_primal().build(target)
    assert target.read_text() == "not a directory"


# ---- result, metadata, documentation ----------------------------------------------------------------------


def test_build_result_and_metadata(tmp_path: pathlib.Path) -> None:
    cfg = RustBackendConfig().with_backend_mode("no_std").with_scalar_type("f32").with_crate_name("meta")
    r = (
        CodeGenerationBuilder()
        .with_backend_config(cfg)
        .for_function(energy())
        .add_primal()
        .add_hessian(wrt=0)
        .add_joint(FunctionBundle().add_f().add_hvp(wrt=[0, 1]))
        .with_simplification("high")
        .done()
        .build(tmp_path / "out")
    )
    assert r.project_dir == tmp_path / "out" and r.crate_name == "meta"
    meta = json.loads((r.project_dir / "metadata.json").read_text())
    assert meta == r.metadata
    assert (meta["crate"], meta["backend_mode"], meta["scalar_type"]) == ("meta", "no_std", "f32")
    assert [f["name"] for f in meta["functions"]] == list(r.function_names)
    joint = meta["functions"][2]
    assert joint["name"] == "meta_energy_f_hvp_x_u"
    assert joint["kind"] == "joint" and joint["simplification"] == "high"
    assert joint["artifacts"] == [{"artifact": "f", "wrt": []}, {"artifact": "hvp", "wrt": ["x", "u"]}]
    assert [(a["name"], a["size"]) for a in joint["inputs"]] == [("x", 3), ("u", 1), ("v_x", 3), ("v_u", 1)]
    assert [(a["name"], a["size"]) for a in joint["outputs"]] == [("e", 1), ("hvp_x", 3), ("hvp_u", 1)]
    for fn, entry in zip(r.functions, meta["functions"], strict=True):
        assert entry["workspace_size"] == fn.workspace_size
        upper = fn.name.upper()
        assert f"pub const {upper}_WORK_SIZE: usize = {fn.workspace_size};" in r.source
        for name, size in zip(
            fn.input_names + fn.output_names, fn.input_sizes + fn.output_sizes, strict=True
        ):
            assert f"pub const {upper}_{name.upper()}_SIZE: usize = {size};" in r.source
        assert entry["workspace_constant"] == f"{upper}_WORK_SIZE"
    hess = r.function("meta_energy_hessian_x")
    assert hess.output_names == ("hessian_x",) and hess.output_sizes == (9,)
    with pytest.raises(ConfigError, match="the crate has no function 'nope'"):
        r.function("nope")


def test_every_public_item_has_a_doc_comment() -> None:
    crate = (
        CodeGenerationBuilder()
        .for_function(energy())
        .add_primal()
        .add_gradient()
        .add_joint(FunctionBundle().add_f().add_jf().add_hvp(wrt=0))
        .done()
        .for_function(vector_g())
        .add_vjp()
        .done()
        .generate("docs")
    )
    lines = crate.source.split("\n")
    publics = [i for i, line in enumerate(lines) if line.startswith("pub ")]
    assert len(publics) > 10
    for i in publics:
        j = i - 1
        while lines[j].startswith("#["):
            j -= 1
        assert lines[j].startswith("///"), lines[i]
    # each kernel documents its arguments' lengths and its workspace
    for fn in crate.functions:
        start = crate.source.index(f"pub fn {fn.name}(")
        doc = crate.source[crate.source.rindex("\n\n", 0, start) : start]
        for name, size in zip(
            fn.input_names + fn.output_names, fn.input_sizes + fn.output_sizes, strict=True
        ):
            assert f"* `{name}` - " in doc and f"length {size}" in doc
        assert "workspace" in doc
