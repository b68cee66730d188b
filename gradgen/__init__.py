"""gradgen: symbolic functions and their derivatives, compiled to safe, no_std-ready Rust.

This package is the public façade; the compiler lives in ``ir`` (data structures), ``passes``
(transformations) and ``backends`` (Rust printing and crate writing).
"""

from gradgen.backends.rust_module import RustGenerationResult
from gradgen.config import RustBackendConfig, RustBackendMode, RustScalarType
from gradgen.errors import (
    BuildError,
    CAbiLimitError,
    ConfigError,
    ConstantOverflowError,
    CustomFunctionError,
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
    SnippetError,
    StagedKernelError,
    UnknownPassError,
    UnsupportedFeatureError,
    VectorIndexError,
    VerificationError,
)
from gradgen.ir.expr import SX

from .builder import BuildResult, CodeGenerationBuilder, FunctionBundle, create_multi_function_rust_project
from .bundle import DerivativeBundle, create_rust_derivative_bundle
from .codegen import RustProjectResult, create_rust_project, generate_rust
from .composed import (
    ComposedFunction,
    ComposedGradientFunction,
    ComposedJacobianFunction,
    ComposedJointFunction,
)
from .composer import FunctionComposer, FunctionComposition
from .custom import (
    RegisteredElementaryFunction,
    clear_registered_elementary_functions,
    get_registered_elementary_function,
    register_elementary_function,
)
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
    fract,
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
from .python_interface import RustPythonInterfaceProjectResult
from .sets import SquaredDistanceToSet
from .shooting import (
    SingleShootingBundle,
    SingleShootingGradientFunction,
    SingleShootingHvpFunction,
    SingleShootingJointFunction,
    SingleShootingPrimalFunction,
    SingleShootingProblem,
)
from .simplification import CSEAssignment, CSEPlan, cse, simplify
from .sparse import SparseHessian, SparseJacobian
from .staged import (
    BatchedFunction,
    BatchedJacobianFunction,
    ReducedFunction,
    StagedFunction,
    map_function,
    reduce_function,
    zip_function,
)
from .vector import SXVector, vector

#: ``gradgen.const(v)`` is ``SX.const(v)``: a constant expression
const = SX.const

# gradgen 0.5.2's names for our types (see the migration table in GUIDE.md)
SXNode = SX  # an SX is its own interned node
RustCodegenResult = RustGenerationResult
RustMultiFunctionProjectResult = BuildResult
RustDerivativeBundleResult = DerivativeBundle


__version__ = "0.1.0"

# fmt: off
__all__ = [  # noqa: RUF022 - grouped by topic, in the order the guide presents them
    # symbolic layer
    "SX", "SXVector", "Function", "vector", "const", "simplify", "cse",
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "exp", "expm1", "log", "log1p", "log10", "sqrt", "cbrt", "erf", "erfc",
    "floor", "ceil", "round", "trunc", "fract", "signum", "fabs", "hypot", "maximum", "minimum", "pow",
    "eq", "ne", "if_else", "matvec", "quadform", "bilinear_form", "dot", "norm1", "norm2",
    "norm2sq", "norm_inf", "norm_p", "norm_p_to_p",
    # automatic differentiation (issue 3)
    "derivative", "gradient", "jacobian", "hessian", "jvp", "vjp", "hvp",
    # Rust generation, multi-kernel crates (issue 4), calling kernels from Python (issue 7)
    "RustBackendConfig", "create_rust_project", "create_rust_derivative_bundle",
    "generate_rust", "create_multi_function_rust_project", "RustBackendMode", "RustScalarType",
    "CSEPlan", "CSEAssignment", "SXNode", "RustCodegenResult", "RustProjectResult",
    "RustMultiFunctionProjectResult", "RustDerivativeBundleResult", "RustPythonInterfaceProjectResult",
    "CodeGenerationBuilder", "FunctionBundle", "compile", "SparseHessian", "SparseJacobian",
    # extension points: user elementary functions
    "register_elementary_function", "get_registered_elementary_function",
    "clear_registered_elementary_functions", "RegisteredElementaryFunction",
    "SquaredDistanceToSet",
    # staged code generation: loops over a horizon
    "map_function", "zip_function", "reduce_function", "StagedFunction", "BatchedFunction",
    "BatchedJacobianFunction",
    "ReducedFunction", "SingleShootingProblem", "SingleShootingBundle", "SingleShootingPrimalFunction",
    "SingleShootingGradientFunction", "SingleShootingHvpFunction", "SingleShootingJointFunction",
    "ComposedFunction", "ComposedGradientFunction", "ComposedJacobianFunction", "ComposedJointFunction",
    "FunctionComposer", "FunctionComposition",
    # progress of long operations (logging)
    "enable_progress",
    # errors
    "GradgenError", "GradgenTypeError", "FunctionDefinitionError", "EvaluationArgumentError",
    "InvalidLevelError", "ConfigError", "InvalidNameError", "DifferentiationError",
    "UnknownPassError", "VerificationError", "ProjectWriteError", "BuildError", "ShapeError",
    "KernelCallError", "UnsupportedFeatureError", "CustomFunctionError", "SnippetError",
    "StagedKernelError", "ConstantOverflowError", "InvalidPathError", "VectorIndexError",
    "CAbiLimitError",
]
# fmt: on

_enable_from_environment()  # GRADGEN_PROGRESS=1 turns the progress display on
