"""gradlab: learn, see and verify automatic differentiation in TensorFlow.

The public names are loaded on first use, so `import gradlab` (and `gradlab --help`) does not import
TensorFlow; only the work that needs it does. Once gradlab is imported, TensorFlow's start-up log lines stay
hidden whoever imports it (gradlab.quiet).
"""

from gradlab import quiet
from gradlab.errors import (GradlabError, LessonNotFoundError, NotDeterministicError, NotDifferentiableError,
                            TooExpensiveError)

__version__ = "0.1.0"

quiet.install()  # TensorFlow's start-up log lines stay hidden, whoever imports it next

_LAZY = {
    "tape_gradient": "gradlab.engine.tape",
    "numeric_gradient": "gradlab.engine.numeric",
    "NumericGradient": "gradlab.engine.numeric",
    "compare": "gradlab.engine.comparison",
    "Comparison": "gradlab.engine.comparison",
    "check": "gradlab.engine.check",
    "assert_gradients_close": "gradlab.engine.check",
    "GradCheck": "gradlab.engine.check",
    "consistency": "gradlab.engine.consistency",
    "Consistency": "gradlab.engine.consistency",
    "check_many": "gradlab.engine.many",
    "ManyChecks": "gradlab.engine.many",
    "check_distributed": "gradlab.engine.distributed",
    "DistributedCheck": "gradlab.engine.distributed",
    "step_study": "gradlab.teaching.steps",
    "StepStudy": "gradlab.teaching.steps",
    "check_formula": "gradlab.formula",
    "FormulaCheck": "gradlab.formula",
    "ExpressionError": "gradlab.expr",
    "why_none": "gradlab.diagnosis.why_none",
    "Diagnosis": "gradlab.diagnosis.why_none",
    "locate": "gradlab.diagnosis.locate",
    "Location": "gradlab.diagnosis.locate",
    "backprop": "gradlab.teaching.backprop",
    "Backprop": "gradlab.teaching.backprop",
    "secants": "gradlab.teaching.plots",
    "Secants": "gradlab.teaching.plots",
    "derivative_curve": "gradlab.teaching.plots",
    "DerivativeCurve": "gradlab.teaching.plots",
    "matrix_maps": "gradlab.teaching.plots",
    "op_graph": "gradlab.teaching.graph",
    "OpGraph": "gradlab.teaching.graph",
    "exercise": "gradlab.teaching.exercises",
    "Exercise": "gradlab.teaching.exercises",
    "Feedback": "gradlab.teaching.exercises",
}

#: Submodules loaded on first use as attributes too (gradlab.strategies.arrays without importing it first).
_SUBMODULES = ("strategies",)

__all__ = sorted([*_LAZY, *_SUBMODULES, "GradlabError", "LessonNotFoundError", "NotDeterministicError",
                  "NotDifferentiableError", "TooExpensiveError", "__version__"])


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"gradlab.{name}")
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gradlab' has no attribute {name!r}")


def __dir__():
    return __all__
