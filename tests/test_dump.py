"""Tests of the ``gradgen-dump`` pass-debugging tool (gradgen/dump.py).

Output is checked against text snapshots (``snapshots/test_dump/``) and, independently, against
what the pass pipeline produces when run directly; every documented error path is checked for
its exit code and its one-line message.
"""

from __future__ import annotations

import difflib
import math
import os
import pathlib
import re
import subprocess
import sys
from typing import cast

import pytest

import gradgen.dump_format as dump_format_module
from gradgen.backends.rust_ops import helper_names
from gradgen.backends.sanitize import SanitizePass
from gradgen.codegen import compile_kernel
from gradgen.config import RustBackendConfig
from gradgen.dump import EXIT_OUTPUT, EXIT_PIPELINE, EXIT_TARGET, EXIT_USAGE, main
from gradgen.dump_format import format_dot, format_kernel, kernel_graph, unified_diff
from gradgen.ir.interp import run as interpret
from gradgen.passes.autodiff import AutodiffPass
from gradgen.passes.manager import Pass, PassManager
from gradgen.passes.pipelines import codegen_passes, passes_by_name, simplification_passes
from tests.cargo import rustfmt_check
from tests.dump_targets.small import make_small, small

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = "tests/dump_targets/small.py:small"
CONSOLE_SCRIPT = ROOT / ".venv" / "bin" / "gradgen-dump"


def pipeline(level: str) -> list[Pass]:
    """The passes gradgen-dump runs for a primal kernel at ``level`` (as code generation does)."""
    return simplification_passes(level) + codegen_passes(cast(Pass, SanitizePass(None, helper_names())))


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GRADGEN_DUMP_IR_TO", raising=False)


def dump(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def expect_error(capsys: pytest.CaptureFixture[str], code: int, pattern: str, *argv: str) -> str:
    got, out, err = dump(capsys, *argv)
    assert got == code, (got, err)
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("gradgen-dump: error: ")
    assert re.search(pattern, err), err
    return out


# ---- snapshots of every flag ---------------------------------------------------------------------

FLAG_SETS = {
    "default": [],
    "after_all": ["--print-ir-after-all"],
    "after_two": ["--print-ir-after", "simplify", "--print-ir-after=allocate"],
    "before_cse": ["--print-ir-before", "cse"],
    "diff": ["--diff"],
    "time_passes": ["--time-passes", "--no-timings", "--emit", "none"],
    "stats": ["--stats"],
    "emit_dot": ["--emit", "dot"],
    "level_none": ["--level", "none", "--print-ir-after-all"],
    "level_basic_stats": ["--level", "basic", "--stats", "--emit", "none"],
    "passes": ["--passes", "simplify-basic,cse", "--diff", "--stats"],
    "gradient_after_autodiff": ["--kernel", "gradient", "--print-ir-after", "autodiff", "--stats"],
    "gradient_wrt_u_time": ["--kernel", "gradient", "--wrt", "1", "--time-passes", "--no-timings"],
    "jacobian": ["--kernel", "jacobian"],
    "hessian_diff": ["--kernel", "hessian", "--wrt", "0", "--diff"],
    "hvp": ["--kernel", "hvp", "--print-ir-before", "simplify"],
    "jvp": ["--kernel", "jvp"],
    "vjp_dot": ["--kernel", "vjp", "--emit", "dot"],
    "everything": [
        "--print-ir-after-all",
        "--print-ir-before",
        "simplify",
        "--diff",
        "--stats",
        "--time-passes",
        "--no-timings",
    ],
}


@pytest.mark.parametrize("name", sorted(FLAG_SETS))
def test_dump_snapshot(name: str, capsys: pytest.CaptureFixture[str], text_snapshot) -> None:
    code, out, err = dump(capsys, TARGET, *FLAG_SETS[name])
    assert (code, err) == (0, "")
    assert out == text_snapshot


def test_default_output_is_what_code_generation_compiles(capsys: pytest.CaptureFixture[str]) -> None:
    expected = compile_kernel(small.kernel, RustBackendConfig(), None)
    code, out, _ = dump(capsys, TARGET)
    assert code == 0
    assert out == format_kernel(expected)
    assert format_kernel(PassManager(pipeline("basic")).run(small.kernel)) == out
    # the printed kernel computes the same values as the function itself
    args = [[0.7, -1.3], [2.5]]
    assert interpret(expected, args) == [[small(*[args[0], args[1][0]])]]


def test_print_ir_after_matches_each_stage(capsys: pytest.CaptureFixture[str]) -> None:
    passes = pipeline("high")
    stages = []
    kernel = small.kernel
    for p in passes:
        kernel = p.run(kernel)
        stages.append(format_kernel(kernel))
    code, out, _ = dump(capsys, TARGET, "--level", "high", "--print-ir-after-all", "--emit", "none")
    assert code == 0
    sections = out.split("\n\n")
    assert [s.splitlines()[0] for s in sections] == [
        f";; ---- IR after {p.name} (pass {k + 1} of {len(passes)}) ----" for k, p in enumerate(passes)
    ]
    assert [s.split("\n", 1)[1] + ("" if s.endswith("\n") else "\n") for s in sections] == stages


X0, X1, U = 0.7, -1.3, 2.5
#: small(x, u) = u sin x0 + x1^2 - x1 sin x0 (+ (x0 - x0) u, zero for finite x0)
GRAD_X = [(U - X1) * math.cos(X0), 2 * X1 - math.sin(X0)]
HESS_X = [[-(U - X1) * math.sin(X0), -math.cos(X0)], [-math.cos(X0), 2.0]]
SEED = [0.3, -1.1]

# kind, wrt, extra runtime inputs, expected outputs (closed forms of the derivatives above)
DERIVATIVES = {
    "gradient": (0, [], [GRAD_X]),
    "gradient_u": (1, [], [[math.sin(X0)]]),
    "jacobian": (0, [], [GRAD_X]),
    "hessian": (0, [], [[HESS_X[0][0], HESS_X[0][1], HESS_X[1][0], HESS_X[1][1]]]),
    "hvp": (0, [SEED], [[sum(HESS_X[i][j] * SEED[j] for j in range(2)) for i in range(2)]]),
    "jvp": (0, [SEED], [[GRAD_X[0] * SEED[0] + GRAD_X[1] * SEED[1]]]),
    "vjp": (0, [[-0.4]], [[-0.4 * g for g in GRAD_X]]),
}


@pytest.mark.parametrize("case", sorted(DERIVATIVES))
def test_derivative_kernels(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    wrt, seeds, expected = DERIVATIVES[case]
    kind = case.split("_")[0]
    passes: list[Pass] = [cast(Pass, AutodiffPass(kind, wrt)), *pipeline("medium")]
    kernel = PassManager(passes).run(small.kernel)
    code, out, _ = dump(
        capsys,
        TARGET,
        "--kernel",
        kind,
        "--wrt",
        str(wrt),
        "--print-ir-after",
        "autodiff",
        "--level",
        "medium",
    )
    assert code == 0
    assert out.startswith(f";; ---- IR after autodiff (pass 1 of {len(passes)}) ----\n")
    assert out.endswith("\n;; ---- output (--emit ir) ----\n" + format_kernel(kernel))
    # the printed kernel is the derivative: compare with the closed forms
    got = interpret(kernel, [[X0, X1], [U], *seeds])
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, rel=1e-12, abs=1e-12)


def test_level_number_equals_level_name(capsys: pytest.CaptureFixture[str]) -> None:
    for number, name in (("0", "none"), ("2", "medium"), ("4", "max")):
        by_number = dump(capsys, TARGET, "--level", number, "--print-ir-after-all")
        by_name = dump(capsys, TARGET, "--level", name, "--print-ir-after-all")
        assert by_number == by_name
        assert by_number[0] == 0


def test_passes_runs_exactly_the_listed_passes(capsys: pytest.CaptureFixture[str]) -> None:
    expected = PassManager(passes_by_name(["cse", "schedule", "allocate"])).run(small.kernel)
    code, out, _ = dump(
        capsys, TARGET, "--passes", " cse, schedule,allocate ", "--time-passes", "--no-timings"
    )
    assert code == 0
    assert out.startswith(";; ---- output (--emit ir) ----\n" + format_kernel(expected) + "\n")
    table = out.split(";; ---- pass timing ----\n", 1)[1].splitlines()
    assert [row.split()[1] for row in table[1:4]] == ["cse", "schedule", "allocate"]
    # the sub-self rule never ran, so x0 - x0 is still there
    assert "sub v1, v1" in out


def apply_unified_diff(before: list[str], diff: list[str]) -> list[str]:
    """Apply a unified diff (as produced by gradgen.dump_format.unified_diff) to ``before``."""
    assert diff[0].startswith("--- ") and diff[1].startswith("+++ ")
    out: list[str] = []
    pos = 0
    for line in diff[2:]:
        hunk = re.fullmatch(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", line)
        if hunk:
            start, length = int(hunk[1]), int(hunk[2] if hunk[2] is not None else 1)
            first = start if length == 0 else start - 1
            out.extend(before[pos:first])
            pos = first
        elif line[0] == "+":
            out.append(line[1:])
        else:
            assert before[pos] == line[1:], (pos, line)
            if line[0] == " ":
                out.append(line[1:])
            pos += 1
    return out + before[pos:]


DIFF_CASES = {
    "middle": (
        [f"l{i}" for i in range(20)],
        [f"l{i}" for i in range(8)] + ["x", "y"] + [f"l{i}" for i in range(12, 20)],
    ),
    "start": (["a", "b", "c", "d", "e"], ["z", "c", "d", "e"]),
    "end": (["a", "b", "c", "d", "e"], ["a", "b", "c", "q", "r", "s"]),
    "insert_only": (
        ["a", "b", "c", "d", "e", "f", "g", "h"],
        ["a", "b", "c", "d", "new", "e", "f", "g", "h"],
    ),
    "delete_only": (["a", "b", "c", "d", "e", "f", "g", "h"], ["a", "b", "c", "g", "h"]),
    "everything": (["a", "b"], ["c", "d", "e"]),
    "from_empty": ([], ["a"]),
}


@pytest.mark.parametrize("case", sorted(DIFF_CASES))
@pytest.mark.parametrize("limit", [dump_format_module.DIFF_WORK_LIMIT, -1], ids=["difflib", "one_hunk"])
def test_unified_diff_applies(case: str, limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = DIFF_CASES[case]
    monkeypatch.setattr(dump_format_module, "DIFF_WORK_LIMIT", limit)
    diff = unified_diff(before, after, "p")
    assert diff[:2] == ["--- before p", "+++ after p"]
    assert apply_unified_diff(before, diff) == after
    if limit < 0:
        assert sum(1 for line in diff if line.startswith("@@")) == 1
    else:
        assert diff == list(difflib.unified_diff(before, after, "before p", "after p", lineterm=""))
    assert unified_diff(before, before, "p") == []


def test_large_rewrite_diff_is_one_hunk_and_fast(capsys: pytest.CaptureFixture[str]) -> None:
    # a 3000-step chain: simplify and schedule renumber thousands of lines
    code, out, _ = dump(capsys, "tests/dump_targets/small.py:long_chain", "--diff", "--emit", "none")
    assert code == 0
    hunks = [line for line in out.splitlines() if line.startswith("@@")]
    assert hunks and len(out.splitlines()) < 40_000


def test_time_passes_reports_real_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = dump(capsys, TARGET, "--time-passes", "--emit", "none", "--level", "medium")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == ";; ---- pass timing ----"
    assert lines[1].split() == [
        "#",
        "pass",
        "wall",
        "ms",
        "ops",
        "before",
        "ops",
        "after",
        "workspace",
        "before",
        "workspace",
        "after",
    ]
    rows = [line.split() for line in lines[2:7]]
    assert [r[1] for r in rows] == ["simplify", "cse", "schedule", "allocate", "sanitize"]
    for r in rows:
        assert re.fullmatch(r"\d+\.\d{3}", r[2])
    # ops before/after: 10 computed instructions; 6 once (x0 - x0) * u and the add of it are gone and
    # "+ -(x1 * s)" is a single sub
    assert [(r[3], r[4]) for r in rows] == [("10", "6"), ("6", "6"), ("6", "6"), ("6", "6"), ("6", "6")]
    assert [(r[5], r[6]) for r in rows] == [("-", "-"), ("-", "-"), ("-", "-"), ("-", "0"), ("0", "0")]
    total = lines[7].split()
    assert total[0] == "total" and float(total[1]) == pytest.approx(sum(float(r[2]) for r in rows), abs=0.01)


def test_stats_match_the_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    final = PassManager(pipeline("medium")).run(small.kernel)
    code, out, _ = dump(capsys, TARGET, "--stats", "--emit", "none", "--level", "medium")
    assert code == 0
    fields = dict(
        re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines()[1:] if "  " in line.strip()
    )
    assert fields["instructions"] == str(len(final.ops))
    assert fields["computed"] == str(final.op_count())
    assert fields["depth"] == str(final.depth()) == "4"
    assert final.allocation is not None
    assert fields["workspace"].startswith(f"{final.allocation.workspace_size} (1 chunk(s)")
    for op_name, count in final.histogram().items():
        assert fields[op_name] == str(count)
    assert fields["sub-self"] == "1" and fields["mul-zero"] == "1"


def test_dot_graph_structure(capsys: pytest.CaptureFixture[str]) -> None:
    k = make_small().kernel
    g = kernel_graph(k)
    assert g.number_of_nodes() == len(k.ops) + 1
    assert g.number_of_edges() == sum(len(a) for a in k.args) + 1
    text = format_dot(g)
    assert text.startswith('digraph "made" {\n') and text.endswith("}\n")
    assert text.count(" -> ") == g.number_of_edges()
    # an input and names with quotes are escaped
    assert '"v0" [label="y[0]", shape="box"];' in text
    assert (
        dump(capsys, "tests/dump_targets/small.py:make_small", "--emit", "dot", "--level", "none")[1] == text
    )


def test_sub_edges_are_labelled_by_position(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = dump(capsys, TARGET, "--emit", "dot", "--passes", "cse")
    assert code == 0
    # v7 = sub v1, v1: two parallel edges, argument 0 and argument 1
    assert '  "v1" -> "v7" [label="0"];\n  "v1" -> "v7" [label="1"];\n' in out
    # mul is commutative: no position labels
    assert '  "v4" -> "v5";\n  "v4" -> "v5";\n' in out


RUST_CASES = {
    "primal_basic": ([], RustBackendConfig()),
    "primal_medium_no_std_f32": (
        ["--level", "medium", "--backend-mode", "no_std", "--scalar-type", "f32"],
        RustBackendConfig(backend_mode="no_std", scalar_type="f32", simplification="medium"),
    ),
    "gradient_high": (["--kernel", "gradient", "--level", "high"], RustBackendConfig(simplification="high")),
    "hessian_wrt_u": (["--kernel", "hessian", "--wrt", "1"], RustBackendConfig()),
}


@pytest.mark.parametrize("case", sorted(RUST_CASES))
def test_emit_rust_is_the_generated_module(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, config = RUST_CASES[case]
    code, out, err = dump(capsys, TARGET, "--emit", "rust", *argv)
    assert (code, err) == (0, "")
    kind, wrt = "primal", 0
    if "--kernel" in argv:
        kind = argv[argv.index("--kernel") + 1]
        wrt = int(argv[argv.index("--wrt") + 1]) if "--wrt" in argv else 0
    function = small if kind == "primal" else getattr(small, kind)(wrt)
    # the library's own generate_rust (whose output other tests compile with cargo)
    assert out == function.generate_rust(config).source
    assert rustfmt_check(out) is None
    assert "#![forbid(unsafe_code)]" in out


def test_emit_rust_without_codegen_passes(capsys: pytest.CaptureFixture[str]) -> None:
    expect_error(
        capsys,
        EXIT_PIPELINE,
        r"--emit rust needs a kernel annotated by the allocate and sanitize passes; add them to --passes",
        TARGET,
        "--emit",
        "rust",
        "--passes",
        "cse,schedule,allocate",
    )
    code, out, _ = dump(capsys, TARGET, "--emit", "rust", "--passes", "cse,schedule,allocate,sanitize")
    assert code == 0 and "pub fn small(x: &[f64], u: &[f64], e: &mut [f64], _work: &mut [f64])" in out


def test_zero_argument_factory_and_module_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = dump(capsys, "tests/dump_targets/small.py:make_small")
    assert code == 0
    assert out.startswith("kernel made(y: scalar) -> (z: scalar)\n")
    by_file = dump(capsys, TARGET, "--diff", "--stats")
    by_module = dump(capsys, "tests.dump_targets.small:small", "--diff", "--stats")
    assert by_file == by_module


def test_dump_ir_to_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ir" / "dumps"
    folder.mkdir(parents=True)
    (folder / "07-stale.ir").write_text("old\n")
    (folder / "notes.txt").write_text("keep me\n")
    monkeypatch.setenv("GRADGEN_DUMP_IR_TO", str(folder))
    code, out, _ = dump(capsys, TARGET, "--emit", "none", "--level", "medium")
    assert (code, out) == (0, "")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "00-input.ir",
        "01-simplify.ir",
        "02-cse.ir",
        "03-schedule.ir",
        "04-allocate.ir",
        "05-sanitize.ir",
        "notes.txt",
    ]
    kernel = small.kernel
    assert (folder / "00-input.ir").read_text() == format_kernel(kernel)
    for k, p in enumerate(pipeline("medium"), start=1):
        kernel = p.run(kernel)
        assert (folder / f"{k:02d}-{p.name}.ir").read_text() == format_kernel(kernel)
    assert (folder / "notes.txt").read_text() == "keep me\n"


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = dump(capsys, "--help")
    assert (code, err) == (0, "")
    for text in (
        "--print-ir-after",
        "--time-passes",
        "--emit {ir,rust,dot,none}",
        "--kernel {primal,gradient,jacobian,sparse_jacobian,hessian,hvp,jvp,vjp}",
        "exit codes: 0 ok; 2 usage",
        "3 target",
        "4 pipeline",
        "5 output",
        "GRADGEN_DUMP_IR_TO=DIR",
    ):
        assert text in out
    assert "--no-timings" not in out


# ---- errors --------------------------------------------------------------------------------------

USAGE_ERRORS = {
    "unknown_option": (["--frobnicate"], r"unrecognized arguments: --frobnicate"),
    "no_target": ([], r"the following arguments are required: TARGET"),
    "kernel_kind": (["--kernel", "laplacian"], r"argument --kernel: invalid choice: 'laplacian'"),
    "emit_kind": (["--emit", "svg"], r"argument --emit: invalid choice: 'svg'"),
    "level_name": (["--level", "extreme"], r"unknown simplification level 'extreme'; use one of none, basic"),
    "level_number": (["--level", "7"], r"simplification level 7 is out of range; use 0-4"),
    "level_and_passes": (
        ["--level", "high", "--passes", "cse"],
        r"argument --passes: not allowed with argument --level",
    ),
    "empty_passes": (["--passes", " , "], r"--passes needs at least one pass name"),
    "empty_pass_name": (
        ["--passes", "cse,,schedule"],
        r"--passes 'cse,,schedule' contains an empty pass name",
    ),
    "wrt_not_int": (["--kernel", "gradient", "--wrt", "one"], r"argument --wrt: invalid int value: 'one'"),
    "wrt_out_of_range": (
        ["--kernel", "gradient", "--wrt", "2"],
        r"--wrt 2 is out of range: function 'small' has 2 input\(s\) \(x, u\), so use 0-1",
    ),
    "wrt_negative": (["--kernel", "hessian", "--wrt", "-1"], r"--wrt -1 is out of range"),
    "backend_mode": (
        ["--emit", "rust", "--backend-mode", "embedded"],
        r"argument --backend-mode: invalid choice",
    ),
    "scalar_type": (
        ["--emit", "rust", "--scalar-type", "f16"],
        r"argument --scalar-type: invalid choice: 'f16'",
    ),
    "wrt_for_primal": (["--wrt", "0"], r"--wrt applies to derivative kernels, not to --kernel primal"),
    "max_nodes": (["--emit", "dot", "--max-nodes", "0"], r"--max-nodes must be at least 1, got 0"),
}


@pytest.mark.parametrize("name", sorted(USAGE_ERRORS))
def test_usage_errors(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, pattern = USAGE_ERRORS[name]
    out = expect_error(capsys, EXIT_USAGE, pattern, *([] if name == "no_target" else [TARGET]), *argv)
    assert out == ""


TARGET_ERRORS = {
    "no_colon": (
        "tests/dump_targets/small.py",
        r"target 'tests/dump_targets/small.py' must be 'path/to/file.py:NAME' or 'package.module:NAME'",
    ),
    "empty_name": ("tests/dump_targets/small.py:", r"must be 'path/to/file.py:NAME'"),
    "missing_file": ("tests/dump_targets/nowhere.py:f", r"no such file: 'tests/dump_targets/nowhere.py'"),
    "missing_module": (
        "tests.dump_targets.nowhere:f",
        r"cannot import module 'tests.dump_targets.nowhere': No module named 'tests.dump_targets.nowhere'",
    ),
    "bad_module_name": ("not a module:f", r"'not a module' is neither a .py file nor a dotted module name"),
    "file_raises": (
        "tests/dump_targets/raises_on_import.py:f",
        r"loading 'tests/dump_targets/raises_on_import.py' raised RuntimeError: this module refuses to load",
    ),
    "module_raises": (
        "tests.dump_targets.raises_on_import:f",
        r"importing module 'tests.dump_targets.raises_on_import' raised RuntimeError: this module refuses",
    ),
    "missing_name": (
        "tests/dump_targets/small.py:energy",
        r"'tests/dump_targets/small.py' has no attribute 'energy'; Functions defined there: pair, small$",
    ),
    "not_a_function": (
        "tests/dump_targets/small.py:not_a_function",
        (
            r"'not_a_function' in 'tests/dump_targets/small.py' is a float, not a Function nor a "
            r"zero-argument callable returning one"
        ),
    ),
    "needs_args": (
        "tests/dump_targets/small.py:needs_args",
        r"'needs_args' in 'tests/dump_targets/small.py' cannot be called without arguments",
    ),
    "returns_int": (
        "tests/dump_targets/small.py:returns_int",
        r"returns_int\(\) from 'tests/dump_targets/small.py' returned a int, not a Function",
    ),
    "factory_raises": (
        "tests/dump_targets/small.py:raises",
        r"calling raises\(\) from 'tests/dump_targets/small.py' raised ValueError: factory failed on purpose",
    ),
}


@pytest.mark.parametrize("name", sorted(TARGET_ERRORS))
def test_target_errors(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    target, pattern = TARGET_ERRORS[name]
    assert expect_error(capsys, EXIT_TARGET, pattern, target) == ""


PIPELINE_ERRORS = {
    "unknown_pass": (
        ["--passes", "cse,inline"],
        r"unknown pass 'inline'; registered passes: allocate, cse, sanitize, schedule, "
        r"simplify-basic, simplify-high, ",
    ),
    "print_after_unknown": (
        ["--print-ir-after", "inline"],
        r"--print-ir-after: no pass named 'inline' in the pipeline "
        r"\(simplify, cse, schedule, allocate, sanitize\)",
    ),
    "print_before_not_in_pipeline": (
        ["--level", "none", "--print-ir-before", "simplify"],
        r"--print-ir-before: no pass named 'simplify' in the pipeline \(schedule, allocate, sanitize\)",
    ),
}


@pytest.mark.parametrize("name", sorted(PIPELINE_ERRORS))
def test_pipeline_errors(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, pattern = PIPELINE_ERRORS[name]
    assert expect_error(capsys, EXIT_PIPELINE, pattern, TARGET, *argv) == ""


def test_derivative_the_function_does_not_admit(capsys: pytest.CaptureFixture[str]) -> None:
    expect_error(
        capsys,
        EXIT_PIPELINE,
        r"error: the gradient of 'pair' needs exactly one scalar output, but it has 'p' of size 2; "
        r"use the jacobian \(or a vjp\) for vector-valued functions$",
        "tests/dump_targets/small.py:pair",
        "--kernel",
        "gradient",
    )


def test_function_failing_verification(capsys: pytest.CaptureFixture[str]) -> None:
    expect_error(
        capsys,
        EXIT_PIPELINE,
        r"error: kernel 'made' \(after lowering\): v3 uses v8, which is not defined before it$",
        "tests/dump_targets/small.py:broken",
        "--print-ir-after-all",
    )


def test_dot_over_the_node_limit(capsys: pytest.CaptureFixture[str]) -> None:
    kernel = compile_kernel(small.kernel, RustBackendConfig(), None)
    nodes = len(kernel.ops) + 1  # every value and the one output element
    assert dump(capsys, TARGET, "--emit", "dot", "--max-nodes", str(nodes))[0] == 0
    out = expect_error(
        capsys,
        EXIT_OUTPUT,
        rf"kernel 'small' has {nodes} graph nodes, more than --max-nodes {nodes - 1}; "
        r"raise --max-nodes or use --emit ir$",
        TARGET,
        "--emit",
        "dot",
        "--max-nodes",
        str(nodes - 1),
        "--print-ir-after",
        "cse",
    )
    # the sections printed before the failure are still there
    assert out == ";; ---- IR after cse (pass 2 of 5) ----\n" + format_kernel(
        PassManager(simplification_passes("basic")).run(small.kernel)
    )


def test_dump_dir_that_is_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("GRADGEN_DUMP_IR_TO", str(blocker / "ir"))
    expect_error(
        capsys,
        EXIT_OUTPUT,
        rf"cannot write IR files to GRADGEN_DUMP_IR_TO='{re.escape(str(blocker))}/ir': ",
        TARGET,
    )


# ---- the installed console script and python -m ------------------------------------------------


def _subprocess(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "GRADGEN_DUMP_IR_TO"}
    full_env.update(env or {})
    return subprocess.run(
        list(argv), cwd=ROOT, capture_output=True, text=True, env=full_env, timeout=120, check=False
    )


def test_console_script(capsys: pytest.CaptureFixture[str], text_snapshot) -> None:
    flags = ["--level", "basic", "--diff", "--emit", "dot", "--stats", "--time-passes", "--no-timings"]
    proc = _subprocess(str(CONSOLE_SCRIPT), TARGET, *flags)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == text_snapshot
    assert dump(capsys, TARGET, *flags) == (0, proc.stdout, "")


def test_console_script_module_target_and_error() -> None:
    ok = _subprocess(str(CONSOLE_SCRIPT), "tests.dump_targets.small:make_small")
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.startswith("kernel made(y: scalar) -> (z: scalar)\n")
    bad = _subprocess(str(CONSOLE_SCRIPT), TARGET, "--passes", "nope")
    assert bad.returncode == EXIT_PIPELINE
    assert bad.stdout == ""
    assert bad.stderr.startswith("gradgen-dump: error: unknown pass 'nope'; registered passes: ")
    assert bad.stderr.count("\n") == 1


def test_python_dash_m() -> None:
    proc = _subprocess(sys.executable, "-m", "gradgen.dump", TARGET, "--stats", "--emit", "none")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith(";; ---- stats ----\nkernel        small\n")
    usage = _subprocess(sys.executable, "-m", "gradgen.dump", TARGET, "--kernel", "nope")
    assert usage.returncode == EXIT_USAGE
    assert usage.stderr.startswith("gradgen-dump: error: argument --kernel: invalid choice: 'nope'")


def test_make_dump_target_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """``make dump``'s command (read from the Makefile) succeeds on ``examples/energy.py``."""
    repo = pathlib.Path(__file__).resolve().parent.parent
    makefile = (repo / "Makefile").read_text()
    line = next(ln for ln in makefile.splitlines() if "bin/gradgen-dump " in ln)
    argv = line.split("bin/gradgen-dump ", 1)[1].split()
    argv[0] = str(repo / argv[0])
    code, out, err = dump(capsys, *argv)
    assert code == 0, err
    assert ";; ---- pass timing ----" in out and "autodiff" in out


@pytest.mark.skipif(not pathlib.Path("/dev/full").exists(), reason="needs /dev/full")
def test_unwritable_stdout_is_an_output_error() -> None:
    """``gradgen-dump ... > /dev/full``: one error line and the output exit code, no traceback."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [str(CONSOLE_SCRIPT), TARGET, "--stats"],
            cwd=ROOT,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == EXIT_OUTPUT
    assert proc.stderr == "gradgen-dump: error: cannot write to standard output: No space left on device\n"
