"""Building generated crates in tests: an offline cargo home and one shared target directory.

crates.io is not reachable here; generated crates depend on ``libm = "0.2"``, which Debian's
``librust-libm-dev`` provides under ``/usr/share/cargo/registry``. :func:`cargo_env` writes a
throwaway ``CARGO_HOME`` whose config replaces crates.io by that directory and sets
``net.offline``; every build shares one ``CARGO_TARGET_DIR`` so dependencies compile once.
"""

from __future__ import annotations

import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parent.parent
BUILD = REPO / "build"
CARGO_HOME = BUILD / "cargo-home"
TARGET_DIR = BUILD / "cargo-target"
DEBIAN_REGISTRY = pathlib.Path("/usr/share/cargo/registry")

_CONFIG = f"""[source.crates-io]
replace-with = "debian-registry"

[source.debian-registry]
directory = "{DEBIAN_REGISTRY}"

[net]
offline = true
"""


def cargo_env() -> dict[str, str]:
    CARGO_HOME.mkdir(parents=True, exist_ok=True)
    cfg = CARGO_HOME / "config.toml"
    if not cfg.exists() or cfg.read_text() != _CONFIG:
        cfg.write_text(_CONFIG)
    env = dict(os.environ)
    env["CARGO_HOME"] = str(CARGO_HOME)
    env["CARGO_TARGET_DIR"] = str(TARGET_DIR)
    env.setdefault("CARGO_TERM_COLOR", "never")
    return env


def cargo(
    args: list[str], crate: pathlib.Path | str, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``cargo ARGS`` in ``crate``; on failure raise with cargo's output in the message."""
    proc = subprocess.run(
        ["cargo", *args], cwd=crate, env=cargo_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"cargo {' '.join(args)} failed in {crate}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def build_and_lint(crate: pathlib.Path | str, release: bool = False) -> None:
    """``cargo build`` with warnings as errors, then ``cargo clippy -- -D warnings``."""
    env_flags = ["--release"] if release else []
    proc = cargo(["build", *env_flags], crate)
    assert "warning" not in proc.stderr, proc.stderr
    cargo(["clippy", *env_flags, "--", "-D", "warnings"], crate)


def rustfmt_check(source: str) -> str | None:
    """``None`` when ``source`` is exactly what rustfmt prints, else rustfmt's version of it."""
    proc = subprocess.run(
        ["rustfmt", "--edition", "2021", "--emit", "stdout"], input=source, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise AssertionError(f"rustfmt rejected the source:\n{proc.stderr}")
    formatted = proc.stdout
    return None if formatted == source else formatted
