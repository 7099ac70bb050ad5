"""gradlab.check_many at points from a list, a function of a Generator or a hypothesis strategy, and
gradlab.strategies."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

import gradlab
from gradlab import strategies
from gradlab._tf import tf
from gradlab.engine.many import literal
from gradlab.errors import GradlabError, NotDifferentiableError
from gradlab.render import to_text


def smooth(x):
    return tf.reduce_sum(tf.sin(x) * x**2)


@tf.custom_gradient
def wrong_above_two(x):
    """sum(x^2), whose tape gradient is 5% too large wherever x > 2."""
    def backward(dy):
        return dy * 2.0 * x * tf.where(x > 2, tf.constant(1.05, x.dtype), tf.constant(1.0, x.dtype))

    return tf.reduce_sum(x**2), backward


def relu(x):
    return tf.reduce_sum(tf.nn.relu(x))


CORRECT_POINTS = {
    "list": [(0.5,), (np.array([1.0, -2.0]),), (tf.constant([0.3, 0.1], dtype=tf.float32),), [2.0, 1.0]],
    "callable": lambda rng: rng.uniform(-3, 3, size=3),
    "strategy": strategies.points(strategies.arrays((3,))),
}

# points, what the shrunk point must be: the simplest failure (the smallest given, or hypothesis's integer or
# a value at the boundary)
FAILING_POINTS = {
    "list": ([(0.5,), (1.5,), (3.0,), (2.5,), (np.array([2.2, 0.1]),)], lambda x: x == 2.5),
    "strategy": (strategies.arrays(()), lambda x: 2 < x <= 3 and (float(x).is_integer() or x - 2 < 1e-2)),
}


def _shrunk_value(result):
    (value,) = result.shrunk.args
    return float(value)


@pytest.mark.parametrize("points", CORRECT_POINTS.values(), ids=CORRECT_POINTS)
def test_a_correct_gradient_passes_at_every_point(points):
    result = gradlab.check_many(smooth, points, count=8)
    assert (result.state, result.passed, result.failed) == ("ok", len(result.checks), 0)


@pytest.fixture(scope="module", params=FAILING_POINTS, ids=FAILING_POINTS)
def failing(request):
    points, simplest = FAILING_POINTS[request.param]
    return gradlab.check_many(wrong_above_two, points, count=12), simplest


def test_a_gradient_wrong_above_two_fails(failing):
    result, _ = failing
    assert (result.state, result.failed > 0, result.worst.state) == ("fail", True, "fail")


def test_the_shrunk_point_is_the_simplest_failure(failing):
    result, simplest = failing
    assert simplest(_shrunk_value(result))


def test_the_reproduce_line_fails_when_run(failing):
    result, _ = failing
    namespace = {"gradlab": gradlab, "np": np, "tf": tf, "f": wrong_above_two}
    namespace["wrong_above_two"] = wrong_above_two
    with pytest.raises(AssertionError):
        exec(result.reproduce, namespace)


def test_the_report_fits_80_columns_and_shows_the_line(failing):
    result, _ = failing
    text = to_text(result, width=80)
    fits = max(map(len, text.splitlines())) <= 80
    assert (fits, "assert_gradients_close(wrong_above_two" in text) == (True, True)


@settings(max_examples=30, deadline=None)
@given(x=strategies.arrays((4,), away_from=[0]))
def test_arrays_away_from_a_kink_never_come_near_it(x):
    assert np.min(np.abs(x)) >= 1e-3 * 6


@settings(max_examples=30, deadline=None)
@given(x=strategies.arrays((2, 2), dtype="float32", min_value=-1, max_value=2, away_from=[0, 1], margin=0.01))
def test_float32_arrays_stay_in_range_and_away_from_each_kink(x):
    assert (x.dtype, bool(np.all((x >= -1) & (x <= 2))), float(np.min(np.abs(x[..., None] - [0.0, 1.0])))
            >= 0.03) == (np.float32, True, True)


def test_relu_away_from_its_kink_passes():
    result = gradlab.check_many(relu, strategies.arrays((3,), away_from=[0]), count=10)
    assert (result.state, result.kinks, result.failed) == ("ok", 0, 0)


def test_relu_exactly_at_its_kink_counts_kinks_not_failures():
    result = gradlab.check_many(relu, [(0.0,), (np.zeros(2),), (1.0,)])
    assert (result.state, result.passed, result.kinks, result.failed) == ("inconclusive", 1, 2, 0)


def test_a_refused_point_is_reported_and_the_others_checked():
    result = gradlab.check_many(smooth, [(1.0,), (np.array([1, 2]),)])
    counts = (result.state, result.passed, result.refused, result.checks[1].state)
    assert counts == ("inconclusive", 1, 1, "refused")


def test_every_point_refused_raises_the_refusal():
    with pytest.raises(NotDifferentiableError):
        gradlab.check_many(smooth, [(np.array([1, 2]),), (True,)])


BAD_CALLS = {
    "empty list": lambda: gradlab.check_many(smooth, []),
    "a number": lambda: gradlab.check_many(smooth, 3.0),
    "a string": lambda: gradlab.check_many(smooth, "1.0, 2.0"),
    "a tuple": lambda: gradlab.check_many(smooth, (1.0, 2.0)),
    "an array": lambda: gradlab.check_many(smooth, np.array([1.0, 2.0])),
    "count 0": lambda: gradlab.check_many(smooth, [(1.0,)], count=0),
    "f not callable": lambda: gradlab.check_many(3.0, [(1.0,)]),
    "variables": lambda: gradlab.check_many(smooth, [(1.0,)], variables=[]),
    "bad dtype": lambda: strategies.arrays((3,), dtype="int32"),
    "bad shape": lambda: strategies.arrays("3"),
    "empty range": lambda: strategies.arrays((3,), min_value=1, max_value=1),
    "all near a kink": lambda: strategies.arrays((3,), min_value=0, max_value=1, away_from=[0.5], margin=0.6),
    "kink not a number": lambda: strategies.arrays((3,), away_from=["0"]),
    "points of values": lambda: strategies.points(1.0),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS)
def test_bad_input_is_a_one_line_gradlab_error(call):
    with pytest.raises(GradlabError) as raised:
        call()
    assert "\n" not in str(raised.value)


LITERALS = {
    "python float": 2.5,
    "python list": [1.0, -0.1],
    "float64 array": np.array([[1e-300, -2.0]]),
    "float32 array": np.array([0.1, 3.0], dtype=np.float32),
    "0-d array": np.array(3.0),
    "numpy scalar": np.float32(0.1),
    "not finite": np.array([np.nan, np.inf, -np.inf]),
    "float32 tensor": tf.constant([0.1, 0.2], dtype=tf.float32),
    "variable": tf.Variable([1.5], dtype=tf.float64),
}


@pytest.mark.parametrize("value", LITERALS.values(), ids=LITERALS)
def test_a_literal_rebuilds_the_value_exactly(value):
    rebuilt = eval(literal(value), {"np": np, "tf": tf})
    same = (type(rebuilt), np.asarray(rebuilt).dtype, np.asarray(rebuilt).tobytes())
    assert same == (type(value), np.asarray(value).dtype, np.asarray(value).tobytes())


def test_strategies_without_hypothesis_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(GradlabError, match="pip install hypothesis"):
        strategies.arrays((3,))


def test_import_gradlab_imports_neither_tensorflow_nor_hypothesis():
    code = ("import sys, gradlab; gradlab.strategies.arrays; from gradlab import strategies; "
            "print('tensorflow' in sys.modules, 'hypothesis' in sys.modules, 'check_many' in dir(gradlab))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]
