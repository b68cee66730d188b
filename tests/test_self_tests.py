"""Self-testing crates (``RustBackendConfig.with_self_tests``, ``backends.self_tests``): the
generated ``tests/reference.rs`` is rustfmt-exact, ``cargo test`` passes for a std f64 builder
crate and a no_std f32 project (clippy ``--all-targets -D warnings`` clean), and it fails when
the generated code is corrupted (a constant, an error variant); the README says how to run it.
"""

from __future__ import annotations

import math
import pathlib
import re
import shutil

import pytest

import gradgen as gg
from gradgen import SX, CodeGenerationBuilder, Function, FunctionBundle, RustBackendConfig, SXVector
from gradgen.backends.self_tests import SELF_TESTS_FILE, seeded_point, tolerance
from gradgen.errors import ConfigError
from gradgen.ir.interp import run
from tests.cargo import cargo, rustfmt_check


def energy() -> Function:
    x = SXVector.sym("x", 3)
    u = SX.sym("u")
    e = gg.sin(x[0]) * u + x[1] ** 2 * x[2] + 3.0 * gg.log(x[2] + 1.0) + gg.exp(0.5 * x[0] * x[1])
    return Function("energy", [x, u], [e], input_names=["x", "u"])


def dynamics() -> Function:
    x = SXVector.sym("x", 2)
    u = SX.sym("u")
    dt = 0.1
    nxt = [x[0] + dt * x[1], x[1] + dt * (-9.81 * gg.sin(x[0]) + u)]
    return Function("dynamics", [x, u], [SXVector(nxt), x[0] * x[1] + u], input_names=["x", "u"])


def builder() -> CodeGenerationBuilder:
    return (
        CodeGenerationBuilder()
        .for_function(energy())
        .add_primal()
        .add_gradient()
        .add_hessian(wrt=0, sparse=True)
        .add_hvp(wrt=0)
        .add_joint(FunctionBundle().add_f().add_gradient(wrt=0).add_hessian(wrt=0))
        .done()
        .for_function(dynamics())
        .add_jacobian(wrt=0, sparse=True)
        .add_vjp()
        .done()
    )


@pytest.fixture(scope="module")
def std_crate(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("selftest") / "selftest_std"
    builder().build(root)
    return root


@pytest.fixture(scope="module")
def nostd_crate(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("selftest") / "selftest_nostd"
    config = RustBackendConfig().with_backend_mode("no_std").with_scalar_type("f32")
    gg.create_rust_project(dynamics(), root, config=config)
    return root


def test_reference_file_content(std_crate: pathlib.Path) -> None:
    text = (std_crate / SELF_TESTS_FILE).read_text()
    assert rustfmt_check(text) is None
    built = builder().generate("selftest_std")
    for k, fn in enumerate(built.functions):
        assert f"fn {fn.name}_matches_the_python_evaluator() {{" in text
        assert f"fn {fn.name}_rejects_wrong_lengths() {{" in text
        # the first point's outputs are the evaluator's values of the compiled kernel
        inputs = seeded_point(k, 0, fn.input_sizes)
        want = run(built.kernels[k], inputs)
        first = re.search(rf"const REF_{k}_0_OUT_0: \[f64; \d+\] =\s*\[([^\]]*)\];", text)
        assert first is not None
        assert [float(v) for v in first.group(1).replace("\n", " ").split(",") if v.strip()] == want[0]
    # every slice: too short and too long, and a workspace one too short
    errors = text[text.index("fn selftest_std_energy_grad_x_rejects_wrong_lengths") :]
    errors = errors[: errors.index("\n}\n")]
    assert 'assert_eq!(result, input("x", 3, 2));' in errors
    assert 'assert_eq!(result, input("x", 3, 4));' in errors
    assert 'assert_eq!(result, input("u", 1, 0));' in errors
    assert 'assert_eq!(result, output("grad_x", 3, 4));' in errors
    readme = (std_crate / "README.md").read_text()
    assert "```sh\ncargo test\n```" in readme and SELF_TESTS_FILE in readme


def test_tolerances_follow_the_scalar_type() -> None:
    assert tolerance("f64", 10_000) == 16 * 2.0**-52
    assert tolerance("f32", 1) == 16 * 2.0**-23
    assert math.isclose(tolerance("f32", 400), 16 * 2.0**-23 * 20)


def test_std_f64_crate_tests_itself(std_crate: pathlib.Path) -> None:
    proc = cargo(["test", "-q"], std_crate)
    # two tests per function: 9 functions
    assert re.search(r"test result: ok\. 18 passed", proc.stdout), proc.stdout
    cargo(["clippy", "--all-targets", "--", "-D", "warnings"], std_crate)


def test_no_std_f32_project_tests_itself(nostd_crate: pathlib.Path) -> None:
    text = (nostd_crate / SELF_TESTS_FILE).read_text()
    assert rustfmt_check(text) is None and "0.0_f32" in text
    proc = cargo(["test", "-q"], nostd_crate)
    assert re.search(r"test result: ok\. 2 passed", proc.stdout), proc.stdout
    cargo(["clippy", "--all-targets", "--", "-D", "warnings"], nostd_crate)


def test_corrupted_kernel_fails_its_self_test(std_crate: pathlib.Path, tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "selftest_std"
    shutil.copytree(std_crate, bad)
    lib = bad / "src" / "lib.rs"
    source = lib.read_text()
    body = source[source.index("pub fn selftest_std_dynamics_jf_sparse_x(") :]
    # the time step 0.1 appears in the Jacobian as a constant; make it 0.2
    assert "0.1" in body[: body.index("\n}\n")]
    start = source.index("pub fn selftest_std_dynamics_jf_sparse_x(")
    end = source.index("\n}\n", start)
    lib.write_text(source[:start] + source[start:end].replace("0.1", "0.2", 1) + source[end:])
    proc = cargo(["test", "-q"], bad, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "selftest_std_dynamics_jf_sparse_x_matches_the_python_evaluator" in out
    assert "FAILED" in out or "failed" in out
    # the error path: a length check that reports the wrong variant fails the other test
    check = 'GradgenError::OutputLength {\n            argument: "grad_x"'
    assert source.count(check) >= 1
    lib.write_text(source.replace(check, check.replace("OutputLength", "InputLength"), 1))
    proc = cargo(["test", "-q"], bad, check=False)
    assert proc.returncode != 0
    assert "selftest_std_energy_grad_x_rejects_wrong_lengths" in proc.stdout + proc.stderr


def test_self_tests_can_be_turned_off(tmp_path: pathlib.Path) -> None:
    config = RustBackendConfig().with_self_tests(False)
    gg.create_rust_project(dynamics(), tmp_path / "no_tests", config=config)
    assert not (tmp_path / "no_tests" / "tests").exists()
    assert "cargo test" not in (tmp_path / "no_tests" / "README.md").read_text()
    built = (
        CodeGenerationBuilder(dynamics())
        .with_backend_config(RustBackendConfig().with_self_tests(False))
        .add_primal()
        .build(tmp_path / "no_tests_b")
    )
    assert not (built.project_dir / "tests").exists()
    assert RustBackendConfig().self_tests is True
    assert RustBackendConfig().with_self_tests(False).target.self_tests is False
    with pytest.raises(ConfigError, match=r"self_tests must be True or False, got 'yes'"):
        RustBackendConfig().with_self_tests("yes")  # type: ignore[arg-type]


def test_functions_named_like_the_helpers(tmp_path: pathlib.Path) -> None:
    """A function called ``check`` in a crate called ``output``: the tests call the crate's
    functions by path, so the helpers of the test file cannot shadow them."""
    root = tmp_path / "output"
    gg.create_rust_project(dynamics(), root, function_name="check")
    text = (root / SELF_TESTS_FILE).read_text()
    assert "let result = output::check(" in text and rustfmt_check(text) is None
    proc = cargo(["test", "-q"], root)
    assert re.search(r"test result: ok\. 2 passed", proc.stdout), proc.stdout
