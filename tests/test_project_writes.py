"""Safe project writes (``backends/writes.py``): ownership marker, refusal of foreign
directories unless ``overwrite=True``, atomic replacement, user files surviving regeneration,
and no half-written directory after a failure."""

from __future__ import annotations

import os
import pathlib
import tomllib

import pytest

import gradgen as gg
from gradgen import SX, CodeGenerationBuilder, Function, ProjectWriteError
from gradgen.backends import writes
from gradgen.backends.crate import write_crate
from gradgen.backends.writes import MARKER_TABLE, plan_write, read_marker, with_marker, write_project


def _fn(name: str = "sq") -> Function:
    x = SX.sym("x")
    return Function(name, [x], [x * x + 1], input_names=["x"], output_names=["y"])


def snapshot_tree(root: pathlib.Path) -> dict[str, str]:
    """Relative path -> content (``-> target`` for symlinks, ``/`` for directories)."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_dir():
            out[rel] = "/"
        else:
            out[rel] = p.read_text()
    return out


def siblings(path: pathlib.Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


FILES_A = {"Cargo.toml": "a = 1\n", "README.md": "# a\n", "src/lib.rs": "// a\n"}
FILES_B = {"Cargo.toml": "b = 2\n", "README.md": "# b\n", "src/lib.rs": "// b\n"}


# ---- fresh and generated directories ----------------------------------------------------------


def test_new_directory_gets_the_files_and_a_marker(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "deep" / "er" / "crate"
    write_project(target, FILES_A)
    tree = snapshot_tree(target)
    assert sorted(tree) == ["Cargo.toml", "README.md", "src", "src/lib.rs"]  # no extra file
    assert tree["README.md"] == FILES_A["README.md"] and tree["src/lib.rs"] == FILES_A["src/lib.rs"]
    assert tree["Cargo.toml"] == with_marker(FILES_A["Cargo.toml"], list(FILES_A))
    assert tree["Cargo.toml"].startswith("a = 1\n\n[package.metadata.gradgen]\n")
    assert 'generated = ["Cargo.toml", "README.md", "src/lib.rs"]\n' in tree["Cargo.toml"]
    assert tomllib.loads(tree["Cargo.toml"])["package"]["metadata"]["gradgen"]["generated"] == sorted(FILES_A)
    assert read_marker(target) == frozenset(FILES_A)
    assert siblings(target) == []


def test_generated_crate_with_the_marker_builds(tmp_path: pathlib.Path) -> None:
    """cargo accepts the ownership table (``package.metadata`` is reserved for tools)."""
    from tests.cargo import cargo

    project = gg.create_rust_project(_fn(), tmp_path / "marked")
    proc = cargo(["build"], project.project_dir)
    assert "warning" not in proc.stderr, proc.stderr
    assert MARKER_TABLE == "package.metadata.gradgen"


def test_empty_existing_directory_is_fine(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    write_project(target, FILES_A)
    assert (target / "src" / "lib.rs").read_text() == "// a\n"


def test_regeneration_replaces_generated_files_and_keeps_user_files(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "crate"
    write_project(target, {**FILES_A, "src/old_helper.rs": "// gone next time\n"})
    user = {
        "tests/it.rs": "#[test] fn t() {}\n",
        "benches/b.rs": "// bench\n",
        "examples/e.rs": "fn main() {}\n",
        "Cargo.lock": "# lock\n",
        "src/extra.rs": "// mine\n",
        "notes/deep/nested.txt": "keep me\n",
    }
    for rel, text in user.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(text)
    (target / "empty_dir").mkdir()
    os.symlink("src/extra.rs", target / "link.rs")
    write_project(target, FILES_B)
    tree = snapshot_tree(target)
    for rel, text in {**FILES_B, **user}.items():
        assert tree[rel] == (with_marker(text, list(FILES_B)) if rel == "Cargo.toml" else text), rel
    assert "src/old_helper.rs" not in tree  # gradgen's own file from last time, not generated now
    assert tree["empty_dir"] == "/"
    assert tree["link.rs"] == "-> src/extra.rs"
    assert read_marker(target) == frozenset(FILES_B)
    assert siblings(target) == []


def test_write_crate_and_create_rust_project_regenerate_in_place(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "sq_crate"
    gg.create_rust_project(_fn(), target)
    (target / "tests").mkdir(exist_ok=True)  # the crate's own self-tests live there too
    (target / "tests" / "api.rs").write_text("// user test\n")
    first = (target / "src" / "lib.rs").read_text()
    result = gg.create_rust_project(_fn("other"), target)
    assert result.project_dir == target
    assert (target / "tests" / "api.rs").read_text() == "// user test\n"
    second = (target / "src" / "lib.rs").read_text()
    assert "pub fn other(" in second and "pub fn sq(" in first and second != first
    assert read_marker(target) == frozenset(
        {"Cargo.toml", "README.md", "metadata.json", "src/lib.rs", "tests/reference.rs"}
    )
    assert "fn other_matches_the_python_evaluator()" in (target / "tests" / "reference.rs").read_text()


def test_write_crate_extra_files_are_generated_files(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "x"
    write_crate(target, "x", "// src\n", ["f"], False, extra_files={"metadata.json": "{}\n"})
    assert read_marker(target) == frozenset({"Cargo.toml", "README.md", "src/lib.rs", "metadata.json"})
    write_crate(target, "x", "// src 2\n", ["f"], False)
    assert not (target / "metadata.json").exists()


def test_derivative_bundle_can_be_written_twice(tmp_path: pathlib.Path) -> None:
    f = _fn()
    gg.create_rust_derivative_bundle(f, tmp_path / "bundle")
    (tmp_path / "bundle" / "primal" / "benches").mkdir()
    (tmp_path / "bundle" / "primal" / "benches" / "b.rs").write_text("// b\n")
    gg.create_rust_derivative_bundle(f, tmp_path / "bundle")
    assert (tmp_path / "bundle" / "primal" / "benches" / "b.rs").read_text() == "// b\n"


def test_builder_build_refuses_foreign_directory_and_regenerates_its_own(tmp_path: pathlib.Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "main.py").write_text("print('hi')\n")
    builder = CodeGenerationBuilder().for_function(_fn()).add_primal().done()
    with pytest.raises(ProjectWriteError, match=r"holds files that gradgen did not generate \(main\.py\)"):
        builder.build(foreign)
    assert snapshot_tree(foreign) == {"main.py": "print('hi')\n"}
    own = tmp_path / "own"
    builder.build(own)
    (own / "examples").mkdir()
    (own / "examples" / "demo.rs").write_text("fn main() {}\n")
    builder.build(own)
    assert (own / "examples" / "demo.rs").read_text() == "fn main() {}\n"
    assert (own / "metadata.json").is_file()


# ---- foreign directories -------------------------------------------------------------------------


def test_foreign_directory_is_refused_with_the_files_listed(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    for i in range(7):
        (target / f"f{i}.txt").write_text(str(i))
    before = snapshot_tree(target)
    with pytest.raises(ProjectWriteError) as info:
        write_project(target, FILES_A)
    msg = str(info.value)
    assert f"refusing to write a Rust project into {str(target)!r}" in msg
    assert "(f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and 2 more)" in msg
    assert "overwrite=True" in msg
    assert snapshot_tree(target) == before
    assert siblings(target) == []


def test_create_rust_project_refuses_foreign_directory_before_writing(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    (target / "Cargo.toml").write_text('[package]\nname = "hand_written"\n')
    with pytest.raises(ProjectWriteError, match=r"did not generate \(Cargo\.toml\)"):
        gg.create_rust_project(_fn(), target)
    assert snapshot_tree(target) == {"Cargo.toml": '[package]\nname = "hand_written"\n'}


def test_overwrite_true_writes_into_a_foreign_directory_keeping_other_files(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    (target / "Cargo.toml").write_text("hand written\n")
    (target / "data.csv").write_text("1,2\n")
    gg.create_rust_project(_fn(), target, overwrite=True)
    assert (target / "data.csv").read_text() == "1,2\n"
    assert (target / "Cargo.toml").read_text().startswith("[package]")
    assert read_marker(target) is not None
    gg.create_rust_project(_fn(), target)  # now it is gradgen's: no overwrite needed


@pytest.mark.parametrize(
    "manifest",
    [
        '[package]\nname = "x"\n',
        "[package.metadata.gradgen]\ngenerated = 3\n",
        "[package.metadata.gradgen]\ngenerated = [1]\n",
        "not toml [",
    ],
)
def test_a_manifest_without_a_valid_marker_is_foreign(tmp_path: pathlib.Path, manifest: str) -> None:
    target = tmp_path / "fake"
    target.mkdir()
    (target / "Cargo.toml").write_text(manifest)
    assert read_marker(target) is None
    with pytest.raises(ProjectWriteError, match=r"did not generate \(Cargo\.toml\)"):
        write_project(target, FILES_A)
    assert (target / "Cargo.toml").read_text() == manifest


def test_paths_that_are_files_are_refused(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ProjectWriteError, match=rf"cannot create a Rust project at {str(f)!r}: it is a file"):
        write_project(f, FILES_A)
    with pytest.raises(ProjectWriteError, match=r"'.*file' is a file"):
        write_project(f / "sub" / "crate", FILES_A)
    with pytest.raises(ProjectWriteError, match="it is a file"):
        gg.create_rust_project(_fn(), f, overwrite=True)
    assert f.read_text() == "x"


def test_overwrite_must_be_a_bool(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ProjectWriteError, match="overwrite must be True or False, got 'yes'"):
        plan_write(tmp_path / "c", ["Cargo.toml"], overwrite="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["../escape.rs", "/abs.rs", "src/../../x.rs"])
def test_generated_file_names_stay_inside_the_crate(tmp_path: pathlib.Path, name: str) -> None:
    with pytest.raises(ProjectWriteError, match=rf"invalid generated file name {name!r}"):
        write_project(tmp_path / "c", {**FILES_A, name: "x"})
    assert not (tmp_path / "c").exists()


def test_a_crate_needs_a_manifest(tmp_path: pathlib.Path) -> None:
    with pytest.raises(
        ProjectWriteError, match=r"a generated crate needs a Cargo\.toml; got the files \['src/lib\.rs'\]"
    ):
        write_project(tmp_path / "c", {"src/lib.rs": "//"})
    assert not (tmp_path / "c").exists()


# ---- failures midway ---------------------------------------------------------------------------


def _failing_after(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    real = writes._write_file
    calls = {"n": 0}

    def flaky(root: pathlib.Path, rel: str, text: str) -> None:
        calls["n"] += 1
        if calls["n"] > n:
            raise OSError(28, "No space left on device")
        real(root, rel, text)

    monkeypatch.setattr(writes, "_write_file", flaky)


def test_failure_while_writing_leaves_the_old_crate_intact(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "crate"
    write_project(target, FILES_A)
    (target / "tests").mkdir()
    (target / "tests" / "t.rs").write_text("// user\n")
    before = snapshot_tree(target)
    _failing_after(2, monkeypatch)
    with pytest.raises(
        ProjectWriteError, match=r"cannot write the Rust project at .*No space left on device"
    ):
        write_project(target, FILES_B)
    assert snapshot_tree(target) == before
    assert siblings(target) == []


def test_failure_while_writing_a_new_crate_leaves_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_after(1, monkeypatch)
    with pytest.raises(ProjectWriteError, match="No space left on device"):
        gg.create_rust_project(_fn(), tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failure_of_the_swap_restores_the_old_crate(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "crate"
    write_project(target, FILES_A)
    (target / "benches").mkdir()
    (target / "benches" / "b.rs").write_text("// user bench\n")
    before = snapshot_tree(target)
    real = os.rename

    def rename(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if pathlib.Path(src).name.startswith(".gradgen-tmp-"):
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(writes.os, "rename", rename)
    with pytest.raises(ProjectWriteError, match="Input/output error"):
        write_project(target, FILES_B)
    assert snapshot_tree(target) == before
    assert siblings(target) == []


def test_interrupt_during_write_cleans_up_and_propagates(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "crate"
    write_project(target, FILES_A)
    before = snapshot_tree(target)

    def boom(root: pathlib.Path, rel: str, text: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writes, "_write_file", boom)
    with pytest.raises(KeyboardInterrupt):
        write_project(target, FILES_B)
    assert snapshot_tree(target) == before
    assert siblings(target) == []


def test_builder_writes_metadata_atomically_and_honours_overwrite(tmp_path: pathlib.Path) -> None:
    """``metadata.json`` is one of the crate's generated files, and ``build`` refuses a directory
    of foreign files unless ``overwrite=True``."""
    x = SX.sym("x")
    f = Function("f", [x], [x * x])
    target = tmp_path / "crate"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ProjectWriteError, match=r"did not generate \(notes\.txt\)"):
        CodeGenerationBuilder(f).add_primal().build(target)
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    CodeGenerationBuilder(f).add_primal().build(target, overwrite=True)
    manifest = (target / "Cargo.toml").read_text()
    assert "metadata.json" in manifest and (target / "metadata.json").is_file()
    assert (target / "notes.txt").read_text() == "mine"
