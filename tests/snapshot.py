"""syrupy extensions storing snapshots in the top-level ``snapshots/`` folder.

IR snapshots are ``.ir`` text files and Rust snapshots single ``.rs`` files, so a diff reads as
code. Update them only after reading the diff (``pytest --snapshot-update`` then ``git diff``).
"""

from __future__ import annotations

import pathlib

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

SNAPSHOT_ROOT = pathlib.Path(__file__).resolve().parent.parent / "snapshots"


class _TopLevel(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location) -> str:  # type: ignore[override]
        return str(SNAPSHOT_ROOT / pathlib.Path(test_location.filepath).stem)


class IRSnapshot(_TopLevel):
    file_extension = "ir"


class RustSnapshot(_TopLevel):
    file_extension = "rs"


class TextSnapshot(_TopLevel):
    file_extension = "txt"
