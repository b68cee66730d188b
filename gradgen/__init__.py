"""gradgen: symbolic functions and their derivatives, compiled to safe, no_std-ready Rust.

This package is the public façade; the compiler lives in ``ir`` (data structures), ``passes``
(transformations) and ``backends`` (Rust printing and crate writing).
"""

from gradgen.config import RustBackendConfig
from gradgen.errors import (
    BuildError,
    ConfigError,
    ConstantOverflowError,
    DifferentiationError,
    EvaluationArgumentError,
    FunctionDefinitionError,
    GradgenError,
    GradgenTypeError,
    InvalidLevelError,
    InvalidNameError,
    InvalidPathError,
    KernelCallError,
    ProjectWriteError,
    ShapeError,
    UnknownPassError,
    VectorIndexError,
    VerificationError,
)
from gradgen.ir.expr import SX

from .builder import CodeGenerationBuilder, FunctionBundle  # multi-kernel crates (issue 4)
from .bundle import create_rust_derivative_bundle
from .codegen import create_rust_project
from .derivatives import (
    derivative,
    gradient,
    hessian,
    hvp,
    jacobian,
    jvp,
    vjp,
)
from .elementary import (
    acos,
    acosh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    bilinear_form,
    cbrt,
    ceil,
    cos,
    cosh,
    dot,
    eq,
    erf,
    erfc,
    exp,
    expm1,
    fabs,
    floor,
    hypot,
    if_else,
    log,
    log1p,
    log10,
    matvec,
    maximum,
    minimum,
    ne,
    norm1,
    norm2,
    norm2sq,
    norm_inf,
    norm_p,
    norm_p_to_p,
    pow,
    quadform,
    round,
    signum,
    sin,
    sinh,
    sqrt,
    tan,
    tanh,
    trunc,
)
from .function import Function
from .native_call import compile
from .progress import _enable_from_environment, enable_progress
from .simplification import cse, simplify
from .sparse import SparseHessian
from .vector import SXVector, vector

#: ``gradgen.const(v)`` is ``SX.const(v)``: a constant expression
const = SX.const

__version__ = "0.1.0"

# fmt: off
__all__ = [  # noqa: RUF022 - grouped by topic, in the order the guide presents them
    # symbolic layer
    "SX", "SXVector", "Function", "vector", "const", "simplify", "cse",
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "exp", "expm1", "log", "log1p", "log10", "sqrt", "cbrt", "erf", "erfc",
    "floor", "ceil", "round", "trunc", "signum", "fabs", "hypot", "maximum", "minimum", "pow",
    "eq", "ne", "if_else", "matvec", "quadform", "bilinear_form", "dot", "norm1", "norm2",
    "norm2sq", "norm_inf", "norm_p", "norm_p_to_p",
    # automatic differentiation (issue 3)
    "derivative", "gradient", "jacobian", "hessian", "jvp", "vjp", "hvp",
    # Rust generation, multi-kernel crates (issue 4), calling kernels from Python (issue 7)
    "RustBackendConfig", "create_rust_project", "create_rust_derivative_bundle",
    "CodeGenerationBuilder", "FunctionBundle", "compile", "SparseHessian",
    # progress of long operations (logging)
    "enable_progress",
    # errors
    "GradgenError", "GradgenTypeError", "FunctionDefinitionError", "EvaluationArgumentError",
    "InvalidLevelError", "ConfigError", "InvalidNameError", "DifferentiationError",
    "UnknownPassError", "VerificationError", "ProjectWriteError", "BuildError", "ShapeError",
    "KernelCallError", "ConstantOverflowError", "InvalidPathError", "VectorIndexError",
]
# fmt: on

_enable_from_environment()  # GRADGEN_PROGRESS=1 turns the progress display on
