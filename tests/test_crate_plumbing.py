"""Crate plumbing: a custom header, additional cargo dependencies, ``<function>_meta()`` helpers
and ``metadata.json`` for every crate; bad values are refused before anything is written."""

from __future__ import annotations

import json
import pathlib
import tomllib

import pytest

import gradgen as gg
from gradgen import CodeGenerationBuilder, Function, RustBackendConfig, SXVector
from tests.cargo import cargo, rustfmt_check

x = SXVector.sym("x", 3)
u = gg.SX.sym("u")
F = Function("energy", [x, u], [x[0] * x[1] + gg.sin(x[2]) * u], input_names=["x", "u"], output_names=["e"])


@pytest.mark.parametrize(
    ("deps", "error", "message"),
    [
        (
            [("bad name", None)],
            gg.InvalidNameError,
            r"dependency name 'bad name' is not a cargo package name",
        ),
        ([("-dash", None)], gg.InvalidNameError, r"'-dash' is not a cargo package name"),
        ([("a/b", "1")], gg.InvalidNameError, r"'a/b' is not a cargo package name"),
        ([("", None)], gg.InvalidNameError, r"'' is not a cargo package name"),
        ([("serde", '1"\nevil = "2')], gg.ConfigError, r"version .* is not a cargo version requirement"),
        ([("serde", 1)], gg.ConfigError, r"version 1 is not a cargo version requirement"),
        ([("serde", None), ("serde", "1")], gg.ConfigError, r"dependency 'serde' is listed twice"),
        ([("serde",)], gg.ConfigError, r"a dependency must be a \(name, version or None\) pair"),
        ("serde", gg.ConfigError, r"must be a list of \(name, version\) pairs"),
    ],
)
def test_bad_dependencies_are_refused_before_anything_is_written(deps, error, message, tmp_path):
    with pytest.raises(error, match=message):
        RustBackendConfig().with_additional_dependencies(deps)
    assert list(tmp_path.iterdir()) == []


def test_bad_header_and_flag_are_refused():
    with pytest.raises(gg.SnippetError, match=r"the crate header: unbalanced delimiters"):
        RustBackendConfig().with_header("pub fn f() {")
    with pytest.raises(gg.SnippetError, match=r"unknown placeholder"):
        RustBackendConfig().with_header("pub const A: {{ scalar }} = 1.0;")
    with pytest.raises(gg.ConfigError, match=r"emit_metadata_helpers must be True or False"):
        RustBackendConfig().with_emit_metadata_helpers("yes")  # type: ignore[arg-type]


def test_dependencies_are_written_to_cargo_toml(tmp_path: pathlib.Path):
    config = (
        RustBackendConfig()
        .with_backend_mode("no_std")
        .with_additional_dependencies([("serde-json", "1.0"), ("libm", "0.2.1"), ("heapless", None)])
    )
    gg.create_rust_project(F, tmp_path / "deps", config=config)
    manifest = tomllib.loads((tmp_path / "deps" / "Cargo.toml").read_text())
    # the user's libm replaces the default one of no_std crates; no version means any ("*")
    assert manifest["dependencies"] == {"serde-json": "1.0", "libm": "0.2.1", "heapless": "*"}
    std = gg.create_rust_project(F, tmp_path / "plain")
    assert "dependencies" not in tomllib.loads((std.project_dir / "Cargo.toml").read_text())


def test_single_kernel_crates_have_metadata_json(tmp_path: pathlib.Path):
    project = gg.create_rust_project(F, tmp_path / "one", crate_name="one")
    meta = json.loads((project.project_dir / "metadata.json").read_text())
    assert meta["crate"] == "one"
    (fn,) = meta["functions"]
    assert fn["name"] == "energy"
    assert [(a["name"], a["size"]) for a in fn["inputs"]] == [("x", 3), ("u", 1)]


def test_header_is_after_the_crate_attributes_with_placeholders():
    config = (
        RustBackendConfig()
        .with_backend_mode("no_std")
        .with_scalar_type("f32")
        .with_header(
            "// mode {{ backend_mode }}, math {{ math_library }}\npub const HALF: {{ scalar_type }} = 0.5;"
        )
    )
    source = gg.codegen.generate_rust(F, config).source
    head = source.split("\n")[:6]
    assert head[1:6] == [
        "#![forbid(unsafe_code)]",
        "#![no_std]",
        "",
        "// mode no_std, math libm",
        "pub const HALF: f32 = 0.5;",
    ]


def test_meta_helper_name_collision_is_an_error(tmp_path: pathlib.Path):
    gg.clear_registered_elementary_functions()
    clash = gg.register_elementary_function(
        name="energy_meta",
        input_dimension=1,
        eval_python=abs,
        rust_primal="fn energy_meta(x: &[f64], _w: &[f64]) -> f64 {\n    x[0].abs()\n}",
    )
    y = gg.SX.sym("y")
    config = RustBackendConfig().with_emit_metadata_helpers(True)
    with pytest.raises(gg.InvalidNameError, match=r"the metadata helper 'energy_meta' of function 'energy'"):
        gg.create_rust_project(Function("energy", [y], [clash(y)]), tmp_path / "clash", config=config)
    assert list(tmp_path.iterdir()) == []
    gg.clear_registered_elementary_functions()


META_TEST = """use {crate}::*;

#[test]
fn metadata_helpers_describe_every_function() {{
{checks}}}
"""


@pytest.mark.parametrize("mode", ["std", "no_std"])
def test_crate_with_header_dependency_and_meta_helpers_builds_and_runs(tmp_path: pathlib.Path, mode: str):
    """A std crate depending on libm through the config, whose header imports it and whose custom
    function calls it; the ``_meta`` helpers are checked by a Rust test against the signatures."""
    gg.clear_registered_elementary_functions()
    import math

    erfish = gg.register_elementary_function(
        name="gauss_cdf",
        input_dimension=1,
        eval_python=lambda t: 0.5 * (1.0 + math.erf(t / math.sqrt(2.0))),
        jacobian=lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi),
        rust_primal=(
            "fn gauss_cdf(x: &[{{ scalar_type }}], _w: &[{{ scalar_type }}]) -> {{ scalar_type }} {\n"
            "    0.5 * (1.0 + erf(x[0] * FRAC_1_SQRT_2))\n"
            "}"
        ),
        rust_jacobian=(
            "fn gauss_cdf_jacobian(x: &[f64], _w: &[f64], out: &mut [f64]) {\n"
            "    out[0] = libm::exp(-x[0] * x[0] / 2.0) * FRAC_1_SQRT_2 * FRAC_2_SQRT_PI / 2.0;\n"
            "}"
        ),
    )
    t = SXVector.sym("t", 2)
    G = Function("cdf", [t], [erfish(t[0]) * erfish(t[1])])
    config = (
        RustBackendConfig()
        .with_backend_mode(mode)
        .with_crate_name(f"plumbed_{mode}")
        .with_header("use core::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI};\nuse libm::erf;")
        .with_additional_dependencies([("libm", "0.2")])
        .with_emit_metadata_helpers(True)
    )
    builder = (
        CodeGenerationBuilder().with_backend_config(config).for_function(G).add_primal().add_gradient().done()
    )
    result = builder.build(tmp_path / f"plumbed_{mode}")
    crate = result.project_dir
    lib = (crate / "src" / "lib.rs").read_text()
    assert lib.count("pub struct FunctionMetadata") == 1
    assert rustfmt_check(lib) is None
    meta = json.loads((crate / "metadata.json").read_text())
    checks = []
    for fn in meta["functions"]:
        name = fn["name"]
        ins = ", ".join(json.dumps(a["name"]) for a in fn["inputs"])
        outs = ", ".join(json.dumps(a["name"]) for a in fn["outputs"])
        checks += [
            f"    let m = {name}_meta();",
            f'    assert_eq!(m.function_name, "{name}");',
            f"    assert_eq!(m.workspace_size, {fn['workspace_size']});",
            f"    assert_eq!(m.input_names, &[{ins}]);",
            f"    assert_eq!(m.input_sizes, &[{', '.join(str(a['size']) for a in fn['inputs'])}]);",
            f"    assert_eq!(m.output_names, &[{outs}]);",
            f"    assert_eq!(m.output_sizes, &[{', '.join(str(a['size']) for a in fn['outputs'])}]);",
        ]
    checks += [
        "    let mut g = [0.0; 2];",
        f"    plumbed_{mode}_cdf_grad(&[0.3, -0.4], &mut g, &mut [0.0; 8]).unwrap();",
    ]
    grad = G.gradient(0)([0.3, -0.4])
    for i, want in enumerate(grad):
        checks.append(f"    assert!((g[{i}] - {want!r}).abs() < 1e-12);")
    (crate / "tests").mkdir(exist_ok=True)  # the crate's self-tests live there too
    (crate / "tests" / "meta.rs").write_text(
        META_TEST.format(crate=f"plumbed_{mode}", checks="\n".join(checks) + "\n")
    )
    cargo(["clippy", "--all-targets", "--", "-D", "warnings"], crate)
    run = cargo(["test", "--quiet"], crate)
    assert "1 passed" in run.stdout, run.stdout
    gg.clear_registered_elementary_functions()
