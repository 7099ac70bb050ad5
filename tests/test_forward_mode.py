"""gradlab.check(..., modes=("rev", "fwd")): forward mode against finite differences and against the tape."""

import io
import json

import numpy as np
import pytest
from rich.console import Console

import gradlab
from gradlab._tf import tf
from gradlab.errors import GradlabError
from gradlab.export import to_json
from test_op_table import CASES, case, case_point, planted

BOTH = ("rev", "fwd")
ALL_OK = [("rev", "ok"), ("fwd", "ok"), ("fwd vs rev", "ok")]

# Smooth ops of the op table at their own points (inside each op's domain, no kinks), float64.
SMOOTH = ["sin", "cos", "tanh", "exp", "log", "sqrt", "sigmoid", "softplus", "erf", "atan", "asinh", "square",
          "multiply", "divide", "pow", "atan2", "xlogy", "reduce_logsumexp", "reduce_prod", "cumprod",
          "softmax", "log_softmax", "l2_normalize", "matmul", "det", "inv", "solve", "conv2d",
          "einsum matmul", "gather", "tile", "dct", "expm", "logdet spd", "scatter_nd", "segment_sum",
          "unsorted_segment_sum"]
FAST = ["sin", "divide", "softmax", "matmul", "det", "conv2d"]
FLOAT32 = ["sin", "exp", "divide", "softmax", "matmul"]


def rows(result):
    return [(m.mode, m.state) for m in result.modes]


def forward_only_error(op):
    """op with a planted forward-mode-only error: its value is op's, its declared gradient is op's true one,
    and the derivative of the operations it runs is 1.01 times the true one.

    TensorFlow 2.21's ForwardAccumulator, in eager mode, differentiates the operations a tf.custom_gradient
    runs and never calls its declared gradient; the tape calls the declared gradient and nothing else. So the
    value op(x) + 0.01 * (op(x) - stop_gradient(op(x))), exactly op(x), has a right gradient in reverse mode
    and a JVP 1% off in forward mode.
    """

    @tf.custom_gradient
    def wrong(*args):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(args)
            y = op(*args)
        value = y + 0.01 * (y - tf.stop_gradient(y))

        def grad(dy):
            return [tf.convert_to_tensor(g) for g in tape.gradient(y, args, output_gradients=dy)]

        return value, grad

    return wrong


@pytest.mark.parametrize("name", SMOOTH)
def test_forward_mode_agrees_on_the_op_table(name):
    """Every Jacobian entry of the op's own output, column by column from the ForwardAccumulator, agrees with
    finite differences and with the tape."""
    result = gradlab.check(CASES[name][0], *case_point(name, "float64", 0), modes=BOTH)
    assert rows(result) == ALL_OK, str(result)


@pytest.mark.parametrize("name", FAST)
def test_fast_mode_checks_forward_mode_along_random_directions(name):
    """Fast mode: J u along seeded random directions, and v^T (J u) against the tape's (v^T J) u."""
    f, args = case(name, "float64")
    result = gradlab.check(f, *args, mode="fast", modes=BOTH)
    assert rows(result) == ALL_OK, str(result)


@pytest.mark.parametrize("name", FLOAT32)
def test_float32_passes_in_forward_mode(name):
    result = gradlab.check(CASES[name][0], *case_point(name, "float32", 0), modes=BOTH)
    assert rows(result) == ALL_OK, str(result)


PLANTED_FORWARD = [("sin", "full"), ("exp", "full"), ("softmax", "full"), ("matmul", "full"), ("det", "fast"),
                   ("sin", "fast")]


@pytest.mark.parametrize("name, mode", PLANTED_FORWARD)
def test_a_forward_mode_only_error_is_caught_in_the_fwd_row_alone(name, mode):
    """The error planted in forward mode fails fwd (and the comparison with the tape), never rev."""
    result = gradlab.check(forward_only_error(CASES[name][0]), *case_point(name, "float64", 0), mode=mode,
                           modes=BOTH)
    assert rows(result) == [("rev", "ok"), ("fwd", "fail"), ("fwd vs rev", "fail")], str(result)


@pytest.mark.parametrize("name", ["sin", "matmul"])
def test_a_reverse_mode_only_error_fails_rev_and_not_fwd(name):
    """A 1%-scaled tf.custom_gradient is wrong on the tape only: eager forward mode does not call it."""
    result = gradlab.check(planted(CASES[name][0]), *case_point(name, "float64", 0), modes=BOTH)
    assert rows(result) == [("rev", "fail"), ("fwd", "ok"), ("fwd vs rev", "fail")], str(result)


@pytest.mark.parametrize("name, op", [("softsign", "Softsign"), ("dilation2d", "an op of f")])
def test_a_missing_forward_rule_is_said_on_one_line_not_a_failure(name, op):
    """TensorFlow cannot build these JVPs (the gradient's gradient is not registered): inconclusive, named."""
    result = gradlab.check(CASES[name][0], *case_point(name, "float64", 0), modes=BOTH)
    fwd = result.modes[1]
    assert (result.state, rows(result)[:2], fwd.note.startswith(f"no forward-mode rule for {op}"),
            "\n" in fwd.note) == ("inconclusive", [("rev", "ok"), ("fwd", "inconclusive")], True, False), \
        str(result)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_jvp_that_is_not_finite_where_f_is_constant_fails_fwd_alone(mode):
    """segment_max's empty segment is a constant output (0); TensorFlow 2.21's JVP there is NaN while its
    gradient is right. The fwd row fails exactly when TensorFlow's own JVP is not finite."""
    f, args = CASES["segment_max"][0], case_point("segment_max", "float64", 0)
    x = tf.constant(args[0])
    with tf.autodiff.ForwardAccumulator(x, tf.ones_like(x)) as accumulator:
        y = f(x)
    expected = "ok" if np.all(np.isfinite(accumulator.jvp(y).numpy())) else "fail"
    if mode == "fast":
        f, args = case("segment_max", "float64")
    result = gradlab.check(f, *args, mode=mode, modes=BOTH)
    assert rows(result) == [("rev", "ok"), ("fwd", expected), ("fwd vs rev", expected)], str(result)


def test_full_mode_past_the_basis_limit_checks_forward_mode_along_directions():
    x = np.random.default_rng(0).standard_normal((9, 9))
    result = gradlab.check(lambda x: tf.tanh(x) * 2.0, x, modes=BOTH)
    assert (rows(result), result.modes[1].compared) == (ALL_OK, 3 * 81), str(result)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_relu_at_its_kink_is_not_a_false_fail_in_forward_mode(mode):
    result = gradlab.check(lambda x: tf.reduce_sum(tf.nn.relu(x) * [1.0, 2.0, 3.0]) if mode == "fast"
                           else tf.nn.relu(x), np.array([0.0, 1.5, -0.7]), mode=mode, modes=BOTH)
    assert "fail" not in [state for _, state in rows(result)], str(result)


def test_variables_mode_checks_forward_mode_and_restores_the_variables():
    w = tf.Variable([[0.3, -1.2], [0.8, 0.5]], dtype=tf.float64)
    b = tf.Variable([0.1, -0.4], dtype=tf.float64)
    before = [w.numpy().tobytes(), b.numpy().tobytes()]
    x = tf.constant([[1.0, 2.0]], dtype=tf.float64)
    result = gradlab.check(lambda: tf.tanh(x @ w + b), variables=[w, b], modes=BOTH)
    assert (rows(result), [w.numpy().tobytes(), b.numpy().tobytes()]) == (ALL_OK, before), str(result)


@pytest.mark.parametrize("options", [dict(modes="fwd"), dict(modes=()), dict(modes=("fwd",)),
                                     dict(modes=("rev", "bwd")), dict(modes=None), dict(modes=BOTH, order=2)])
def test_bad_modes_are_refused(options):
    with pytest.raises(GradlabError, match="mode"):
        gradlab.check(tf.sin, 0.5, **options)


def test_the_default_checks_reverse_mode_only():
    assert gradlab.check(tf.sin, 0.5).modes == []


def test_the_report_and_json_have_a_row_per_mode():
    """At 80 columns the report has the table by mode; the JSON view has the same rows."""
    result = gradlab.check(forward_only_error(tf.sin), np.array([0.3, 0.7]), modes=BOTH)
    console = Console(width=80, file=io.StringIO(), color_system=None)
    console.print(result)
    lines = console.file.getvalue().splitlines()
    shown = json.loads(json.dumps(to_json(result)))["modes"]
    table = [line.split()[:4] for line in lines if line.startswith("fwd vs rev ")]
    assert (table, max(map(len, lines)) <= 80, [(m["mode"], m["state"]) for m in shown]) == \
        ([["fwd", "vs", "rev", "4"]], True, [("rev", "ok"), ("fwd", "fail"), ("fwd vs rev", "fail")]), \
        "\n".join(lines)
