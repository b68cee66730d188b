"""``make demo``: the example crate is generated, built and run, and its values match Python."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from examples.energy import POINTS, energy
from tests.cargo import REPO, build_and_lint


def test_demo_builds_runs_and_matches_python(tmp_path: pathlib.Path, cargo_available: None) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Rust and Python agree." in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip().endswith(" yes")]
    assert len(rows) == len(POINTS) * 5  # e[0] and stats[0..3] per point
    # the printed Python column is the Function's own value
    e0 = energy(*[v if len(v) > 1 else v[0] for v in POINTS[0]])[0]
    assert float(rows[0][3]) == e0
    source = (out / "src" / "lib.rs").read_text()
    for helper in ("fn norm2(", "fn norm_inf(", "fn norm_p(", "fn erf("):
        assert helper in source
    build_and_lint(out)
