"""The symbolic side of a formula: its SymPy expression, derivatives, their values at a point and their printed form.

The SymPy expression is built from the parse tree (gradlab.expr) with sympy.Symbol, Integer, Float and the
functions of the table; user text never reaches sympify. Every step has bounded work:

- SymPy computes powers of exact numbers exactly; while gradlab builds or differentiates an expression, a power
  whose exact result would need more than EXACT_POWER_BITS bits is refused (ExpressionError) instead of hanging.
- Values are computed node by node in DIGITS-digit floats, never by substituting into the exact expression;
  growth beyond 2**GROWTH_BITS (exp, sinh, cosh, powers) counts as overflow (inf) and decay beyond it as 0, and
  sin, cos and tan of arguments beyond float64's range are nan.
"""

from __future__ import annotations

import contextvars
import math
from contextlib import contextmanager
from dataclasses import dataclass

from gradlab.expr import CONSTANTS, Call, Constant, ExpressionError, Formula, Negate, Number, Power, Variable

__all__ = ["Symbolic", "formula_text", "symbolic"]

#: Decimal digits of the floats a symbolic value is computed in, before it is rounded to float64.
DIGITS = 30
#: The most bits an exact power of rationals may need while building or differentiating an expression.
EXACT_POWER_BITS = 100_000
#: Values beyond 2**±GROWTH_BITS are treated as overflow (inf) or underflow (0) when evaluating.
GROWTH_BITS = 2**20


class _PowerTooLarge(ArithmeticError):
    """Raised inside SymPy by the guard on exact powers; turned into an ExpressionError by gradlab."""


_GUARDED = contextvars.ContextVar("gradlab_guarded_powers", default=False)


def _sympy():
    import sympy

    _install_guard(sympy)
    return sympy


def _install_guard(sympy):
    """Wrap SymPy's exact power of Rational and Integer once; the wrapper only checks inside `_bounded()`."""
    from sympy.core import numbers

    for cls in (numbers.Rational, numbers.Integer):
        original = cls.__dict__["_eval_power"]
        if getattr(original, "_gradlab_guard", False):
            continue

        def guarded(self, expt, _original=original):
            if _GUARDED.get() and isinstance(expt, numbers.Rational):
                bits = max(abs(int(self.p)).bit_length(), int(self.q).bit_length())
                if bits > 1 and bits * abs(int(expt.p)) > EXACT_POWER_BITS * int(expt.q):
                    raise _PowerTooLarge()
            return _original(self, expt)

        guarded._gradlab_guard = True
        cls._eval_power = guarded


@contextmanager
def _bounded():
    token = _GUARDED.set(True)
    try:
        yield
    finally:
        _GUARDED.reset(token)


@dataclass
class Symbolic:
    """A formula as a SymPy expression; `symbols[name]` is the real Symbol of each variable."""

    formula: Formula
    expression: object
    symbols: dict

    def derivative(self, name, of=None):
        """d expression / d name (or d of / d name, for a derivative already taken), as a SymPy expression."""
        sympy = _sympy()
        with _bounded():
            try:
                return sympy.diff(self.expression if of is None else of, self.symbols[name])
            except _PowerTooLarge:
                raise _too_large(self.formula, None) from None
            except (RecursionError, MemoryError):
                raise ExpressionError("the derivative of this formula is too large to compute") from None
            except (TypeError, ValueError, ArithmeticError) as error:
                raise _sympy_failed(self.formula, error) from None

    def value(self, expression, point):
        """The expression's value at `point` {name: float}, as a float: nan where it is undefined or not real,
        ±inf where it overflows."""
        return evaluate(expression, {self.symbols[name]: float(v) for name, v in point.items()
                                     if name in self.symbols})


def symbolic(formula: Formula) -> Symbolic:
    """The SymPy expression of a parsed formula, built node by node from its tree."""
    sympy = _sympy()
    symbols = {name: sympy.Symbol(name, real=True) for name in formula.variables}
    with _bounded():
        try:
            expression = _build(formula.root, symbols, sympy, formula)
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError("the formula is nested too deeply for SymPy") from None
        except (TypeError, ValueError, ArithmeticError) as error:
            raise _sympy_failed(formula, error) from None
    return Symbolic(formula, expression, symbols)


def _too_large(formula, column):
    return ExpressionError(f"SymPy would have to compute an exact power of more than {EXACT_POWER_BITS} bits; use "
                           "smaller exponents or decimal numbers (2.0 instead of 2)", formula.text, column)


def _sympy_failed(formula, error):
    first = (str(error).splitlines() or [type(error).__name__])[0]
    return ExpressionError(f"SymPy cannot handle this formula: {first[:200]}")


def _build(node, symbols, sp, formula):
    if isinstance(node, Variable):
        return symbols[node.name]
    if isinstance(node, Number):
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
    if isinstance(node, Constant):
        return CONSTANTS[node.name][1](sp)
    if isinstance(node, Negate):
        parts = [_build(node.operand, symbols, sp, formula)]
    elif isinstance(node, Power):
        parts = [_build(node.base, symbols, sp, formula), _build(node.exponent, symbols, sp, formula)]
    elif isinstance(node, Call):
        parts = [_build(a, symbols, sp, formula) for a in node.args]
    else:
        parts = [_build(node.first, symbols, sp, formula)] + [_build(o, symbols, sp, formula) for _, o in node.rest]
    try:
        if isinstance(node, Negate):
            return -parts[0]
        if isinstance(node, Power):
            return sp.Pow(*parts)
        if isinstance(node, Call):
            return node.function.sympy(sp, *parts)
        ops = [op for op, _ in node.rest]
        if ops[0] in "+-":
            return sp.Add(parts[0], *(p if op == "+" else -p for op, p in zip(ops, parts[1:])))
        return sp.Mul(parts[0], *(p if op == "*" else sp.Pow(p, -1) for op, p in zip(ops, parts[1:])))
    except _PowerTooLarge:
        raise _too_large(formula, node.column) from None


# --- values with bounded work -----------------------------------------------------------------------------------


def evaluate(expression, values) -> float:
    """The value of a SymPy expression with each Symbol replaced by a float, computed node by node (shared
    subexpressions once) in DIGITS-digit floats: a float, nan where undefined or not real, ±inf on overflow."""
    sp = _sympy()
    memo = {}
    stack = [expression]
    with _bounded():
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            pending = [arg for arg in node.args if arg not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            try:
                memo[node] = _node_value(node, [memo[arg] for arg in node.args], values, sp)
            except (_PowerTooLarge, ArithmeticError, TypeError, ValueError):
                memo[node] = sp.nan
    return _as_float(memo[expression], sp)


def _node_value(node, args, values, sp):
    if node.is_Symbol:
        return sp.Float(values[node], DIGITS) if node in values else sp.nan
    if node.is_Number:
        return node if node in (sp.oo, -sp.oo, sp.nan, sp.zoo) else sp.Float(node, DIGITS)
    if node.is_NumberSymbol:
        return node.evalf(DIGITS)
    if any(arg is sp.nan or arg is sp.zoo for arg in args):
        return sp.nan
    if node.is_Add:
        result = sp.Add(*args)
    elif node.is_Mul:
        result = sp.Mul(*args)
    elif node.is_Pow:
        result = _power(*args, sp)
    else:
        result = _function(node.func, args, sp)
    return _real(result, sp)


def _power(base, exponent, sp):
    if base.is_Float and exponent.is_Float and not base.is_zero and float(abs(base)) != 1.0:
        growth = float(exponent * sp.log(abs(base))) / math.log(2)
        if growth > GROWTH_BITS:
            return sp.oo if base > 0 else sp.nan
        if growth < -GROWTH_BITS:
            return sp.Float(0)
    return sp.Pow(base, exponent)


def _function(func, args, sp):
    if len(args) == 1 and args[0].is_Float:
        x = args[0]
        if func in (sp.exp, sp.sinh, sp.cosh) and abs(x) > GROWTH_BITS * math.log(2):
            if func is sp.exp:
                return sp.oo if x > 0 else sp.Float(0)
            return sp.oo if x > 0 or func is sp.cosh else -sp.oo
        if func in (sp.sin, sp.cos, sp.tan) and not math.isfinite(float(x)):
            return sp.nan
        if func is sp.log and x.is_zero:
            return -sp.oo
    result = func(*args)
    if not (result.is_Number or result.is_Boolean):
        result = result.evalf(DIGITS)
    return result


def _real(value, sp):
    """A real Float, ±oo, or nan for anything else (complex, unevaluated, undefined)."""
    if value is sp.oo or value is -sp.oo or getattr(value, "is_Boolean", False):
        return value
    if value.is_Number:
        if value is sp.nan or value is sp.zoo:
            return sp.nan
        return value if value.is_Float else sp.Float(value, DIGITS)
    return sp.nan


def _as_float(value, sp):
    if value is sp.oo:
        return math.inf
    if value is -sp.oo:
        return -math.inf
    if getattr(value, "is_Float", False):
        return float(value)
    return math.nan


# --- printing ---------------------------------------------------------------------------------------------------


def formula_text(expression) -> str:
    """The expression in Python syntax (sympy.sstr), with decimals as Python prints them: 6*w1 + 2*w2, 0.1*x."""
    try:
        return _printer()(expression)
    except (ValueError, RecursionError):  # integers beyond Python's digit limit for str()
        return "(too large to print)"


_PRINTER = None


def _printer():
    global _PRINTER
    if _PRINTER is None:
        from sympy.printing.precedence import PRECEDENCE
        from sympy.printing.str import StrPrinter

        class Printer(StrPrinter):
            def _print_Float(self, expr):
                value = float(expr)
                if value.is_integer() and abs(value) < 1e16:
                    return str(int(value))
                return repr(value)

            def _print_Mul(self, expr):
                coeff, rest = expr.as_coeff_Mul()
                if coeff.is_Float and float(coeff) in (1.0, -1.0) and rest != 1:
                    text = self.parenthesize(rest, PRECEDENCE["Mul"])
                    return "-" + text if float(coeff) < 0 else text
                return super()._print_Mul(expr)

            def _print_Pow(self, expr, rational=False):
                if expr.exp.is_Float and float(expr.exp) == 1.0:
                    return self.parenthesize(expr.base, PRECEDENCE["Pow"])
                return super()._print_Pow(expr, rational)

        _PRINTER = Printer().doprint
    return _PRINTER
