"""gradlab.check: planted gradient bugs are caught and named, correct gradients pass, inputs are left alone."""

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf
from gradlab.render import to_text

N = 1000
WRONG_INDEX = 417


def with_gradient(grad_fn):
    """sum(sin(x) * x^2) whose gradient is grad_fn(x, true_gradient), through tf.custom_gradient."""

    @tf.custom_gradient
    def f(x):
        def grad(dy):
            return dy * grad_fn(x, tf.cos(x) * x**2 + 2 * x * tf.sin(x))

        return tf.reduce_sum(tf.sin(x) * x**2), grad

    return f


def one_entry_wrong(x, g):
    return tf.tensor_scatter_nd_add(g, [[WRONG_INDEX]], tf.constant([0.05], dtype=g.dtype))


PLANTED = {
    "1% scale error": (lambda x, g: g * 1.01, True),
    "one wrong entry of 1000": (one_entry_wrong, False),
    "sign flip": (lambda x, g: -g, True),
    "missing factor 2": (lambda x, g: tf.cos(x) * x**2 + x * tf.sin(x), True),
}


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def point(request):
    return np.random.default_rng(3).uniform(-1.0, 1.0, N).astype(request.param)


@pytest.mark.parametrize("bug", PLANTED, ids=list(PLANTED))
def test_planted_bug_is_caught_in_full_mode(bug, point):
    result = gradlab.check(with_gradient(PLANTED[bug][0]), point)
    assert not result.ok
    assert not result.worst[0].ok


@pytest.mark.parametrize("bug", [b for b, (_, most) in PLANTED.items() if most])
def test_bug_touching_most_entries_is_caught_in_fast_mode(bug, point):
    assert not gradlab.check(with_gradient(PLANTED[bug][0]), point, mode="fast").ok


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_one_wrong_entry_is_named(mode):
    x = np.random.default_rng(3).uniform(-1.0, 1.0, N)
    result = gradlab.check(with_gradient(one_entry_wrong), x, mode=mode)
    assert not result.ok
    assert result.worst[0].index == (WRONG_INDEX,)
    assert f"x[{WRONG_INDEX}]" in to_text(result)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_correct_gradient_passes(mode, point):
    result = gradlab.check(with_gradient(lambda x, g: g), point, mode=mode)
    assert result.ok, to_text(result)
    assert result.dtype == point.dtype.name


CORRECT = [
    ("several arguments", lambda a, b: tf.reduce_sum(a * tf.exp(b)), (np.ones(3), np.linspace(0, 1, 3))),
    ("matrix", lambda m: tf.linalg.trace(tf.matmul(m, m)), (np.arange(9.0).reshape(3, 3) / 9,)),
    ("vector output", lambda x: tf.tanh(x) * x, (np.linspace(-2, 2, 50),)),
    ("python numbers", lambda w1, w2: 3 * w1**2 + 2 * w1 * w2, (5.0, 3.0)),
    ("softmax cross-entropy", lambda z: tf.nn.softmax_cross_entropy_with_logits([0.0, 1.0, 0.0], z), (np.array([0.3, -1.0, 2.0]),)),
]


@pytest.mark.parametrize("name, f, args", CORRECT, ids=[c[0] for c in CORRECT])
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_correct_functions_pass(name, f, args, mode):
    result = gradlab.check(f, *args, mode=mode)
    assert result.ok, to_text(result)


def test_fast_mode_uses_a_fixed_number_of_directional_evaluations():
    calls = []

    def f(x):
        calls.append(1)
        return tf.reduce_sum(x**2)

    gradlab.check(f, np.ones(50_000), mode="fast", samples=0)
    assert len(calls) <= 8


def test_fast_mode_reports_its_coverage():
    result = gradlab.check(lambda x: tf.reduce_sum(x**3), np.ones(5000), mode="fast")
    assert "64 of 5000 entries sampled" in result.inputs[0].note
    assert "47% for p=1%" in to_text(result)


def test_assert_gradients_close_raises_with_the_report():
    with pytest.raises(AssertionError, match="gradients differ"):
        gradlab.assert_gradients_close(with_gradient(lambda x, g: g * 1.01), np.ones(10))
    assert gradlab.assert_gradients_close(lambda x: x**2, 3.0).ok


# variables ---------------------------------------------------------------------------------------------------


def make_variables():
    rng = np.random.default_rng(5)
    return tf.Variable(rng.normal(size=(4, 3))), tf.Variable(rng.normal(size=3))


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_variables_mode_checks_a_loss_and_restores_bit_for_bit(mode):
    w, b = make_variables()
    before = [w.numpy().tobytes(), b.numpy().tobytes()]
    x = tf.constant(np.linspace(-1, 1, 8).reshape(2, 4))
    result = gradlab.check(lambda: tf.reduce_mean(tf.tanh(x @ w + b) ** 2), variables=[w, b], mode=mode)
    assert result.ok, to_text(result)
    assert [w.numpy().tobytes(), b.numpy().tobytes()] == before


def test_variables_restored_when_f_raises():
    w, b = make_variables()
    before = [w.numpy().tobytes(), b.numpy().tobytes()]
    calls = []

    def loss():
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("boom")
        return tf.reduce_sum(w) + tf.reduce_sum(b)

    with pytest.raises(RuntimeError, match="boom"):
        gradlab.check(loss, variables=[w, b])
    assert [w.numpy().tobytes(), b.numpy().tobytes()] == before


def test_arguments_are_not_modified():
    v = tf.Variable([1.0, 2.0], dtype=tf.float64)
    a = np.array([0.5, 1.5])
    copy_a, copy_v = a.copy(), v.numpy().copy()
    gradlab.check(lambda p, q: tf.reduce_sum(p * q**2), v, a)
    assert np.array_equal(a, copy_a) and np.array_equal(v.numpy(), copy_v)


# None gradients and non-finite values ---------------------------------------------------------------------------

NONE_CASES = [
    ("unused input", lambda a, b: a**2, "not connected"),
    ("numpy inside f", lambda a, b: a**2 + tf.constant(np.sin(b.numpy())), "numpy"),
]


@pytest.mark.parametrize("name, f, cause", NONE_CASES, ids=[c[0] for c in NONE_CASES])
def test_none_gradient_names_input_and_cause(name, f, cause):
    result = gradlab.check(f, 1.0, 2.0)
    assert not result.ok
    report = result.inputs[1]
    assert report.name == "x1" and not report.ok and cause in report.note


def test_unconnected_zero_passes_an_unused_input():
    assert gradlab.check(lambda a, b: a**2, 1.0, 2.0, unconnected="zero").ok


def test_unconnected_zero_still_fails_a_hidden_dependence():
    assert not gradlab.check(lambda a, b: a**2 + tf.constant(np.sin(b.numpy())), 1.0, 2.0, unconnected="zero").ok


@pytest.mark.parametrize("f, x", [
    (lambda x: tf.reduce_sum(tf.math.log(x)), np.array([1.0, 0.0])),
    (lambda x: tf.reduce_sum(1.0 / x), np.array([0.0, 2.0])),
])
def test_non_finite_values_fail_without_crashing(f, x):
    result = gradlab.check(f, x)
    assert not result.ok
    assert "not finite" in to_text(result)


def test_an_infinite_derivative_at_a_domain_edge_is_not_differentiable_rather_than_wrong():
    result = gradlab.check(lambda x: tf.reduce_sum(tf.sqrt(x)), np.array([0.0, 4.0]))
    assert result.ok and result.inputs[0].kinks == 1
    assert "not finite" in to_text(result) and result.worst[0].state == "kink"


# bad input -------------------------------------------------------------------------------------------------------

BAD = [
    ("int tensor", lambda x: x * 2, (tf.constant(3),), "int32"),
    ("int numpy array", lambda x: x * 2, (np.arange(3),), "int64"),
    ("string", lambda x: x, ("abc",), "str"),
    ("float16", lambda x: x * 2, (tf.constant(1.0, tf.float16),), "float16"),
    ("None argument", lambda x: x, (None,), "None"),
    ("returns None", lambda x: None, (1.0,), "returned None"),
    ("returns a string", lambda x: "y", (1.0,), "returned a str"),
    ("integer output", lambda x: tf.constant(3), (1.0,), "int32"),
]


@pytest.mark.parametrize("entry", ["check", "numeric_gradient", "tape_gradient", "compare"])
@pytest.mark.parametrize("name, f, args, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_one_clear_gradlab_error(entry, name, f, args, words):
    with pytest.raises(gradlab.NotDifferentiableError) as info:
        getattr(gradlab, entry)(f, *args)
    message = str(info.value)
    assert words in message and "\n" not in message


@pytest.mark.parametrize("options, words", [
    ({"mode": "slow"}, "mode"), ({"unconnected": "maybe"}, "unconnected"), ({"method": "spline"}, "method"),
    ({"samples": -1}, "samples"), ({"samples": 2.5}, "samples"),
])
def test_bad_options_are_named(options, words):
    with pytest.raises(gradlab.GradlabError, match=words):
        gradlab.check(lambda x: x**2, 1.0, **options)


def test_variables_and_arguments_together_are_refused():
    with pytest.raises(gradlab.GradlabError, match="not both"):
        gradlab.check(lambda x: x, 1.0, variables=[tf.Variable(1.0)])


# Keras models ----------------------------------------------------------------------------------------------------


def keras_loss():
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh", dtype="float64"),
                              keras.layers.Dense(1, dtype="float64")])
    x = tf.constant(np.random.default_rng(2).normal(size=(16, 4)))
    y = tf.constant(np.random.default_rng(3).normal(size=(16, 1)))
    return model, lambda: tf.reduce_mean((model(x) - y) ** 2)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_keras_model_variables_are_checked_and_restored(mode):
    model, loss = keras_loss()
    before = [v.numpy().tobytes() for v in model.trainable_variables]
    result = gradlab.check(loss, variables=model.trainable_variables, mode=mode)
    assert result.ok, to_text(result)
    assert [r.name for r in result.inputs][0].endswith("kernel")
    if mode == "full":
        assert result.evaluation.startswith("vectorized over the Keras variables' values")
    assert [v.numpy().tobytes() for v in model.trainable_variables] == before


def test_fast_mode_on_variables_checks_samples_together_and_catches_a_scaled_gradient():
    model, loss = keras_loss()
    kernel = model.trainable_variables[0].value

    @tf.custom_gradient
    def scaled(k):
        return tf.identity(k), lambda dy: dy * 1.01

    good = gradlab.check(loss, variables=model.trainable_variables, mode="fast", samples=8)
    assert good.ok and "sampled ones weighted up" in good.projection.input
    bad = gradlab.check(lambda: tf.reduce_sum(scaled(kernel) ** 2), variables=[kernel], mode="fast", samples=8)
    assert not bad.ok
    assert not bad.worst[0].ok  # after the projection failed, the sampled entries were checked one by one
    assert bad.inputs[0].checked == 8 and "within the projection" not in bad.inputs[0].note


@pytest.mark.parametrize("call, words", [
    (lambda: gradlab.check(lambda x: x**2, 1.0, rtol="a"), "rtol"),
    (lambda: gradlab.check(lambda x: x**2, 1.0, atol=-1.0), "atol"),
    (lambda: gradlab.check(lambda x: x**2, 1.0, seed="a"), "seed"),
    (lambda: gradlab.check(lambda x: x**2, 1.0, names=5), "names"),
    (lambda: gradlab.check(lambda x: x**2, 1.0, names=["a", "b"]), "names has 2 entries"),
    (lambda: gradlab.check(lambda: tf.constant(1.0), variables=tf.Variable(3.0)), "variables must be"),
    (lambda: gradlab.check(lambda: tf.constant(1.0), variables=5), "variables must be"),
    (lambda: gradlab.check(lambda: v_list[0] * 2, variables=v_list, names=["a", "b"]), "names has 2 entries"),
    (lambda: gradlab.check(lambda x: tf.reduce_sum(x), [[1.0, 2.0], [3.0]]), "rows differ"),
    (lambda: gradlab.numeric_gradient(lambda x: x**2, 1.0, step=1e-20), "resolution"),
    (lambda: gradlab.compare(lambda x: x**2, np.ones(3), tape=[np.ones(2)]), "tape\\[0\\] has shape"),
    (lambda: gradlab.compare(lambda x: x**2, 1.0, analytic=[[1.0, 2.0]]), "analytic\\[0\\] has shape"),
    (lambda: gradlab.compare(lambda: tf.constant(1.0)), "at least one argument"),
])
def test_bad_arguments_raise_gradlab_errors(call, words):
    with pytest.raises(gradlab.GradlabError, match=words):
        call()


v_list = [tf.Variable(1.0, dtype=tf.float64)]


def test_numpy_scalars_keep_their_dtype():
    assert gradlab.check(lambda x: x**2, np.float32(1.5)).dtype == "float32"
    with pytest.raises(gradlab.NotDifferentiableError, match="int64"):
        gradlab.check(lambda x: x * 2, np.int64(3))


def test_a_jacobian_entry_is_named_by_output_and_input_index():
    """Entry (1, 2, 0, 1) of the Jacobian of a (2, 3) output by a (2, 3) input reads dy[1, 2]/dx[0, 1]."""
    @tf.custom_gradient
    def wrong(x):
        def grad(dy):
            return dy * 1.1 * tf.cos(x)

        return tf.sin(x), grad

    result = gradlab.check(wrong, np.linspace(0.1, 1.0, 6).reshape(2, 3))
    text = to_text(result)
    assert not result.ok and "dy[0, 0]/dx[0, 0]" in text
    scalar = gradlab.check(lambda x: tf.reduce_sum(wrong(x)), np.linspace(0.1, 1.0, 6).reshape(2, 3))
    assert "x[0, 0]" in to_text(scalar) and "dy[" not in to_text(scalar)
