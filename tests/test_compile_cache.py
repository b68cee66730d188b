"""The ``gradgen.compile`` cache under concurrency and damage: several processes compiling the same
new function into one cache, and corrupt cache entries detected and rebuilt."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
import uuid

import pytest

import gradgen as gg
from gradgen import SX, Function
from tests.cargo import REPO, cargo_env

PROCESSES = 4

_CHILD = """
import json, sys
import gradgen as gg
from gradgen import SX, Function
sys.stdin.readline()  # start together
x = SX.sym("x")
f = Function(sys.argv[2], [x], [x * x + float(sys.argv[3])], input_names=["x"], output_names=["y"])
c = gg.compile(f, build_dir=sys.argv[1])
print(json.dumps({"built": c.library.built, "value": c(3.0), "path": str(c.library.path)}))
"""


def test_processes_compiling_the_same_new_function_share_one_build(tmp_path: pathlib.Path) -> None:
    name = f"shared_{uuid.uuid4().hex[:8]}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(tmp_path), name, "0.5"],
            cwd=REPO,
            env=cargo_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for p in procs:  # every child is at its barrier before any starts
        assert p.stdin is not None
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert [r["value"] for r in results] == [9.5] * PROCESSES
    assert sorted(r["built"] for r in results) == [False] * (PROCESSES - 1) + [True]  # one build
    assert len({r["path"] for r in results}) == 1
    entries = [p for p in tmp_path.iterdir() if (p / "build.json").is_file()]
    assert len(entries) == 1
    assert not [p.name for p in entries[0].iterdir() if p.name.endswith(".tmp")]


def _square(name: str) -> Function:
    x = SX.sym("x")
    return Function(name, [x], [x * x + 1], input_names=["x"], output_names=["y"])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, Function]:
    cache = tmp_path_factory.mktemp("damaged-cache")
    f = _square("damaged")
    assert gg.compile(f, build_dir=cache, env=cargo_env()).library.built
    return cache, f


def _recompile(
    built: tuple[pathlib.Path, Function], damage: str, caplog: pytest.LogCaptureFixture
) -> gg.native_call.CompiledFunction:
    cache, f = built
    first = gg.compile(f, build_dir=cache, env=cargo_env())
    assert not first.library.built
    record = first.library.entry / "build.json"
    if damage == "truncated library":  # a new file: this process has the library mapped
        data = first.library.path.read_bytes()
        first.library.path.unlink()
        first.library.path.write_bytes(data[: len(data) // 2])
    elif damage == "missing library":
        first.library.path.unlink()
    elif damage == "not json":
        record.write_text('{"library": "libgradgen')
    elif damage == "not an object":
        record.write_text("[1, 2]\n")
    elif damage == "absolute path":
        outside = first.library.entry.parent / "outside.so"
        outside.write_bytes(first.library.path.read_bytes())
        rec = json.loads(record.read_text())
        record.write_text(json.dumps({**rec, "library": str(outside)}))
    elif damage == "parent path":
        rec = json.loads(record.read_text())
        outside = first.library.entry.parent / rec["library"]
        outside.write_bytes(first.library.path.read_bytes())
        record.write_text(json.dumps({**rec, "library": "../" + rec["library"]}))
    with caplog.at_level(logging.WARNING, logger="gradgen.compile"):
        again = gg.compile(f, build_dir=cache, env=cargo_env())
    assert again.library.built, damage
    assert "building again" in caplog.text
    assert again.library.path.parent == first.library.entry
    rec = json.loads(record.read_text())
    assert again.library.path.name == rec["library"]
    assert again.library.path.stat().st_size == rec["size"]
    assert again(2.0) == 5.0
    assert not gg.compile(f, build_dir=cache, env=cargo_env()).library.built  # whole again
    return again


@pytest.mark.parametrize(
    "damage",
    ["truncated library", "missing library", "not json", "not an object", "absolute path", "parent path"],
)
def test_a_damaged_cache_entry_is_rebuilt(
    built: tuple[pathlib.Path, Function], damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    _recompile(built, damage, caplog)


def test_the_cache_writes_no_shared_temporary_names(
    built: tuple[pathlib.Path, Function], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every temporary file name is unique to its writer (pid and random part)."""
    from gradgen import native_build

    names: list[str] = []
    real = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        names.append(pathlib.Path(src).name)
        real(src, dst)

    cache, f = built
    monkeypatch.setattr(native_build.os, "replace", spy)
    (next(p for p in cache.iterdir() if (p / "build.json").is_file()) / "build.json").unlink()
    assert gg.compile(f, build_dir=cache, env=cargo_env()).library.built
    assert names and all(f".{os.getpid()}-" in n and n.endswith(".tmp") for n in names), names
