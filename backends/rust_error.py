"""The error type every generated module defines once: ``GradgenError``, returned by a generated
function that refuses its arguments (a slice of the wrong length), with its ``Display`` and, in
``std`` mode, its ``std::error::Error`` implementation."""

#: the enum and its ``Display`` implementation (``no_std`` and ``std``)
ERROR_TYPE = """/// Why a generated function refused its arguments: a slice has the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradgenError {
    /// An input slice does not have the required length.
    InputLength {
        /// Name of the argument.
        argument: &'static str,
        /// Required length.
        expected: usize,
        /// Length of the slice that was passed.
        actual: usize,
    },
    /// An output slice does not have the required length.
    OutputLength {
        /// Name of the argument.
        argument: &'static str,
        /// Required length.
        expected: usize,
        /// Length of the slice that was passed.
        actual: usize,
    },
    /// The workspace slice is shorter than required.
    WorkspaceLength {
        /// Name of the argument.
        argument: &'static str,
        /// Minimum length.
        expected: usize,
        /// Length of the slice that was passed.
        actual: usize,
    },
}

impl core::fmt::Display for GradgenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GradgenError::InputLength {
                argument,
                expected,
                actual,
            } => write!(
                f,
                "input `{argument}` has length {actual}, expected {expected}"
            ),
            GradgenError::OutputLength {
                argument,
                expected,
                actual,
            } => write!(
                f,
                "output `{argument}` has length {actual}, expected {expected}"
            ),
            GradgenError::WorkspaceLength {
                argument,
                expected,
                actual,
            } => write!(
                f,
                "workspace `{argument}` has length {actual}, expected at least {expected}"
            ),
        }
    }
}
"""

#: ``std`` mode only
STD_ERROR_IMPL = "impl std::error::Error for GradgenError {}\n"
