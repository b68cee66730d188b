"""``create_rust_derivative_bundle``: one crate per derivative, each built and linted with cargo."""

from __future__ import annotations

import pathlib

import pytest

import gradgen as gg
from gradgen import SX, Function, SXVector
from gradgen.bundle import DerivativeBundle
from gradgen.codegen import generate_rust
from gradgen.config import RustBackendConfig
from gradgen.errors import InvalidLevelError, ProjectWriteError
from tests.cargo import build_and_lint, rustfmt_check


def energy() -> Function:
    x = SXVector.sym("x", 3)
    u = SX.sym("u")
    return Function(
        "energy",
        [x, u],
        [x.norm2sq() + u * gg.sin(x[0]) + x[1] * x[2]],
        input_names=["x", "u"],
        output_names=["e"],
    )


def _tree(root: pathlib.Path) -> str:
    return (
        "\n".join(
            str(p.relative_to(root))
            for p in sorted(root.rglob("*"))
            if "target" not in p.parts and p.name != "Cargo.lock"
        )
        + "\n"
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, cargo_available) -> DerivativeBundle:
    root = tmp_path_factory.mktemp("bundle") / "energy_bundle"
    result = energy().create_rust_derivative_bundle(root, simplify_derivatives="high")
    for crate_dir in result.crate_dirs:
        build_and_lint(crate_dir)
    return result


def test_bundle_layout_and_crates_build(bundle: DerivativeBundle, text_snapshot) -> None:
    assert sorted(bundle.crates) == [
        "energy_hessian_u",
        "energy_hessian_x",
        "energy_jacobian_u",
        "energy_jacobian_x",
        "primal",
    ]
    assert _tree(bundle.bundle_dir) == text_snapshot
    assert bundle.crates["primal"].crate_name == "energy"
    assert bundle.crates["energy_hessian_x"].function_name == "energy_hessian_x"
    toml = (bundle.bundle_dir / "energy_jacobian_u" / "Cargo.toml").read_text()
    assert 'name = "energy_jacobian_u"' in toml


def test_bundle_sources_are_the_generated_derivatives(bundle: DerivativeBundle) -> None:
    f = energy()
    high = RustBackendConfig().with_simplification("high")
    expected = {
        "primal": generate_rust(f).source,
        "energy_jacobian_x": generate_rust(f.jacobian(0), high).source,
        "energy_jacobian_u": generate_rust(f.jacobian(1), high).source,
        "energy_hessian_x": generate_rust(f.hessian(0), high).source,
        "energy_hessian_u": generate_rust(f.hessian(1), high).source,
    }
    for name, source in expected.items():
        written = (bundle.bundle_dir / name / "src" / "lib.rs").read_text()
        assert written == source, name
        assert rustfmt_check(written) is None


def test_vector_output_bundle_has_no_hessians_and_builds(tmp_path: pathlib.Path, cargo_available) -> None:
    x = SXVector.sym("x", 2)
    f = Function(
        "my map", [x], [SXVector([x[0] * x[1], gg.exp(x[0])])], input_names=["x"], output_names=["y"]
    )
    result = gg.create_rust_derivative_bundle(
        f, tmp_path / "b", config=RustBackendConfig().with_backend_mode("no_std")
    )
    assert sorted(result.crates) == ["my_map_jacobian_x", "primal"]
    assert result.crates["primal"].crate_name == "my_map"
    for crate_dir in result.crate_dirs:
        build_and_lint(crate_dir)


def test_bundle_errors_are_raised_before_writing(tmp_path: pathlib.Path) -> None:
    f = energy()
    target = tmp_path / "never"
    with pytest.raises(InvalidLevelError, match=r"unknown simplification level 'extreme'"):
        f.create_rust_derivative_bundle(target, simplify_derivatives="extreme")
    assert not target.exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(
        ProjectWriteError, match=r"cannot create a derivative bundle at .*file.*: it is a file"
    ):
        gg.create_rust_derivative_bundle(f, a_file)
    assert a_file.read_text() == "x"
    x = SX.sym("x")
    with pytest.raises(gg.GradgenTypeError, match=r"expected a gradgen Function, got SX"):
        gg.create_rust_derivative_bundle(x, target)
    # a primal called like a reserved crate gets a suffix instead of failing late
    t = Function("test", [x], [x * x])
    names = gg.create_rust_derivative_bundle(t, tmp_path / "t").crates
    assert names["primal"].crate_name == "test_kernel"
