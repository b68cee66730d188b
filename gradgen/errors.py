"""Every exception type gradgen raises, whichever layer raises it.

Each subclasses the built-in it specialises, so callers can catch either the precise gradgen type
or the familiar built-in one. The IR, the passes and the backend define their own errors; the
façade's are defined here, and all are exported as ``gradgen.<ErrorName>``.
"""

from __future__ import annotations

from gradgen.backends.errors import (
    BuildError,
    CAbiLimitError,
    InvalidNameError,
    InvalidPathError,
    ProjectWriteError,
    SnippetError,
)
from gradgen.ir.errors import (
    ConfigError,
    ConstantOverflowError,
    CustomFunctionError,
    FunctionDefinitionError,
    GradgenError,
    GradgenTypeError,
    VerificationError,
)
from gradgen.passes.errors import (
    DifferentiationError,
    EvaluationArgumentError,
    InvalidLevelError,
    StagedKernelError,
    UnknownPassError,
)


class ShapeError(GradgenError, ValueError):
    """Vector lengths do not match (elementwise operations, dot products, matrices)."""


class VectorIndexError(GradgenError, IndexError):
    """An ``SXVector`` index is out of range."""


class KernelCallError(GradgenError, ValueError):
    """A compiled kernel was called with the wrong number of arguments, a value that is not a
    number, or a slice of the wrong length (named, with the expected length)."""


class UnsupportedFeatureError(GradgenError, NotImplementedError):
    """A gradgen 0.5.2 feature this library does not provide. Every name of 0.5.2's public API is
    provided today, so nothing raises it; it stays so that code catching it keeps working."""


__all__ = [
    "BuildError",
    "CAbiLimitError",
    "ConfigError",
    "ConstantOverflowError",
    "CustomFunctionError",
    "DifferentiationError",
    "EvaluationArgumentError",
    "FunctionDefinitionError",
    "GradgenError",
    "GradgenTypeError",
    "InvalidLevelError",
    "InvalidNameError",
    "InvalidPathError",
    "KernelCallError",
    "ProjectWriteError",
    "ShapeError",
    "SnippetError",
    "StagedKernelError",
    "UnknownPassError",
    "UnsupportedFeatureError",
    "VectorIndexError",
    "VerificationError",
]
