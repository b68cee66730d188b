"""``RustBackendConfig.with_build_crate()``: run ``cargo build`` on a crate gradgen just wrote."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Mapping

from gradgen.errors import BuildError

#: lines of cargo's output quoted in a BuildError
OUTPUT_TAIL = 30


def cargo_build(project_dir: pathlib.Path, profile: str, env: Mapping[str, str] | None = None) -> None:
    """``cargo build`` (``--release`` for the release profile) in ``project_dir``.

    Raises :class:`BuildError` when cargo is not on PATH or the build fails (with the tail of
    cargo's output)."""
    run_env = dict(os.environ if env is None else env)
    if shutil.which("cargo", path=run_env.get("PATH", "")) is None:
        raise BuildError(
            "with_build_crate(True) runs `cargo build`, but cargo was not found on PATH; install the "
            "Rust toolchain (https://rustup.rs) or leave build_crate off (the crate is written)"
        )
    args = ["cargo", "build", *(["--release"] if profile == "release" else [])]
    try:
        proc = subprocess.run(args, cwd=project_dir, env=run_env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BuildError(f"cannot run cargo in {str(project_dir)!r}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-OUTPUT_TAIL:])
        raise BuildError(f"`{' '.join(args)}` failed in {str(project_dir)!r}:\n{tail}")
