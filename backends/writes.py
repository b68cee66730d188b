"""Safe, atomic writing of a generated crate directory.

Every crate gradgen writes (``create_rust_project``, ``CodeGenerationBuilder.build``, the
derivative bundle's crates) goes through :func:`write_project`:

* **Ownership.** A crate written by gradgen says so in its own ``Cargo.toml``: a
  ``[package.metadata.gradgen]`` table (cargo ignores ``package.metadata``) whose ``generated``
  array lists the files gradgen wrote (:data:`MARKER_TABLE`). Writing into a path that holds
  files gradgen did not generate (a directory without that table that is not empty) fails with
  :class:`~backends.errors.ProjectWriteError` naming a few of its entries, unless
  ``overwrite=True``; deciding that reads that one directory, never its whole tree. A path that
  is a file, or whose parent is a file, always fails.
* **Only generated files change.** A regeneration touches nothing but the files it generates and
  the files gradgen generated last time and does not generate now (those are removed). Every
  other file, directory, mode, owner, setgid bit and symlink is left alone: directories are
  never replaced (a shell inside the crate stays there, ``"."`` works), a crate path or generated
  file that is a symlink stays a symlink and its target is updated, a replaced file keeps its
  mode. A user file with the name of a file gradgen now generates is replaced (only possible with
  ``overwrite=True`` or inside a generated crate).
* **All or nothing.** Each generated file is first written under a short unique temporary name in
  its own directory (so long names and read-only parents work), then renamed over its path;
  every file is staged before the first rename, and the old version of each replaced or removed
  file is kept (hard-linked) under a temporary name until every rename succeeded. Any failure,
  ``KeyboardInterrupt`` included, renames the old versions back and removes what was added.
  ``Cargo.toml``, whose table says what is gradgen's, is renamed last. A new crate is assembled
  in a temporary sibling directory and renamed into place in one step.
* **Checks first.** :func:`plan_write` performs every check without writing anything, so
  callers can validate before they generate code.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets
import shutil
import stat
import tomllib
from collections.abc import Mapping

import attrs

from .errors import ProjectWriteError
from .paths import check_name_lengths

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
    #: the directory exists (and is updated in place) rather than created
    exists: bool
    #: relative posix paths gradgen generated there last time (empty without a marker)
    previous: frozenset[str]


def _entries(path: pathlib.Path) -> list[str]:
    """The names in the directory ``path`` (not below it), sorted; directories end in ``/``."""
    with os.scandir(path) as it:
        return sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in it)


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


def _valid_relative(name: str) -> bool:
    p = pathlib.PurePosixPath(name)
    return bool(p.parts) and not p.is_absolute() and ".." not in p.parts


def _check_relative(name: str) -> None:
    if not _valid_relative(name):
        raise ProjectWriteError(f"invalid generated file name {name!r}")


def plan_write(path: str | os.PathLike[str], generated: list[str], overwrite: bool = False) -> WritePlan:
    """Check that the crate files ``generated`` (relative posix paths) may be written at
    ``path``, without writing anything; raise :class:`ProjectWriteError` otherwise."""
    if not isinstance(overwrite, bool):
        raise ProjectWriteError(f"overwrite must be True or False, got {overwrite!r}")
    path = pathlib.Path(path)
    check_name_lengths(path, "the project path")
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
        return WritePlan(path, False, frozenset())
    if not path.is_dir():
        raise ProjectWriteError(f"cannot create a Rust project at {str(path)!r}: it is a file")
    previous = read_marker(path)
    if previous is None:
        try:
            foreign = _entries(path)
        except OSError as exc:
            raise ProjectWriteError(f"cannot read the directory {str(path)!r}: {exc}") from exc
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
    for name in generated:
        _check_place(path, name)
    # a marker is only trusted for names inside the crate
    return WritePlan(path, True, frozenset(f for f in previous if _valid_relative(f)))


def _check_place(root: pathlib.Path, name: str) -> None:
    """The generated file ``name`` can be written under ``root``: no directory stands in its
    place and no file stands in the place of one of its directories."""
    parts = pathlib.PurePosixPath(name).parts
    p = root
    for i, part in enumerate(parts):
        p = p / part
        last = i == len(parts) - 1
        if last and p.is_dir():
            raise ProjectWriteError(
                f"cannot write the Rust project at {str(root)!r}: {name!r} is a directory there"
            )
        if not last and p.exists() and not p.is_dir():
            raise ProjectWriteError(
                f"cannot write the Rust project at {str(root)!r}: {'/'.join(parts[: i + 1])!r} is a file "
                f"there, but {name!r} needs it to be a directory"
            )
        if not p.exists():
            return


def _unique(directory: pathlib.Path, prefix: str) -> pathlib.Path:
    return directory / (prefix + secrets.token_hex(6))


def _write_file(root: pathlib.Path, rel: str, text: str) -> None:
    """Create the new file ``root/rel`` (its directories as needed) holding ``text``."""
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _real(p: pathlib.Path) -> pathlib.Path:
    """``p``, or the file it links to when it is a symlink (the link itself stays)."""
    return pathlib.Path(os.path.realpath(p)) if p.is_symlink() else p


def _keep_attributes(old: pathlib.Path, new: pathlib.Path) -> None:
    """Give the staged file ``new`` the mode (and, where allowed, the group) of ``old``."""
    st = os.stat(old)
    os.chmod(new, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):
        if os.stat(new).st_gid != st.st_gid:
            os.chown(new, -1, st.st_gid)


def _backup(target: pathlib.Path) -> pathlib.Path:
    """A second name for the current ``target`` file, in its directory (a hard link, a copy where
    links are impossible)."""
    backup = _unique(target.parent, _OLD_PREFIX)
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError:
        shutil.copy2(target, backup, follow_symlinks=False)
    return backup


def _make_dirs(directory: pathlib.Path, created: list[pathlib.Path]) -> None:
    """``mkdir -p directory``, recording each directory it creates (outermost first)."""
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        os.mkdir(d)
        created.append(d)


class _Update:
    """The in-place update of an existing crate: staged files, then renames, undone on failure."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.created: list[pathlib.Path] = []
        self.staged: list[tuple[pathlib.Path, pathlib.Path]] = []
        #: (path, its old version or None when it did not exist), in the order of the renames
        self.done: list[tuple[pathlib.Path, pathlib.Path | None]] = []

    def stage(self, rel: str, text: str) -> None:
        target = _real(self.root / rel)
        _make_dirs(target.parent, self.created)
        tmp = _unique(target.parent, _TMP_PREFIX)
        self.staged.append((target, tmp))
        _write_file(target.parent, tmp.name, text)
        if target.is_file():
            _keep_attributes(target, tmp)

    def commit(self, target: pathlib.Path, tmp: pathlib.Path) -> None:
        self.done.append((target, _backup(target) if os.path.lexists(target) else None))
        os.rename(tmp, target)

    def remove(self, rel: str) -> None:
        p = self.root / rel
        if os.path.lexists(p) and not p.is_dir():
            old = _unique(p.parent, _OLD_PREFIX)
            os.rename(p, old)
            self.done.append((p, old))

    def finish(self, removed: list[str]) -> None:
        for _, old in self.done:
            if old is not None:
                with contextlib.suppress(OSError):
                    os.unlink(old)
        for rel in removed:  # directories left empty by removed generated files
            d = (self.root / rel).parent
            while d != self.root and d.is_relative_to(self.root):
                try:
                    os.rmdir(d)
                except OSError:
                    break
                d = d.parent

    def undo(self) -> None:
        for target, old in reversed(self.done):
            with contextlib.suppress(OSError):
                if old is None:
                    os.unlink(target)
                elif os.path.lexists(target) and os.path.samestat(os.lstat(old), os.lstat(target)):
                    os.unlink(old)  # not renamed over yet (rename between two links does nothing)
                else:
                    os.replace(old, target)
        for _, tmp in self.staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for d in reversed(self.created):
            with contextlib.suppress(OSError):
                os.rmdir(d)


def _update(plan: WritePlan, files: Mapping[str, str]) -> None:
    update = _Update(plan.path)
    order = [rel for rel in files if rel != MANIFEST] + [MANIFEST]
    removed = sorted(plan.previous - set(files))
    try:
        for rel in order:
            update.stage(rel, files[rel])
        manifest = update.staged[-1]
        for target, tmp in update.staged[:-1]:
            update.commit(target, tmp)
        for rel in removed:
            update.remove(rel)
        update.commit(*manifest)
    except BaseException:
        update.undo()
        raise
    update.finish(removed)


def _create(plan: WritePlan, files: Mapping[str, str]) -> None:
    parent = plan.path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectWriteError(f"cannot create the directory {str(parent)!r}: {exc}") from exc
    tmp = _unique(parent, _TMP_PREFIX)
    os.mkdir(tmp)
    try:
        for rel, text in files.items():
            _write_file(tmp, rel, text)
        os.rename(tmp, plan.path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_project(
    path: str | os.PathLike[str], files: Mapping[str, str], overwrite: bool = False
) -> pathlib.Path:
    """Write ``files`` (relative posix path -> text) as the crate directory ``path`` after the
    checks of :func:`plan_write`, all or nothing, touching no other file; returns the path."""
    plan = plan_write(path, list(files), overwrite)
    marked = {rel: with_marker(text, list(files)) if rel == MANIFEST else text for rel, text in files.items()}
    try:
        if plan.exists:
            _update(plan, marked)
        else:
            _create(plan, marked)
    except ProjectWriteError:
        raise
    except OSError as exc:
        raise ProjectWriteError(f"cannot write the Rust project at {str(plan.path)!r}: {exc}") from exc
    return plan.path
