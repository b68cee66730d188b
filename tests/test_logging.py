"""Progress of long operations: INFO lines through ``logging``, silence by default, and the
optional progress display (:func:`gradgen.enable_progress`, ``GRADGEN_PROGRESS=1``)."""

from __future__ import annotations

import io
import itertools
import logging
import os
import pathlib
import re
import stat
import subprocess
import sys

import pytest

import gradgen as gg
from gradgen import Function, SXVector
from gradgen.errors import BuildError
from gradgen.progress import ProgressHandler, progress_enabled
from tests.cargo import REPO

PASSES = ["simplify", "cse", "schedule", "allocate", "sanitize"]
PASS_LINE = re.compile(r"^pass (\d)/(\d) (\S+) +(\d+\.\d{3}) s +(\d+) -> +(\d+) ops  kernel (\S+)$")

_SCRIPT = """
import gradgen as gg
x = gg.SXVector.sym("x", 4)
f = gg.Function("chain", [x], [gg.sin(x[0]) * x[1] + x.norm2sq() + x[2] * x[3]])
f.gradient(0).generate_rust()
print("done")
"""


def _function() -> Function:
    x = SXVector.sym("x", 6)
    y = x[0]
    for k in range(1, 6):
        y = gg.sin(y) * x[k] + x[k] * x[k]
    return Function("chain", [x], [y, x.norm2sq()])


@pytest.fixture(autouse=True)
def _no_progress_display() -> object:
    gg.enable_progress(False)
    yield
    gg.enable_progress(False)


def test_pipeline_logs_one_info_line_per_pass_with_time_and_op_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    f = _function()
    with caplog.at_level(logging.INFO, logger="gradgen"):
        f.generate_rust()
    records = [r for r in caplog.records if r.name == "gradgen.passes"]
    assert [r.levelno for r in records] == [logging.INFO] * len(PASSES)
    parsed = [PASS_LINE.match(r.getMessage()) for r in records]
    assert all(parsed), [r.getMessage() for r in records]
    rows = [m.groups() for m in parsed if m]
    assert [(int(i), int(n), name) for i, n, name, *_ in rows] == [
        (k + 1, len(PASSES), name) for k, name in enumerate(PASSES)
    ]
    assert {row[6] for row in rows} == {"chain"}
    assert [r.progress for r in records] == [(k + 1, len(PASSES)) for k in range(len(PASSES))]
    # op counts chain up: each pass starts from what the previous one produced
    counts = [(int(before), int(after)) for *_, before, after, _ in rows]
    assert counts[0][0] == f.kernel.op_count()
    assert all(a[1] == b[0] for a, b in itertools.pairwise(counts))
    assert all(float(row[3]) >= 0.0 for row in rows)


def test_lowering_and_differentiation_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    x = SXVector.sym("x", 3)
    with caplog.at_level(logging.INFO, logger="gradgen"):
        f = Function("energy", [x], [gg.sin(x[0]) * x[1] + x.norm2sq()])
        f.hessian(0)
    lowered = [r.getMessage() for r in caplog.records if r.name == "gradgen.lower"]
    n = f.kernel.op_count()
    assert n == 4  # sin, mul, norm2sq, add
    assert re.fullmatch(rf"lowered energy +\d+\.\d{{3}} s +{n} ops", lowered[0]), lowered
    passes = [r.getMessage() for r in caplog.records if r.name == "gradgen.passes"]
    assert re.fullmatch(rf"pass 1/1 autodiff +\d+\.\d{{3}} s +{n} -> +\d+ ops  kernel energy", passes[0]), (
        passes
    )


def test_library_configures_no_handler() -> None:
    for name in ("gradgen", "gradgen.passes", "gradgen.lower", "gradgen.compile"):
        assert logging.getLogger(name).handlers == [], name
    assert not progress_enabled()


def test_nothing_is_printed_by_default() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRADGEN_PROGRESS"}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "done\n"
    assert proc.stderr == ""


def test_environment_variable_turns_the_progress_display_on() -> None:
    env = {**os.environ, "GRADGEN_PROGRESS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "done\n"
    lines = proc.stderr.splitlines()
    assert re.fullmatch(r"lowered chain +\d+\.\d{3} s +\d+ ops", lines[0]), lines
    assert re.fullmatch(r"\[####################\] pass 1/1 autodiff .* kernel chain", lines[1]), lines
    bars = [ln for ln in lines if ln.startswith("[") and "kernel chain_gradient_x" in ln]
    assert [ln.split("] ")[1].split()[1] for ln in bars] == [f"{k}/5" for k in range(1, 6)]


def test_enable_progress_draws_a_bar_per_pass_and_can_be_turned_off() -> None:
    f = _function()
    out = io.StringIO()
    logger = logging.getLogger("gradgen")
    level = logger.level
    gg.enable_progress(stream=out)
    assert progress_enabled() and logger.getEffectiveLevel() == logging.INFO
    f.generate_rust()
    lines = out.getvalue().splitlines()
    assert len(lines) == len(PASSES)
    for k, (line, name) in enumerate(zip(lines, PASSES, strict=True), start=1):
        filled = 20 * k // len(PASSES)
        bar = "[" + "#" * filled + "-" * (20 - filled) + "]"
        assert line.startswith(f"{bar} pass {k}/{len(PASSES)} {name} "), line
        assert PASS_LINE.match(line[len(bar) + 1 :]), line
    gg.enable_progress(False)
    assert not progress_enabled() and logger.level == level and logger.handlers == []
    f.generate_rust()
    assert out.getvalue().splitlines() == lines


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_overwrites_the_line_until_the_last_step() -> None:
    term = _Terminal()
    handler = ProgressHandler(term)
    log = logging.getLogger("gradgen.test-progress")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for k in (1, 2):
            log.info("step %d", k, extra={"progress": (k, 2)})
        log.info("plain line")
    finally:
        log.removeHandler(handler)
    assert term.getvalue() == (
        "\r\x1b[K[##########----------] step 1\r\x1b[K[####################] step 2\n\r\x1b[Kplain line\n"
    )


def test_cargo_build_is_logged(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    # a stand-in toolchain: rustc/cargo report versions, `cargo build` fails at once, so the test
    # sees the INFO lines of a build without compiling anything
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_cargo = 'if [ "$1" = "-V" ]; then echo "cargo 0.0.0-test"; else echo "no build" >&2; exit 3; fi'
    for tool, script in {"rustc": 'echo "rustc 0.0.0-test"', "cargo": fake_cargo}.items():
        path = bin_dir / tool
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": str(bin_dir)}
    env.pop("CARGO_TARGET_DIR", None)
    x = SXVector.sym("x", 2)
    f = Function("tiny", [x], [x.norm2sq()])
    with caplog.at_level(logging.INFO, logger="gradgen"), pytest.raises(BuildError, match="exit code 3"):
        gg.compile(f, build_dir=tmp_path / "cache", env=env)
    messages = [r.getMessage() for r in caplog.records if r.name == "gradgen.compile"]
    assert re.fullmatch(r"crate tiny: cargo build --release in .*wrapper", messages[0]), messages
    assert re.fullmatch(r"crate tiny: cargo build finished in \d+\.\d s \(exit code 3\)", messages[1]), (
        messages
    )
