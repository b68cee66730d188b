"""The one check of a path given by a user, before anything is written or built there."""

from __future__ import annotations

import os
import pathlib

from gradgen.ir.errors import GradgenTypeError

from .errors import InvalidPathError

#: the longest file or directory name (one path component), in bytes, that common file systems
#: accept (Linux ext4/tmpfs/btrfs, macOS APFS, Windows NTFS in UTF-16 units)
NAME_MAX = 255


def user_path(value: object, what: str) -> pathlib.Path:
    """``value`` as a :class:`pathlib.Path`: a ``str`` or ``os.PathLike`` of text.

    ``None``, ``bytes`` and other objects are a :class:`GradgenTypeError`; a NUL character (no
    file system accepts it) or a component longer than :data:`NAME_MAX` bytes is an
    :class:`InvalidPathError`.
    """
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, (str, os.PathLike)):
        raise GradgenTypeError(f"{what} must be a str or an os.PathLike path, got {type(value).__name__}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise GradgenTypeError(f"{what} must be a text path, got the {type(text).__name__} {text!r}")
    if "\0" in text:
        raise InvalidPathError(f"{what} contains a NUL character: {text!r}")
    path = pathlib.Path(text)
    check_name_lengths(path, what)
    return path


def check_name_lengths(path: pathlib.Path, what: str) -> None:
    """Raise :class:`InvalidPathError` when a component of ``path`` is longer than
    :data:`NAME_MAX` bytes (the file system would refuse it with ``ENAMETOOLONG``)."""
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise InvalidPathError(
                f"{what} has a component of {size} bytes, longer than the {NAME_MAX} a file system "
                f"accepts: {part!r}; choose a shorter path or shorter function and input names"
            )
