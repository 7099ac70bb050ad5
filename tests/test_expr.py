"""gradlab.expr and gradlab.symbolic: what the parser accepts and refuses (and where), and bounded symbolic work."""

import math

import numpy as np
import pytest

from gradlab.errors import GradlabError
from gradlab.expr import FUNCTIONS, MAX_DEPTH, MAX_LENGTH, ExpressionError, parse
from gradlab.symbolic import EXACT_POWER_BITS, formula_text, symbolic

# formula, its variables in order of first appearance
ACCEPTED = [
    ("3*w1**2 + 2*w1*w2", ("w1", "w2")),
    ("  -x**2  ", ("x",)),
    ("+x - -y", ("x", "y")),
    ("sigmoid(relu(x)) / (1 + square(y))", ("x", "y")),
    ("x**pi + e*x", ("x",)),
    ("1_000.5*x + 0x10*y + 1e-300*z", ("x", "y", "z")),
    ("x" + "+x" * 499, ("x",)),  # a long flat sum is one level deep
    ("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH, ("x",)),
    ("sin(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH, ("x",)),
    ("-" * MAX_DEPTH + "x", ("x",)),
    ("x**1000 + x**-1000", ("x",)),
    ("theta*Q + N", ("theta", "Q", "N")),
]

# formula, words the message must contain, the column (1-based) the caret points at (None: no caret)
REFUSED = [
    ("", "empty", None),
    ("   ", "empty", None),
    ("x" * (MAX_LENGTH + 1), f"limit is {MAX_LENGTH}", None),
    ("3*foo(x)", "unknown function foo", 3),
    ("math.sin(x)", "attribute access", 5),
    ("x.__class__", "attribute access", 2),
    ("a.b.c(x)", "attribute access", 2),
    ("x[0]", "indexing", 2),
    ("'os'", "text in quotes", 1),
    ("x + \"a\"", "text in quotes", 5),
    ("lambda: x", "lambda", 1),
    ("[x for x in y]", "comprehension", 1),
    ("(x for x in y)", "generator", 1),
    ("x < y", "comparisons", 3),
    ("x and y", "and/or", 3),
    ("not x", "not is not allowed", 1),
    ("~x", "~ is not allowed", 1),
    ("x if y else 1", "if/else", 1),
    ("x, y", "a comma", 2),
    ("{x}", "a set", 1),
    ("(x := 1)", ":=", 2),
    ("f'{x}'", "f-string", 1),
    ("sin(x, y)", "sin takes 1 argument, got 2", 4),
    ("sin()", "sin takes 1 argument, got 0", 4),
    ("sin(x=1)", "keyword arguments", 5),
    ("sin(*x)", "*args", 5),
    ("__import__('os')", "names starting with '_'", 1),
    ("_x + 1", "names starting with '_'", 1),
    ("sin + x", "sin is a function", 1),
    ("2(x)", "only functions can be called", 2),
    ("x // 2", "operator //", 3),
    ("x % 2", "operator %", 3),
    ("x ^ 2", "write **", 3),
    ("x @ y", "operator @", 3),
    ("True*x", "True is not a number", 1),
    ("None", "None is not a number", 1),
    ("1j*x", "complex numbers", 1),
    ("1e999*x", "does not fit in a float64", 1),
    ("9" * 400 + "*x", "does not fit in a float64", 1),
    ("10**10**10*x", "exponent 1e+10 is too large", 3),
    ("x**1001", "exponent 1001 is too large", 2),
    ("x**(1/0)", "not a finite number", 2),
    ("1e300**2*x", "outside float64's range", 6),
    ("x y", "operator or a parenthesis", 3),
    ("x +", "ends too soon", 4),
    ("3*(x", "'(' was never closed", 3),
    ("x)", "unmatched ')'", 2),
    ("x = 1", "'=' is not allowed", 3),
    ("1x", "write 1*x, not 1x", 2),
    ("import os", "operator or a parenthesis", 1),
    ("x\ty", "unexpected character '\\t'", 2),
    ("x\n+1", "unexpected character '\\n'", 2),
    ("θ*x", "unexpected character '\\u03b8'", 1),
    ("\x1b[2Jx", "unexpected character '\\x1b'", 1),
    ("x # note", "'#' starts a comment", 3),
    # what a student types, and what the error says to write instead
    ("2x", "write 2*x, not 2x", 2),
    ("3 + 4.5y", "write 4.5*y, not 4.5y", 8),
    ("x²", "write **2 instead (x**2)", 2),
    ("x³ + 1", "write **3 instead (x**3 + 1)", 2),
    ("π*x", "write pi instead (pi*x)", 1),
    ("2·x", "write * instead (2*x)", 2),
    ("3×x", "write * instead (3*x)", 2),
    ("x−1", "write - instead (x-1)", 2),
    ("x÷2", "write / instead (x/2)", 2),
    ("ln(x)", "ln is not one of the functions here: write log(x)", 1),
    ("arctan(x)", "write atan(x)", 1),
    ("arcsin(x)", "write asin(x)", 1),
    ("max(x, 0)", "max(x, 0) is relu(x)", 1),
    ("pow(x, 2)", "write x**y", 1),
    ("pi + 1", "no variables", 1),
    ("-" * (MAX_DEPTH + 5) + "x", f"more than {MAX_DEPTH} levels", MAX_DEPTH + 2),
    ("sin(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), f"more than {MAX_DEPTH} levels", None),
    ("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), f"more than {MAX_DEPTH} levels", MAX_DEPTH + 1),
    ("sin(" * 150 + "x" + ")" * 150, f"more than {MAX_DEPTH} levels", None),
    ("x" + "**x" * 300, f"more than {MAX_DEPTH} levels", None),
]


@pytest.mark.parametrize("text, variables", ACCEPTED, ids=[a[0][:30] for a in ACCEPTED])
def test_accepted_formulas_and_their_variables(text, variables):
    assert parse(text).variables == variables


@pytest.mark.parametrize("text, words, column", REFUSED, ids=[repr(r[0][:20]) for r in REFUSED])
def test_refused_formulas_say_what_and_where(text, words, column):
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, GradlabError) and words in error.reason
    if column is not None:
        assert error.column == column - 1
        pointer = error.pointer.splitlines()
        assert len(pointer) == 2 and pointer[1].rstrip().endswith("^")
        if len(text) <= 70 and text.isascii() and text.isprintable():  # the caret is under that character
            assert pointer[1].index("^") == pointer[0].index(text.strip()[:1]) + error.column - (
                len(text) - len(text.lstrip()))
    assert all(c.isprintable() or c == "\n" for c in str(error))  # control characters are never echoed


def test_a_long_formula_is_shown_around_the_column():
    text = "x + " * 100 + "foo(x)" + " + x" * 100
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    shown, caret = caught.value.pointer.splitlines()
    assert len(shown) < 80 and shown[caret.index("^"):].startswith("foo(")


def test_non_text_is_refused():
    with pytest.raises(ExpressionError, match="a formula is text"):
        parse(3.0)


# one table, two sides: every function has both a TensorFlow and a SymPy form that agree -----------------------

POINTS = {"acosh": 1.7, "atanh": 0.4, "asin": 0.4, "acos": 0.4, "log": 1.7, "sqrt": 1.7, "log1p": 0.7}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_means_the_same_in_tensorflow_sympy_and_floats(name):
    from gradlab._tf import tf

    x = POINTS.get(name, -0.6)
    formula = parse(f"{name}(x)")
    tensorflow = float(formula.tensorflow()(tf.constant(x, dtype=tf.float64)))
    sym = symbolic(formula)
    exact = sym.value(sym.expression, {"x": x})
    assert math.isclose(tensorflow, exact, rel_tol=1e-13, abs_tol=1e-15)
    assert math.isclose(FUNCTIONS[name].floats(x), exact, rel_tol=1e-13, abs_tol=1e-15)


def test_the_tensorflow_function_is_elementwise_and_takes_the_dtype_of_its_arguments():
    from gradlab._tf import tf

    f = parse("2.5*x + sin(y)").tensorflow()
    out = f(tf.constant([1.0, 2.0], dtype=tf.float32), tf.constant([0.0, 0.0], dtype=tf.float32))
    assert out.dtype == tf.float32 and np.allclose(out.numpy(), [2.5, 5.0])
    with pytest.raises(GradlabError, match="takes 2 values"):
        f(tf.constant(1.0))


# the symbolic side ---------------------------------------------------------------------------------------------

DERIVATIVES = [
    ("3*w1**2 + 2*w1*w2", "w1", "6*w1 + 2*w2"),
    ("3*w1**2 + 2*w1*w2", "w2", "2*w1"),
    ("0.5*x**2", "x", "x"),
    ("0.1*x**3", "x", "0.30000000000000004*x**2"),
    ("x**2.0", "x", "2*x"),
    ("abs(x)", "x", "sign(x)"),
    ("relu(x)", "x", "Heaviside(x)"),
    ("softplus(x)", "x", "exp(x)/(exp(x) + 1)"),
]


@pytest.mark.parametrize("text, name, printed", DERIVATIVES)
def test_derivatives_print_as_formulas(text, name, printed):
    sym = symbolic(parse(text))
    assert formula_text(sym.derivative(name)) == printed


# expression, point, value (nan: undefined or not real)
VALUES = [
    ("sqrt(x)", 0.0, 0.0),
    ("log(x)", 0.0, -math.inf),
    ("log(x)", -1.0, math.nan),
    ("1/x", 0.0, math.nan),
    ("asin(x)", 2.0, math.nan),
    ("exp(exp(exp(x)))", 100.0, math.inf),
    ("exp(-exp(exp(x)))", 100.0, 0.0),
    ("softplus(x) - x", 1000.0, 0.0),
    ("sin(exp(x))", 700.0, None),  # finite: computed with the digits it needs
    ("x**y", -2.0, -8.0),
]


@pytest.mark.parametrize("text, x, expected", VALUES, ids=[f"{v[0]} at {v[1]}" for v in VALUES])
def test_symbolic_values_are_bounded_and_honest(text, x, expected):
    formula = parse(text)
    sym = symbolic(formula)
    point = {name: x if name == "x" else 3.0 for name in formula.variables}
    value = sym.value(sym.expression, point)  # returns at all: bounded work, no runaway evaluation
    if expected is None:
        assert math.isfinite(value)
    elif math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == pytest.approx(expected, abs=1e-12)


TOO_LARGE = ["(2**y)**((2**500)/y)", "((x/x + x/x)**y)**(((x/x + x/x)**500)/y)", "2**(x - x + 10**9)"]


@pytest.mark.parametrize("text", TOO_LARGE)
def test_exact_powers_that_would_not_finish_are_refused(text):
    with pytest.raises(ExpressionError, match="exact power"):
        symbolic(parse(text))


def test_the_guard_on_exact_powers_acts_only_inside_gradlab():
    import sympy

    from gradlab.symbolic import _bounded

    symbolic(parse("x"))  # installs the guard
    big = EXACT_POWER_BITS * 2 + 1
    assert sympy.Integer(2) ** sympy.Integer(big) == 2**big
    with _bounded(), pytest.raises(ArithmeticError):
        sympy.Integer(2) ** sympy.Integer(big + 1)  # (a new power: SymPy caches the one above)
