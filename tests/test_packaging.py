"""The wheel ships one top-level package, ``gradgen``, with the compiler floors inside it."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_wheel_has_one_top_level_package(tmp_path: pathlib.Path) -> None:
    # build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("gradgen", "ir", "passes", "backends"):
        shutil.copytree(
            ROOT / folder, src / folder, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*pip, "-w", str(tmp_path), str(src)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("gradgen-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"gradgen"}
    for floor in ("ir", "passes", "backends"):
        assert f"gradgen/{floor}/__init__.py" in names
    # the floors are real files in the wheel, not links, and nothing else of the repository ships
    assert "gradgen/ir/kernel.py" in names
    assert "gradgen/backends/rust.py" in names
    assert not any(n.startswith(("tests/", "gradgen/tests/", "examples/")) for n in names)
    assert "gradgen/py.typed" in names
