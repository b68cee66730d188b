"""The exception types the Rust backend raises (re-exported by ``gradgen.errors``)."""

from __future__ import annotations

from gradgen.ir.errors import GradgenError


class InvalidNameError(GradgenError, ValueError):
    """A name cannot become a Rust identifier, is a keyword, or collides with another name."""


class InvalidPathError(GradgenError, ValueError):
    """A path cannot name a file (it contains a NUL character)."""


class ProjectWriteError(GradgenError, OSError):
    """A crate could not be written safely (the target holds foreign files, I/O failure)."""


class BuildError(GradgenError, RuntimeError):
    """Building a generated crate failed, or the Rust toolchain is missing."""


class SnippetError(GradgenError, ValueError):
    """A user Rust snippet is malformed: unbalanced delimiters, a missing function, a bad placeholder."""


class CAbiLimitError(GradgenError, ValueError):
    """A function has more slices (inputs, outputs and the workspace) than the status codes of
    its C ABI can number (``backends.ffi.MAX_SLICES``)."""
