"""The exception types gradgen raises. Each subclasses the built-in it specialises, so callers can
catch either the precise gradgen type or the familiar built-in one."""

from __future__ import annotations


class GradgenError(Exception):
    """Base class of every error raised by gradgen."""


class GradgenTypeError(GradgenError, TypeError):
    """A value of the wrong kind was given (e.g. a string where an expression was expected)."""


class FunctionDefinitionError(GradgenError, ValueError):
    """A ``Function`` is ill-formed: non-symbol or duplicate inputs, free symbols, name counts."""


class ShapeError(GradgenError, ValueError):
    """Vector lengths do not match (elementwise operations, dot products, matrices)."""


class EvaluationArgumentError(GradgenError, ValueError):
    """A ``Function`` was called with the wrong number of arguments or wrong argument sizes."""


class InvalidLevelError(GradgenError, ValueError):
    """An unknown simplification level."""


class ConfigError(GradgenError, ValueError):
    """An invalid backend or builder configuration value (mode, scalar type, option)."""


class InvalidNameError(GradgenError, ValueError):
    """A name cannot become a Rust identifier, is a keyword, or collides with another name."""


class DifferentiationError(GradgenError, ValueError):
    """A derivative request is invalid (wrong index, non-scalar output for a gradient, ...)."""


class UnknownPassError(GradgenError, ValueError):
    """A pass name that is not registered."""


class VerificationError(GradgenError, RuntimeError):
    """The IR broke one of its invariants (reported with the pass that broke it)."""


class ProjectWriteError(GradgenError, OSError):
    """A crate could not be written safely (the target holds foreign files, I/O failure)."""


class BuildError(GradgenError, RuntimeError):
    """Building a generated crate failed, or the Rust toolchain is missing."""


class KernelCallError(GradgenError, ValueError):
    """A compiled kernel was called with the wrong number of arguments, a value that is not a
    number, or a slice of the wrong length (named, with the expected length)."""
