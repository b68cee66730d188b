"""Generate a Rust crate from ``examples/energy.py``, build and run it with cargo, and compare
the values printed by Rust with the Python evaluation (exit status 1 when they differ).

Usage: ``python examples/demo.py --out build/demo`` (``make demo`` does this).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# the imports need the repository on sys.path first (the demo runs as a script)
from examples.energy import POINTS, energy  # noqa: E402
from gradgen import create_rust_project  # noqa: E402
from tests.cargo import cargo_env  # noqa: E402 - offline cargo home + shared target dir

CRATE = "energy_demo"


def main_rs(result, points: list[list[list[float]]]) -> str:  # type: ignore[no-untyped-def]
    """A binary calling the kernel at every point and printing each output with `{:?}`
    (Rust's shortest round-trip form, which Python's ``float`` parses exactly)."""
    lines = [f"use {CRATE}::{result.function_name};", "", "fn main() {"]
    lines.append(f"    let mut work = vec![0.0; {max(result.workspace_size, 1)}];")
    for i, point in enumerate(points):
        lines.append("    {")
        args = ["&[" + ", ".join(repr(float(v)) for v in vals) + "]" for vals in point]
        for name, size in zip(result.output_names, result.output_sizes, strict=True):
            lines.append(f"        let mut {name} = [0.0; {size}];")
            args.append(f"&mut {name}")
        args.append("&mut work")
        lines.append(f'        {result.function_name}({", ".join(args)}).expect("slice lengths match");')
        for name in result.output_names:
            lines.append(f'        println!("{i} {name} {{:?}}", {name});')
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def run(out: pathlib.Path) -> int:
    project = create_rust_project(energy, out, crate_name=CRATE)
    result = project.generation
    (out / "src" / "main.rs").write_text(main_rs(result, POINTS))
    lines = len(project.source.splitlines())
    print(f"generated {out / 'src' / 'lib.rs'} ({lines} lines), building with cargo...")
    proc = subprocess.run(
        ["cargo", "run", "-q"], cwd=out, env=cargo_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return 1
    rust: dict[tuple[int, str], list[float]] = {}
    for line in proc.stdout.splitlines():
        idx, name, values = line.split(" ", 2)
        rust[(int(idx), name)] = [float(v) for v in values.strip("[]").split(",")]
    ok = True
    print(f"{'point':>5}  {'output':<10} {'rust':>24} {'python':>24}  match")
    for i, point in enumerate(POINTS):
        py = energy(*[vals if len(vals) > 1 else vals[0] for vals in point])
        py_outputs = py if isinstance(py, tuple) else (py,)
        for name, value in zip(result.output_names, py_outputs, strict=True):
            values = list(value) if isinstance(value, list) else [value]
            for j, (r, p) in enumerate(zip(rust[(i, name)], values, strict=True)):
                same = math.isclose(r, p, rel_tol=1e-12, abs_tol=1e-300) or (math.isnan(r) and math.isnan(p))
                ok &= same
                print(f"{i:>5}  {name + f'[{j}]':<10} {r!r:>24} {p!r:>24}  {'yes' if same else 'NO'}")
    print("Rust and Python agree." if ok else "MISMATCH between Rust and Python.")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "build" / "demo", help="crate directory")
    args = parser.parse_args(argv)
    return run(args.out)


if __name__ == "__main__":
    sys.exit(main())
