"""Formulas as text: a safe parser (Python's ast, whitelisted) and the one table of functions a formula may call.

A formula is numbers, variable names, + - * / **, unary minus and plus, parentheses and calls to the functions
in FUNCTIONS, which maps each name once to TensorFlow, to SymPy and to plain Python floats. `parse` reads the
text with ast.parse and turns it into a small tree of its own; nothing the user wrote is ever evaluated. Any
other Python syntax is refused with an ExpressionError that points at the offending column.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from dataclasses import dataclass
from typing import Callable

from gradlab.errors import GradlabError

__all__ = ["CONSTANTS", "ExpressionError", "FUNCTIONS", "Formula", "Function", "parse"]

#: Longest formula accepted, in characters.
MAX_LENGTH = 1000
#: Deepest nesting accepted: of parentheses, and of operations (calls, powers, signs and each chain of + - or of
#: * /, so a + b + c is one level): sin(sin(x)) is two levels deep.
MAX_DEPTH = 50
#: Largest magnitude of a constant exponent (x**1000 is accepted, x**1001 is not).
MAX_EXPONENT = 1000
#: A power of two constants must stay within 10**±MAX_MAGNITUDE: float64's range.
MAX_MAGNITUDE = 308

_SHOWN_WIDTH = 72


class ExpressionError(GradlabError):
    """A formula gradlab refuses to read; `column` (0-based, or None) is where the problem is.

    str(error) is the reason, then the formula with a caret under that column.
    """

    def __init__(self, reason: str, text: str = "", column: int | None = None):
        self.reason, self.text, self.column = reason, text, column
        message = self.headline if self.pointer is None else f"{self.headline}\n{self.pointer}"
        super().__init__(message)

    @property
    def headline(self) -> str:
        return self.reason if self.column is None else f"{self.reason} (column {self.column + 1})"

    @property
    def pointer(self) -> str | None:
        """Two indented lines: the formula (or the part of it around the column) and a caret under the column."""
        if self.column is None or not isinstance(self.text, str) or not self.text:
            return None
        shown = "".join(c if " " <= c <= "~" or c in TYPED else "?" for c in self.text)
        column = min(self.column, len(shown))
        if len(shown) > _SHOWN_WIDTH:
            start = max(0, min(column - _SHOWN_WIDTH // 2, len(shown) - _SHOWN_WIDTH))
            end = start + _SHOWN_WIDTH
            shown = ("…" if start else "") + shown[start:end] + ("…" if end < len(shown) else "")
            column = column - start + (1 if start else 0)
        return f"  {shown}\n  {' ' * column}^"


# --- the function table ----------------------------------------------------------------------------------------


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@dataclass(frozen=True)
class Function:
    """A function a formula may call: `tensorflow(tf, *args)`, `sympy(sympy, *args)` and `floats(*args)`
    compute it on tensors, on SymPy expressions and on Python floats. `meaning` says what it is."""

    name: str
    arity: int
    tensorflow: Callable
    sympy: Callable
    floats: Callable
    meaning: str


def _function(name, tensorflow, sympy, floats, meaning=""):
    return Function(name, 1, tensorflow, sympy, floats, meaning or f"{name}(x)")


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    _function("sin", lambda tf, x: tf.math.sin(x), lambda sp, x: sp.sin(x), math.sin),
    _function("cos", lambda tf, x: tf.math.cos(x), lambda sp, x: sp.cos(x), math.cos),
    _function("tan", lambda tf, x: tf.math.tan(x), lambda sp, x: sp.tan(x), math.tan),
    _function("asin", lambda tf, x: tf.math.asin(x), lambda sp, x: sp.asin(x), math.asin),
    _function("acos", lambda tf, x: tf.math.acos(x), lambda sp, x: sp.acos(x), math.acos),
    _function("atan", lambda tf, x: tf.math.atan(x), lambda sp, x: sp.atan(x), math.atan),
    _function("sinh", lambda tf, x: tf.math.sinh(x), lambda sp, x: sp.sinh(x), math.sinh),
    _function("cosh", lambda tf, x: tf.math.cosh(x), lambda sp, x: sp.cosh(x), math.cosh),
    _function("tanh", lambda tf, x: tf.math.tanh(x), lambda sp, x: sp.tanh(x), math.tanh),
    _function("asinh", lambda tf, x: tf.math.asinh(x), lambda sp, x: sp.asinh(x), math.asinh),
    _function("acosh", lambda tf, x: tf.math.acosh(x), lambda sp, x: sp.acosh(x), math.acosh),
    _function("atanh", lambda tf, x: tf.math.atanh(x), lambda sp, x: sp.atanh(x), math.atanh),
    _function("exp", lambda tf, x: tf.math.exp(x), lambda sp, x: sp.exp(x), math.exp),
    _function("log", lambda tf, x: tf.math.log(x), lambda sp, x: sp.log(x), math.log, "natural log"),
    _function("log1p", lambda tf, x: tf.math.log1p(x), lambda sp, x: sp.log(1 + x), math.log1p, "log(1+x)"),
    _function("expm1", lambda tf, x: tf.math.expm1(x), lambda sp, x: sp.exp(x) - 1, math.expm1, "exp(x)-1"),
    _function("sqrt", lambda tf, x: tf.math.sqrt(x), lambda sp, x: sp.sqrt(x), math.sqrt),
    _function("square", lambda tf, x: tf.math.square(x), lambda sp, x: x**2, lambda x: x * x, "x**2"),
    _function("abs", lambda tf, x: tf.math.abs(x), lambda sp, x: sp.Abs(x), abs, "|x|"),
    _function("sigmoid", lambda tf, x: tf.math.sigmoid(x), lambda sp, x: 1 / (1 + sp.exp(-x)), _sigmoid,
              "1/(1+exp(-x))"),
    _function("relu", lambda tf, x: tf.nn.relu(x), lambda sp, x: sp.Max(0, x), lambda x: max(0.0, x), "max(0,x)"),
    _function("softplus", lambda tf, x: tf.math.softplus(x), lambda sp, x: sp.log(1 + sp.exp(x)), _softplus,
              "log(1+exp(x))"),
    _function("erf", lambda tf, x: tf.math.erf(x), lambda sp, x: sp.erf(x), math.erf, "error function"),
)}

#: Names that stand for numbers: their float value and their SymPy form.
CONSTANTS: dict[str, tuple[float, Callable]] = {
    "pi": (math.pi, lambda sp: sp.pi),
    "e": (math.e, lambda sp: sp.E),
}


# --- the tree a formula is parsed into --------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float | int  # an int for integer literals, else a float
    column: int


@dataclass(frozen=True)
class Constant:
    name: str
    column: int


@dataclass(frozen=True)
class Variable:
    name: str
    column: int


@dataclass(frozen=True)
class Negate:
    operand: object
    column: int


@dataclass(frozen=True)
class Chain:
    """first op1 operand1 op2 operand2 ..., evaluated left to right; ops are all in "+-" or all in "*/"."""

    first: object
    rest: tuple  # ((op, operand), ...)
    column: int


@dataclass(frozen=True)
class Power:
    base: object
    exponent: object
    column: int  # of the "**"


@dataclass(frozen=True)
class Call:
    function: Function
    args: tuple
    column: int


@dataclass(frozen=True)
class Formula:
    """A parsed formula: the text, its tree and its variables in order of first appearance."""

    text: str
    root: object
    variables: tuple

    def tensorflow(self) -> Callable:
        """The formula as a function of one tensor per variable (in `variables` order), built from TensorFlow ops.

        The tensors share one float dtype, and constants take it; elementwise, so tensors of equal shape give
        one value per element.
        """
        from gradlab._tf import tf

        names, root = self.variables, self.root

        def f(*values):
            if len(values) != len(names):
                raise GradlabError(f"the formula takes {len(names)} values ({', '.join(names)}), got {len(values)}")
            values = [tf.convert_to_tensor(v) for v in values]
            return _tensorflow(root, dict(zip(names, values)), values[0].dtype, tf)

        f.__name__ = "formula"
        return f


def _tensorflow(node, env, dtype, tf):
    if isinstance(node, Variable):
        return env[node.name]
    if isinstance(node, Number):
        return tf.constant(float(node.value), dtype=dtype)
    if isinstance(node, Constant):
        return tf.constant(CONSTANTS[node.name][0], dtype=dtype)
    if isinstance(node, Negate):
        return tf.math.negative(_tensorflow(node.operand, env, dtype, tf))
    if isinstance(node, Power):
        return tf.math.pow(_tensorflow(node.base, env, dtype, tf), _tensorflow(node.exponent, env, dtype, tf))
    if isinstance(node, Call):
        return node.function.tensorflow(tf, *(_tensorflow(a, env, dtype, tf) for a in node.args))
    value = _tensorflow(node.first, env, dtype, tf)
    operations = {"+": tf.math.add, "-": tf.math.subtract, "*": tf.math.multiply, "/": tf.math.divide}
    for op, operand in node.rest:
        value = operations[op](value, _tensorflow(operand, env, dtype, tf))
    return value


# --- parsing ----------------------------------------------------------------------------------------------------

_ALLOWED = "numbers, variables, + - * / **, parentheses and functions such as sin(x)"
_SUM, _PRODUCT = {ast.Add: "+", ast.Sub: "-"}, {ast.Mult: "*", ast.Div: "/"}
_OTHER_OPERATORS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
                    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&"}
_REFUSED = {
    ast.Attribute: "attribute access with '.'", ast.Subscript: "indexing with [...]", ast.Lambda: "lambda",
    ast.IfExp: "if/else", ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.Tuple: "a comma (a tuple)",
    ast.List: "a list [...]", ast.Set: "a set {...}", ast.Dict: "a dict {...}", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator",
    ast.JoinedStr: "an f-string", ast.NamedExpr: "assignment with :=", ast.Starred: "*args",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice",
}


#: Characters of typeset mathematics, and what to type instead.
TYPED = {"²": "**2", "³": "**3", "π": "pi", "·": "*", "×": "*", "∙": "*", "−": "-", "÷": "/"}

#: Names from other notations, and what to write here.
ALIASES = {
    "ln": "write log(x), the natural logarithm",
    "log10": "write log(x)/log(10)",
    "arcsin": "write asin(x)", "arccos": "write acos(x)", "arctan": "write atan(x)",
    "arcsinh": "write asinh(x)", "arccosh": "write acosh(x)", "arctanh": "write atanh(x)",
    "max": "max(x, 0) is relu(x); write relu(x)",
    "min": "min(x, 0) is -relu(-x); write -relu(-x)",
    "pow": "write x**y",
    "sqr": "write x**2 or square(x)",
}

#: A number written against a name, as in 2x or 3.5y.
_JUXTAPOSED = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?)([A-Za-z_]\w*)")


def parse(text: str) -> Formula:
    """Read `text` as a formula, or raise ExpressionError saying what to change and where."""
    if not isinstance(text, str):
        raise ExpressionError(f"a formula is text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    for column, char in enumerate(text):
        if char in TYPED:
            written = "".join(TYPED.get(c, c) for c in text)
            raise ExpressionError(f"{char} is typeset, not typed: write {TYPED[char]} instead ({written})",
                                  text, column)
        if not " " <= char <= "~":
            raise ExpressionError(f"unexpected character {ascii(char)}; write the formula on one line in "
                                  "plain ASCII", text, column)
        if char == "#":
            raise ExpressionError("'#' starts a comment; a formula has none", text, column)
    if not text.strip():
        raise ExpressionError("the formula is empty; write one, e.g. 3*x**2 + 2*x*y")
    _check_brackets(text)
    lead = len(text) - len(text.lstrip())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise _syntax_error(error, text, lead) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"the formula is nested too deeply; the limit is {MAX_DEPTH} levels") from None
    reader = _Reader(text, lead)
    root = reader.node(tree.body, 0)[0]
    if not reader.variables:
        raise ExpressionError("the formula has no variables, so there is nothing to differentiate; "
                              "use a name such as x", text, lead)
    return Formula(text, root, tuple(reader.variables))


def _check_brackets(text):
    depth = 0
    for column, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(f"the formula is nested more than {MAX_DEPTH} levels deep", text, column)
        elif char in ")]}":
            depth -= 1


def _syntax_error(error, text, lead):
    stripped = text.strip()
    offset = error.offset if error.lineno in (None, 1) and error.offset else len(stripped) + 1
    column = min(lead + max(offset, 1) - 1, len(text))
    message = (error.msg or "invalid syntax").strip()
    juxtaposed = _JUXTAPOSED.search(stripped)
    if message.startswith("invalid decimal literal") and juxtaposed:
        number, name = juxtaposed.groups()
        return ExpressionError(f"a number written against a name: write {number}*{name}, not {number}{name}", text,
                               lead + juxtaposed.start(2))
    if message.startswith("invalid syntax. Perhaps you forgot a comma"):
        message = "two terms with no operator between them; write e.g. 2*x, not 2 x"
    elif message.startswith("invalid syntax. Maybe you meant '=='"):
        message = "'=' is not allowed in a formula"
    elif message.startswith("invalid syntax") and offset <= len(stripped) and stripped[offset - 1] == "=":
        message = "'=' is not allowed in a formula"
    elif message.startswith("invalid syntax"):
        message = ("the formula ends too soon" if offset > len(stripped) else
                   "is an operator or a parenthesis missing or extra here?")
    return ExpressionError(f"cannot read the formula: {message}", text, column)


class _Reader:
    """Turns the ast of the text into the formula's own tree, refusing anything outside the whitelist."""

    def __init__(self, text, lead):
        self.text, self.lead = text, lead
        self.variables = []

    def fail(self, reason, column):
        raise ExpressionError(reason, self.text, None if column is None else self.lead + column)

    def node(self, node, depth):
        """(tree node, its value as a float if it involves no variable, else None)."""
        if depth > MAX_DEPTH:
            self.fail(f"the formula is nested more than {MAX_DEPTH} levels deep", node.col_offset)
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        self.refuse(node)

    def refuse(self, node):
        while isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            node = node.value
        what = _REFUSED.get(type(node), type(node).__name__)
        column = node.col_offset
        if isinstance(node, ast.Attribute):
            column = self.find(".", node.value.end_col_offset, node.end_col_offset, column)
        elif isinstance(node, ast.Subscript):
            column = self.find("[", node.value.end_col_offset, node.end_col_offset, column)
        elif isinstance(node, ast.Compare):
            column = self.find_any(("<", ">", "=", "!", "in", "is", "not"), node.left.end_col_offset,
                                   node.comparators[0].col_offset, column)
        elif isinstance(node, ast.BoolOp):
            column = self.find_any(("and", "or"), node.values[0].end_col_offset, node.values[1].col_offset, column)
        elif isinstance(node, ast.Tuple) and node.elts:
            column = self.find(",", node.elts[0].end_col_offset, node.end_col_offset, column)
        verb = "are" if what.endswith("s") and not what.startswith(("a ", "an ")) else "is"
        self.fail(f"{what} {verb} not allowed in a formula; use {_ALLOWED}", column)

    def find(self, symbol, start, end, default):
        """The column of `symbol` in the stripped text between start and end (ast columns), else default."""
        body = self.text[self.lead:]
        found = body.find(symbol, start, end)
        return default if found < 0 else found

    def find_any(self, symbols, start, end, default):
        found = [c for c in (self.find(s, start, end, -1) for s in symbols) if c >= 0]
        return min(found) if found else default

    def number(self, node):
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self.fail(f"{value} is not a number; write a number such as 1 or 0.5", node.col_offset)
        if isinstance(value, (str, bytes)):
            self.fail(f"text in quotes is not allowed in a formula; use {_ALLOWED}", node.col_offset)
        if isinstance(value, complex):
            self.fail("complex numbers (like 1j) are not supported; gradlab differentiates real formulas",
                      node.col_offset)
        if isinstance(value, int):
            try:
                as_float = float(value)
            except OverflowError:
                as_float = math.inf
        else:
            as_float = value
        if not math.isfinite(as_float):
            literal = self.text[self.lead + node.col_offset:self.lead + node.end_col_offset]
            self.fail(f"the number {literal} does not fit in a float64 (the largest is about 1.8e308)",
                      node.col_offset)
        return Number(value, self.lead + node.col_offset), as_float

    def name(self, node):
        name, column = node.id, node.col_offset
        if name.startswith("_"):
            self.fail(f"names starting with '_' are not allowed: {name}", column)
        if name in FUNCTIONS:
            self.fail(f"{name} is a function; call it with an argument, e.g. {name}(x)", column)
        if name in CONSTANTS:
            return Constant(name, self.lead + column), CONSTANTS[name][0]
        if name not in self.variables:
            self.variables.append(name)
        return Variable(name, self.lead + column), None

    def unary(self, node, depth):
        if isinstance(node.op, ast.UAdd):
            return self.node(node.operand, depth + 1)
        if isinstance(node.op, ast.USub):
            operand, value = self.node(node.operand, depth + 1)
            return Negate(operand, self.lead + node.col_offset), None if value is None else -value
        symbol = "not" if isinstance(node.op, ast.Not) else "~"
        self.fail(f"{symbol} is not allowed in a formula; use {_ALLOWED}", node.col_offset)

    def operator_column(self, node, symbol):
        return self.find(symbol, node.left.end_col_offset, node.right.col_offset, node.col_offset)

    def binary(self, node, depth):
        op = type(node.op)
        if op in _OTHER_OPERATORS:
            symbol = _OTHER_OPERATORS[op]
            hint = "; for a power write ** (x**2)" if symbol == "^" else "; use + - * / and ** for powers"
            self.fail(f"the operator {symbol} is not allowed in a formula{hint}", self.operator_column(node, symbol))
        if op is ast.Pow:
            return self.power(node, depth)
        kinds = _SUM if op in _SUM else _PRODUCT
        spine = []
        while isinstance(node, ast.BinOp) and type(node.op) in kinds:
            spine.append(node)
            node = node.left
        first, value = self.node(node, depth + 1)
        rest = []
        for link in reversed(spine):
            operand, operand_value = self.node(link.right, depth + 1)
            symbol = kinds[type(link.op)]
            rest.append((symbol, operand))
            value = None if value is None or operand_value is None else _fold(symbol, value, operand_value)
        return Chain(first, tuple(rest), first.column), value

    def power(self, node, depth):
        column = self.operator_column(node, "**")
        base, base_value = self.node(node.left, depth + 1)
        exponent, exponent_value = self.node(node.right, depth + 1)
        if exponent_value is not None:
            if not math.isfinite(exponent_value):
                self.fail("the exponent is not a finite number", column)
            if abs(exponent_value) > MAX_EXPONENT:
                self.fail(f"the exponent {exponent_value:.6g} is too large; exponents are limited to "
                          f"±{MAX_EXPONENT}", column)
        value = None
        if base_value is not None and exponent_value is not None:
            if base_value != 0 and math.isfinite(base_value):
                magnitude = exponent_value * math.log10(abs(base_value))
                if abs(magnitude) > MAX_MAGNITUDE:
                    self.fail(f"this power is about 1e{magnitude:.0f}, outside float64's range "
                              f"(1e±{MAX_MAGNITUDE})", column)
            value = _fold("**", base_value, exponent_value)
        return Power(base, exponent, self.lead + column), value

    def call(self, node, depth):
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute):
                self.refuse(func)
            self.fail("only functions can be called, e.g. sin(x); is a * missing, as in 2*(x)?",
                      self.find("(", func.end_col_offset, node.end_col_offset, node.col_offset))
        name = func.id
        if name in ALIASES:
            self.fail(f"{name} is not one of the functions here: {ALIASES[name]}", func.col_offset)
        if name not in FUNCTIONS:
            if name.startswith("_"):
                self.fail(f"names starting with '_' are not allowed: {name}", func.col_offset)
            self.fail(f"unknown function {name}; the functions are {', '.join(sorted(FUNCTIONS))} "
                      f"(for a product, write {name}*(...))", func.col_offset)
        function = FUNCTIONS[name]
        if node.keywords:
            self.fail(f"keyword arguments are not allowed; write {name}(x)", node.keywords[0].col_offset)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail(f"*args is not allowed; write {name}(x)", arg.col_offset)
        if len(node.args) != function.arity:
            plural = "" if function.arity == 1 else "s"
            self.fail(f"{name} takes {function.arity} argument{plural}, got {len(node.args)}",
                      self.find("(", func.end_col_offset, node.end_col_offset, node.col_offset))
        args, values = [], []
        for arg in node.args:
            converted, value = self.node(arg, depth + 1)
            args.append(converted)
            values.append(value)
        value = None if None in values else _apply(function.floats, *values)
        return Call(function, tuple(args), self.lead + func.col_offset), value


def _fold(symbol, a, b):
    """a (symbol) b in floats, with overflow as ±inf and undefined results as nan (never an exception)."""
    try:
        if symbol == "+":
            return a + b
        if symbol == "-":
            return a - b
        if symbol == "*":
            return a * b
        if symbol == "/":
            return a / b
        return math.pow(a, b)
    except ZeroDivisionError:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _apply(function, *values):
    try:
        result = function(*values)
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError):
        return math.nan
    return float(result)
