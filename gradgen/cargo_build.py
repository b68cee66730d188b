"""``RustBackendConfig.with_build_crate()`` and ``with_build_python_interface()``: run ``cargo
build`` on a crate gradgen just wrote."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
from collections.abc import Mapping

from gradgen.errors import BuildError

#: lines of cargo's output quoted in a BuildError
OUTPUT_TAIL = 30
#: file names of a shared library cargo builds for a ``cdylib`` target
_LIBRARY_SUFFIXES = (".so", ".dylib", ".dll")


def _cargo(
    project_dir: pathlib.Path, args: list[str], env: Mapping[str, str] | None, option: str
) -> subprocess.CompletedProcess[str]:
    run_env = dict(os.environ if env is None else env)
    if shutil.which("cargo", path=run_env.get("PATH", "")) is None:
        raise BuildError(
            f"{option} runs `cargo build`, but cargo was not found on PATH; install the Rust "
            "toolchain (https://rustup.rs) or leave the option off (the crate is written)"
        )
    try:
        proc = subprocess.run(args, cwd=project_dir, env=run_env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BuildError(f"cannot run cargo in {str(project_dir)!r}: {exc}") from exc
    if proc.returncode != 0:
        shown = proc.stderr if "--message-format" in " ".join(args) else proc.stdout + proc.stderr
        tail = "\n".join(shown.splitlines()[-OUTPUT_TAIL:])
        raise BuildError(f"`{' '.join(args)}` failed in {str(project_dir)!r}:\n{tail}")
    return proc


def cargo_build(project_dir: pathlib.Path, profile: str, env: Mapping[str, str] | None = None) -> None:
    """``cargo build`` (``--release`` for the release profile) in ``project_dir``.

    Raises :class:`BuildError` when cargo is not on PATH or the build fails (with the tail of
    cargo's output)."""
    args = ["cargo", "build", *(["--release"] if profile == "release" else [])]
    _cargo(project_dir, args, env, "with_build_crate(True)")


def cargo_build_library(
    project_dir: pathlib.Path, package: str, profile: str, env: Mapping[str, str] | None = None
) -> pathlib.Path:
    """``cargo build`` of the ``cdylib`` crate ``package`` in ``project_dir``; the path of the
    shared library cargo wrote (read from cargo's JSON messages, so ``CARGO_TARGET_DIR`` and
    the platform's file name are honoured). :class:`BuildError` as :func:`cargo_build`."""
    args = ["cargo", "build", *(["--release"] if profile == "release" else [])]
    args.append("--message-format=json-render-diagnostics")
    proc = _cargo(project_dir, args, env, "with_build_python_interface(True)")
    for line in proc.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        target = message.get("target") if isinstance(message, dict) else None
        if message.get("reason") != "compiler-artifact" or not isinstance(target, dict):
            continue
        if target.get("name") != package or "cdylib" not in target.get("kind", []):
            continue
        for name in message.get("filenames", []):
            if str(name).endswith(_LIBRARY_SUFFIXES):
                return pathlib.Path(name)
    raise BuildError(f"`{' '.join(args)}` in {str(project_dir)!r} reported no shared library of {package!r}")
