"""The one check of a path given by a user, before anything is written or built there."""

from __future__ import annotations

import os
import pathlib

from gradgen.ir.errors import GradgenTypeError

from .errors import InvalidPathError


def user_path(value: object, what: str) -> pathlib.Path:
    """``value`` as a :class:`pathlib.Path`: a ``str`` or ``os.PathLike`` of text.

    ``None``, ``bytes`` and other objects are a :class:`GradgenTypeError`; a NUL character (no
    file system accepts it) is an :class:`InvalidPathError`.
    """
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, (str, os.PathLike)):
        raise GradgenTypeError(f"{what} must be a str or an os.PathLike path, got {type(value).__name__}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise GradgenTypeError(f"{what} must be a text path, got the {type(text).__name__} {text!r}")
    if "\0" in text:
        raise InvalidPathError(f"{what} contains a NUL character: {text!r}")
    return pathlib.Path(text)
