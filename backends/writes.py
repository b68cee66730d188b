"""Safe, atomic writing of a generated crate directory.

Every crate gradgen writes (``create_rust_project``, ``CodeGenerationBuilder.build``, the
derivative bundle's crates) goes through :func:`write_project`:

* **Ownership.** A crate written by gradgen says so in its own ``Cargo.toml``: a
  ``[package.metadata.gradgen]`` table (cargo ignores ``package.metadata``) whose ``generated``
  array lists the files gradgen wrote (:data:`MARKER_TABLE`). Writing into a path that holds
  files gradgen did not generate (a directory without that table that is not empty) fails with
  :class:`~backends.errors.ProjectWriteError` naming a few of those files, unless ``overwrite=True``.
  A path that is a file, or whose parent is a file, always fails.
* **User files survive.** Every file in the target that is not one of gradgen's (``tests/``,
  ``benches/``, ``examples/``, ``Cargo.lock``, ``src/extra.rs``, ...) is kept by a regeneration,
  as are foreign files with ``overwrite=True``. Files gradgen generated last time and does not
  generate now are removed; a user file with the name of a file gradgen now generates is
  replaced (only possible with ``overwrite=True`` or inside a generated crate).
* **Atomic replacement.** The new crate is written into a temporary sibling directory, user
  files are hard-linked (copied where links are impossible) into it, and only then is the old
  directory renamed aside and the new one renamed into place (two renames on the same file
  system). A failure before the swap removes the temporary directory and leaves the old crate
  untouched; a failure of the second rename renames the old crate back.
* **Checks first.** :func:`plan_write` performs every check without writing anything, so
  callers can validate before they generate code.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import tomllib
from collections.abc import Mapping

import attrs

from .errors import ProjectWriteError

#: the ``Cargo.toml`` table that marks a crate as gradgen's and lists the files it generated
MARKER_TABLE = "package.metadata.gradgen"
MANIFEST = "Cargo.toml"
#: how many foreign files an error message lists
SHOWN_FOREIGN = 5
_TMP_PREFIX = ".gradgen-tmp-"
_OLD_PREFIX = ".gradgen-old-"


@attrs.frozen
class WritePlan:
    """The outcome of the checks of :func:`plan_write`."""

    path: pathlib.Path
    #: the directory exists (and is to be replaced) rather than created
    exists: bool
    #: relative posix paths gradgen generated there last time (empty without a marker)
    previous: frozenset[str]
    #: relative posix paths of the files to keep (user files)
    keep: tuple[str, ...]


def _listing(path: pathlib.Path) -> list[str]:
    """Every file and symlink under ``path`` (relative posix paths, sorted), iteratively; empty
    directories are listed with a trailing ``/`` so that they are kept too."""
    out: list[str] = []
    stack = [path]
    while stack:
        d = stack.pop()
        entries = sorted(os.scandir(d), key=lambda e: e.name)
        if not entries and d != path:
            out.append(d.relative_to(path).as_posix() + "/")
        for e in entries:
            p = pathlib.Path(e.path)
            if e.is_dir(follow_symlinks=False):
                stack.append(p)
            else:
                out.append(p.relative_to(path).as_posix())
    return sorted(out)


def read_marker(path: pathlib.Path) -> frozenset[str] | None:
    """The files listed in the ``[package.metadata.gradgen]`` table of ``path/Cargo.toml``, or
    ``None`` when there is no such (valid) table: then the directory is not gradgen's."""
    try:
        data = tomllib.loads((path / MANIFEST).read_text())
        files = data["package"]["metadata"]["gradgen"]["generated"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return frozenset(files)


def with_marker(manifest: str, files: list[str]) -> str:
    """``manifest`` (a ``Cargo.toml``) with the ownership table listing ``files`` appended."""
    listed = ", ".join(json.dumps(f) for f in sorted(files))
    return (
        manifest.rstrip("\n")
        + f"\n\n[{MARKER_TABLE}]\n"
        + "# Files written by gradgen, replaced on regeneration; other files in this directory are kept.\n"
        + f"generated = [{listed}]\n"
    )


def _check_relative(name: str) -> None:
    p = pathlib.PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ProjectWriteError(f"invalid generated file name {name!r}")


def plan_write(path: str | os.PathLike[str], generated: list[str], overwrite: bool = False) -> WritePlan:
    """Check that the crate files ``generated`` (relative posix paths) may be written at
    ``path``, without writing anything; raise :class:`ProjectWriteError` otherwise."""
    if not isinstance(overwrite, bool):
        raise ProjectWriteError(f"overwrite must be True or False, got {overwrite!r}")
    path = pathlib.Path(path)
    for name in generated:
        _check_relative(name)
    if MANIFEST not in generated:
        raise ProjectWriteError(f"a generated crate needs a {MANIFEST}; got the files {sorted(generated)}")
    for parent in path.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise ProjectWriteError(
                f"cannot create a Rust project at {str(path)!r}: {str(parent)!r} is a file"
            )
    if not path.exists():
        if path.is_symlink():
            raise ProjectWriteError(f"cannot create a Rust project at {str(path)!r}: it is a broken symlink")
        return WritePlan(path, False, frozenset(), ())
    if not path.is_dir():
        raise ProjectWriteError(f"cannot create a Rust project at {str(path)!r}: it is a file")
    try:
        files = _listing(path)
    except OSError as exc:
        raise ProjectWriteError(f"cannot read the directory {str(path)!r}: {exc}") from exc
    previous = read_marker(path)
    if previous is None:
        foreign = files
        if foreign and not overwrite:
            shown = ", ".join(foreign[:SHOWN_FOREIGN])
            more = f" and {len(foreign) - SHOWN_FOREIGN} more" if len(foreign) > SHOWN_FOREIGN else ""
            raise ProjectWriteError(
                f"refusing to write a Rust project into {str(path)!r}: it holds files that gradgen did "
                f"not generate ({shown}{more}); choose an empty or new directory, or pass "
                "overwrite=True to write the crate there (files gradgen generates are replaced, "
                "all others are kept)"
            )
        previous = frozenset()
    new = set(generated)
    keep = tuple(f for f in files if f not in new and f not in previous and f.rstrip("/") not in new)
    return WritePlan(path, True, previous, keep)


def _write_file(root: pathlib.Path, rel: str, text: str) -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def _link_or_copy(src: pathlib.Path, dst: pathlib.Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _remove_tree(path: pathlib.Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def write_project(
    path: str | os.PathLike[str], files: Mapping[str, str], overwrite: bool = False
) -> pathlib.Path:
    """Write ``files`` (relative posix path -> text) as the crate directory ``path`` after the
    checks of :func:`plan_write`, atomically, keeping user files; returns the path."""
    plan = plan_write(path, list(files), overwrite)
    path = plan.path
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectWriteError(f"cannot create the directory {str(parent)!r}: {exc}") from exc
    try:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=_TMP_PREFIX + path.name + "-", dir=parent))
    except OSError as exc:
        raise ProjectWriteError(f"cannot write the Rust project at {str(path)!r}: {exc}") from exc
    try:
        for rel, text in files.items():
            _write_file(tmp, rel, with_marker(text, list(files)) if rel == MANIFEST else text)
        for rel in plan.keep:
            if rel.endswith("/"):
                (tmp / rel).mkdir(parents=True, exist_ok=True)
            else:
                _link_or_copy(path / rel, tmp / rel)
        os.chmod(tmp, 0o777 & ~_umask())
        _swap(tmp, path, plan.exists)
    except BaseException as exc:
        _remove_tree(tmp)
        if isinstance(exc, OSError):
            raise ProjectWriteError(f"cannot write the Rust project at {str(path)!r}: {exc}") from exc
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap(tmp: pathlib.Path, path: pathlib.Path, exists: bool) -> None:
    """Put ``tmp`` in place of ``path`` with renames; the old directory is removed last."""
    if not exists:
        os.rename(tmp, path)
        return
    old = pathlib.Path(tempfile.mkdtemp(prefix=_OLD_PREFIX + path.name + "-", dir=tmp.parent))
    os.rmdir(old)  # only the unique name is needed
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    _remove_tree(old)
