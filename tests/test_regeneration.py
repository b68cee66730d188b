"""Regeneration updates a crate in place: only generated files change, each by a rename within its
own directory; directories, modes, setgid bits, symlinks, working directories and read-only
parents are left alone; a failure midway restores every file."""

from __future__ import annotations

import contextlib
import os
import pathlib
import stat
import subprocess
from collections.abc import Iterator

import pytest

import gradgen as gg
from gradgen import SX, Function, ProjectWriteError
from gradgen.backends import writes
from gradgen.backends.writes import plan_write, read_marker, with_marker, write_project

FILES_A = {"Cargo.toml": "a = 1\n", "README.md": "# a\n", "src/lib.rs": "// a\n"}
FILES_B = {"Cargo.toml": "b = 2\n", "README.md": "# b\n", "src/lib.rs": "// b\n"}


def _fn(name: str = "sq") -> Function:
    x = SX.sym("x")
    return Function(name, [x], [x * x + 1], input_names=["x"], output_names=["y"])


def leftovers(*dirs: pathlib.Path) -> list[str]:
    """Temporary names of the writer left anywhere under (or next to) ``dirs``."""
    out = []
    for d in dirs:
        for p in [*d.parent.iterdir(), *d.rglob("*")]:
            if p.name.startswith((".gradgen-tmp-", ".gradgen-old-")):
                out.append(str(p))
    return out


def assert_is_b(crate: pathlib.Path) -> None:
    assert (crate / "README.md").read_text() == "# b\n"
    assert (crate / "src" / "lib.rs").read_text() == "// b\n"
    assert (crate / "Cargo.toml").read_text() == with_marker("b = 2\n", list(FILES_B))


def test_a_crate_path_that_is_a_symlink_stays_one(tmp_path: pathlib.Path) -> None:
    real = tmp_path / "real"
    write_project(real, FILES_A)
    (real / "notes.txt").write_text("mine\n")
    link = tmp_path / "link"
    link.symlink_to("real")
    write_project(link, FILES_B)
    assert link.is_symlink() and os.readlink(link) == "real"
    assert_is_b(real)
    assert (real / "notes.txt").read_text() == "mine\n" and (real / "notes.txt").stat().st_nlink == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]
    assert not leftovers(real)


def test_a_generated_file_that_is_a_symlink_stays_one(tmp_path: pathlib.Path) -> None:
    crate = tmp_path / "crate"
    write_project(crate, FILES_A)
    shared = tmp_path / "shared_readme.md"
    (crate / "README.md").rename(shared)
    (crate / "README.md").symlink_to(shared)
    write_project(crate, FILES_B)
    assert (crate / "README.md").is_symlink() and shared.read_text() == "# b\n"
    assert not leftovers(crate)


def test_a_working_directory_inside_the_crate_survives(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crate = tmp_path / "crate"
    write_project(crate, FILES_A)
    src = crate / "src"
    ino = src.stat().st_ino
    shell = subprocess.Popen(  # a shell sitting in src/ while the crate is regenerated
        ["sh", "-c", f"cd {str(src)!r} && echo ready && read _ && cat lib.rs && pwd -P"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert shell.stdout is not None and shell.stdout.readline() == "ready\n"
    monkeypatch.chdir(src)
    write_project(crate, FILES_B)
    out, _ = shell.communicate("\n", timeout=60)
    assert shell.returncode == 0 and out.splitlines() == ["// b", str(src.resolve())]
    assert os.path.samefile(os.getcwd(), src) and src.stat().st_ino == ino
    assert pathlib.Path("lib.rs").read_text() == "// b\n"


def test_create_rust_project_in_the_current_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here_crate"
    here.mkdir()
    monkeypatch.chdir(here)
    first = gg.create_rust_project(_fn(), ".")
    assert first.crate_name == "here_crate"
    pathlib.Path("tests").mkdir(exist_ok=True)  # the generated self-tests live there too
    pathlib.Path("tests/t.rs").write_text("// mine\n")
    gg.create_rust_project(_fn("other"), ".")
    assert "pub fn other(" in pathlib.Path("src/lib.rs").read_text()
    assert pathlib.Path("tests/t.rs").read_text() == "// mine\n"
    assert pathlib.Path("tests/reference.rs").exists()  # the generated self-tests, beside the user's
    assert os.path.samefile(os.getcwd(), here)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here_crate"]


@contextlib.contextmanager
def read_only(directory: pathlib.Path) -> Iterator[None]:
    """``directory`` made unwritable (chmod, or the immutable attribute when running as root)."""
    mode = directory.stat().st_mode
    os.chmod(directory, 0o555)
    immutable = False
    probe = directory / "probe"
    try:
        try:
            probe.write_text("")
        except OSError:
            pass
        else:  # root ignores modes
            probe.unlink()
            immutable = subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode == 0
            if not immutable:
                pytest.skip("cannot make a directory read-only here")
        with pytest.raises(OSError):
            probe.write_text("")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        os.chmod(directory, mode)


def test_regeneration_under_a_read_only_parent(tmp_path: pathlib.Path) -> None:
    parent = tmp_path / "parent"
    crate = parent / "crate"
    write_project(crate, {**FILES_A, "src/gone.rs": "// old\n"})
    with read_only(parent):
        write_project(crate, FILES_B)
        assert_is_b(crate)
        assert not (crate / "src" / "gone.rs").exists()
        with pytest.raises(ProjectWriteError, match="cannot write the Rust project"):
            write_project(parent / "new_crate", FILES_A)
    assert sorted(p.name for p in parent.iterdir()) == ["crate"]


def test_modes_setgid_and_user_directories_are_kept(tmp_path: pathlib.Path) -> None:
    crate = tmp_path / "crate"
    write_project(crate, FILES_A)
    private = crate / "private"
    private.mkdir()
    os.chmod(private, 0o700)
    (private / "key.txt").write_text("secret\n")
    os.chmod(crate, 0o2775)
    os.chmod(crate / "src", 0o2750)
    os.chmod(crate / "README.md", 0o600)
    os.chmod(crate / "src" / "lib.rs", 0o640)
    inodes = {p: (crate / p).stat().st_ino for p in ("", "src", "private", "private/key.txt")}
    write_project(crate, FILES_B)
    assert_is_b(crate)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE(crate.stat().st_mode) == 0o2775
    assert stat.S_IMODE((crate / "src").stat().st_mode) == 0o2750
    assert stat.S_IMODE((crate / "README.md").stat().st_mode) == 0o600
    assert stat.S_IMODE((crate / "src" / "lib.rs").stat().st_mode) == 0o640
    assert {p: (crate / p).stat().st_ino for p in inodes} == inodes
    assert (private / "key.txt").stat().st_nlink == 1


def test_a_new_crate_in_a_setgid_directory_inherits_it(tmp_path: pathlib.Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chmod(parent, 0o2775)
    write_project(parent / "crate", FILES_A)
    assert (parent / "crate").stat().st_mode & stat.S_ISGID
    assert (parent / "crate" / "src").stat().st_mode & stat.S_ISGID


@pytest.mark.parametrize("length", [234, 255])
def test_long_directory_names(tmp_path: pathlib.Path, length: int) -> None:
    crate = tmp_path / ("c" * length)
    write_project(crate, FILES_A)
    write_project(crate, FILES_B)
    assert_is_b(crate)
    assert not leftovers(crate)


def test_refusing_a_foreign_directory_reads_only_that_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = tmp_path / "foreign"
    deep = foreign / "data"
    for i in range(30):
        deep = deep / f"level{i}"
    deep.mkdir(parents=True)
    (deep / "x.txt").write_text("x")
    (foreign / "main.py").write_text("")
    scanned: list[str] = []
    real = os.scandir

    def counting(path: str | os.PathLike[str] = ".") -> object:
        scanned.append(str(path))
        return real(path)

    monkeypatch.setattr(writes.os, "scandir", counting)
    with pytest.raises(ProjectWriteError, match=r"did not generate \(data/, main\.py\)"):
        write_project(foreign, FILES_A)
    assert len(scanned) <= 1
    with pytest.raises(ProjectWriteError, match="refusing to write a Rust project into '/'"):
        plan_write("/", list(FILES_A))


def test_a_failure_between_renames_restores_every_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crate = tmp_path / "crate"
    write_project(crate, {**FILES_A, "src/old.rs": "// old\n"})
    (crate / "tests").mkdir()
    (crate / "tests" / "t.rs").write_text("// user\n")
    before = {p.relative_to(crate).as_posix(): p.read_bytes() for p in crate.rglob("*") if p.is_file()}
    real = os.rename
    calls = {"n": 0}

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if pathlib.Path(src).name.startswith(".gradgen-tmp-"):
            calls["n"] += 1
            if calls["n"] == 3:  # after two generated files were renamed into place
                raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(writes.os, "rename", rename)
    with pytest.raises(ProjectWriteError, match="Input/output error"):
        write_project(crate, {**FILES_B, "src/new.rs": "// new\n"})
    after = {p.relative_to(crate).as_posix(): p.read_bytes() for p in crate.rglob("*") if p.is_file()}
    assert after == before
    assert not leftovers(crate)


def test_a_tampered_marker_never_removes_files_outside_the_crate(tmp_path: pathlib.Path) -> None:
    crate = tmp_path / "crate"
    outside = tmp_path / "precious.txt"
    outside.write_text("keep\n")
    write_project(crate, FILES_A)
    manifest = with_marker("a = 1\n", [*FILES_A, "../precious.txt", str(outside)])
    (crate / "Cargo.toml").write_text(manifest)
    write_project(crate, FILES_B)
    assert outside.read_text() == "keep\n"
    assert read_marker(crate) == frozenset(FILES_B)


def test_a_directory_where_a_generated_file_goes_is_refused_before_writing(tmp_path: pathlib.Path) -> None:
    crate = tmp_path / "crate"
    write_project(crate, FILES_A)
    (crate / "README.md").unlink()
    (crate / "README.md").mkdir()
    with pytest.raises(ProjectWriteError, match=r"'README\.md' is a directory there"):
        write_project(crate, FILES_B)
    assert (crate / "src" / "lib.rs").read_text() == "// a\n"
