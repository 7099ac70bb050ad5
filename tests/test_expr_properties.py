"""Properties: random formulas agree three ways at random points; no text makes the parser do anything but parse."""

from __future__ import annotations

import builtins
import contextlib
import json
import math
import re

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from gradlab.expr import FUNCTIONS, ExpressionError, parse
from gradlab.formula import STATES, check_formula
from gradlab.render import to_text
from gradlab.symbolic import symbolic

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

points = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
leaves = st.sampled_from(["x", "y", "x", "y", "x", "y", "0.5", "2", "3", "1.5", "pi"])

BOUNDED = ["sin", "cos", "tanh", "sigmoid", "atan", "erf"]  # bounded, smooth: f stays resolvable by the step
GENTLE = ["softplus", "asinh"]  # smooth, growing at most linearly


def smooth_nodes(children):
    """Smooth everywhere, and slow enough that the finite-difference step resolves them at every point of
    [-3, 3]: bounded or gently growing compositions (sin(exp(exp(x))) at x = 2, say, turns faster than any
    fixed step can follow; see tests/test_formula_cli.py for such points)."""
    return st.one_of(
        st.tuples(st.sampled_from(BOUNDED + GENTLE), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(children, st.sampled_from(["+", "-", "*"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, children).map(lambda t: f"({t[0]})/(1 + square({t[1]}))"),
        st.tuples(children, st.sampled_from(["2", "3", "-2"])).map(lambda t: f"(1.5 + sin({t[0]}))**{t[1]}"),
        children.map(lambda c: f"-({c})"),
        children.map(lambda c: f"sqrt(1 + square({c}))"),
        children.map(lambda c: f"log(2 + sin({c}))"),
        children.map(lambda c: f"exp(-square({c}))"),
        children.map(lambda c: f"expm1(sin({c}))"),
    )


def any_nodes(children):
    """Every function and operator of the table: kinks, poles and domain edges included."""
    return st.one_of(
        st.tuples(st.sampled_from(sorted(FUNCTIONS)), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**"]), children).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        children.map(lambda c: f"-({c})"),
    )



def has_variable(text):
    return re.search(r"\b[xy]\b", text) is not None


smooth_formulas = st.recursive(leaves, smooth_nodes, max_leaves=4).filter(has_variable)
any_formulas = st.recursive(leaves, any_nodes, max_leaves=5).filter(has_variable)


@SETTINGS
@given(text=smooth_formulas, x=points, y=points)
def test_smooth_formulas_agree_three_ways_at_any_point(text, x, y):
    formula = parse(text)
    at = {name: {"x": x, "y": y}[name] for name in formula.variables}
    result = check_formula(formula, at)
    assume(math.isfinite(result.value) and all(math.isfinite(d.symbolic) for d in result.derivatives))
    event(result.state)
    assert result.ok, to_text(result)
    for d in result.derivatives:
        assert d.tape_vs_symbolic <= d.tape_allowed
        assert d.numeric_vs_symbolic <= d.numeric_allowed


@SETTINGS
@given(text=any_formulas, x=points, y=points)
def test_any_formula_at_any_point_gets_a_state_that_its_numbers_bear_out(text, x, y):
    try:
        formula = parse(text)
        at = {name: {"x": x, "y": y}[name] for name in formula.variables}
        result = check_formula(formula, at)
    except ExpressionError:  # an exponent or power beyond the limits
        event("refused")
        return
    event(result.state)
    assert result.state in STATES and result.ok == (result.state == "ok")
    json.dumps(result.to_json(), allow_nan=False)
    for d in result.derivatives:
        if d.state == "ok" and math.isfinite(d.symbolic):
            assert d.tape_vs_symbolic <= d.tape_allowed and d.numeric_vs_symbolic <= d.numeric_allowed
        if d.state == "mismatch":
            assert d.note
        if d.state == "not differentiable here":
            assert not (math.isfinite(d.forward) and math.isfinite(d.backward)) or abs(d.forward - d.backward) > 0


# fuzzing the parser --------------------------------------------------------------------------------------------

TOKENS = ["x", "y", "w1", "1", "2.5", "10", "1000", "1e308", "0x1f", "1j", "(", ")", "[", "]", "{", "}", "+", "-",
          "*", "/", "**", "//", "%", "@", "^", ".", ",", ":", "=", "==", "<", ":=", "lambda", "if", "else", "for",
          "in", "not", "and", "or", "yield", "await", "import", "sin", "exp", "log", "relu", "sqrt", "square", "pi",
          "e", "__import__", "__class__", "_", "'os'", '"', "f'", "\\", "#", ";", " ", "\t", "\n", "True", "None",
          "...", "*args", "x=", "open", "eval", "exec"]
token_soups = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join)


def _forbidden(*args, **kwargs):
    raise AssertionError("the parser must not evaluate, import or open anything")


def _source_forbidden(original):
    """eval/exec that fail the test on source text (code objects, as the import system runs, pass)."""

    def run(code, *args, **kwargs):
        if isinstance(code, (str, bytes)):
            raise AssertionError(f"text was evaluated: {code!r:.60}")
        return original(code, *args, **kwargs)

    return run


@contextlib.contextmanager
def nothing_runs(*modules, imports=False):
    """While the block runs, the test fails on builtins.open, on eval or exec of source text (of anything, unless
    `imports`), on __import__ (unless `imports`) and on the `parse_expr` of `modules`."""
    saved = {name: getattr(builtins, name) for name in ("eval", "exec", "open", "__import__")}
    replacements = {"open": _forbidden}
    for name in ("eval", "exec"):
        replacements[name] = _source_forbidden(saved[name]) if imports else _forbidden
    if not imports:
        replacements["__import__"] = _forbidden
    patched = [(module, module.parse_expr) for module in modules]
    try:
        for name, value in replacements.items():
            setattr(builtins, name, value)
        for module, _ in patched:
            module.parse_expr = _forbidden
        yield
    finally:
        for name, value in saved.items():
            setattr(builtins, name, value)
        for module, value in patched:
            module.parse_expr = value


def parse_safely(text):
    """parse(text) with nothing else allowed to run: the formula, or None for an ExpressionError."""
    with nothing_runs():
        try:
            return parse(text)
        except ExpressionError as error:
            assert error.reason and "\x1b" not in str(error)
            return None


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=60), token_soups))
def test_the_parser_only_parses(text):
    formula = parse_safely(text)
    event("refused" if formula is None else "parsed")
    if formula is None:
        return
    from sympy.parsing import sympy_parser

    with nothing_runs(sympy_parser, imports=True):  # SymPy may import its own modules lazily
        try:
            sym = symbolic(formula)
            for name in formula.variables:
                sym.derivative(name)
        except ExpressionError:
            pass
