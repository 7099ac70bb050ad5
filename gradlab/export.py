"""JSON views of gradlab's results: plain dicts of numbers (lists for arrays, null for None or non-finite)."""

import dataclasses
import math

import numpy as np

SCHEMA_VERSION = 1


def plain(value):
    """A JSON-ready copy of `value`: dataclasses to dicts, arrays to nested lists, nan/inf to None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "numpy"):
        array = np.asarray(value)
        return plain(array.tolist()) if array.ndim else plain(array.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    return str(value)


def comparison_json(comparison):
    return {"kind": "comparison", "ok": comparison.ok, "method": comparison.method,
            "tolerances": list(comparison.tolerances), "rows": plain(comparison.rows)}


def gradcheck_json(result):
    tol = result.tolerance
    return {
        "kind": "check", "ok": result.ok, "state": result.state, "mode": result.mode, "method": result.method, "dtype": result.dtype,
        "tolerance": {"rtol": tol.rtol, "atol": tol.atol, "k": tol.k},
        "max_abs_error": plain(result.max_abs_error), "max_rel_error": plain(result.max_rel_error),
        "inputs": plain(result.inputs), "worst": plain(result.worst), "projection": plain(result.projection),
        "kinks": result.kinks, "inconclusive": result.inconclusive, "reference": result.reference,
        "evaluations": result.evaluations, "notes": list(result.notes), "evaluation": result.evaluation,
        "order": result.order, "modes": plain(result.modes),
    }


def numeric_json(result):
    return {"kind": "numeric_gradient", "method": result.method, "dtype": result.dtype, "names": result.names,
            "value": plain(result.value), "error": plain(result.error)}


def to_json(result):
    """The JSON view of any gradlab result (or None for a value that is not one)."""
    from gradlab.engine.check import GradCheck
    from gradlab.engine.comparison import Comparison
    from gradlab.engine.numeric import NumericGradient

    views = {Comparison: comparison_json, GradCheck: gradcheck_json, NumericGradient: numeric_json}
    for kind, view in views.items():
        if isinstance(result, kind):
            return view(result)
    to_dict = getattr(result, "to_json", None)
    return to_dict() if callable(to_dict) else None


def location_json(location):
    ops = [{**{k: plain(v) for k, v in dataclasses.asdict(op).items() if k != "check"},
            "check": None if op.check is None else gradcheck_json(op.check)} for op in location.ops]
    return {"kind": "locate", "ok": location.ok, "state": location.state, "wrong": [op.name for op in location.wrong], "ops": ops,
            "blocked": plain(location.blocked), "forward": plain(location.forward),
            "backward": plain(location.backward), "seconds": location.seconds,
            "evaluations": location.evaluations, "total_ops": location.total_ops, "notes": list(location.notes)}
