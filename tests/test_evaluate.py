"""How f is evaluated at perturbed points: the traced ways for variables, kept traces, and eager fallbacks."""

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf
from gradlab.engine import evaluate


@pytest.fixture
def traced(monkeypatch):
    """Small checks evaluated the way large ones are (not one call at a time)."""
    monkeypatch.setattr(evaluate, "EAGER_SECONDS", 0.0)


def keras_model():
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh", dtype="float64"),
                              keras.layers.Dense(2, dtype="float64")])
    x = tf.constant(np.random.default_rng(2).normal(size=(5, 3)))
    return model, x


def bits(variables):
    return [v.numpy().tobytes() for v in variables]


def test_keras_variables_are_vectorized_without_assigning_and_restored(traced):
    model, x = keras_model()
    before = bits(model.trainable_variables)
    result = gradlab.check(lambda: tf.reduce_sum(tf.sin(model(x))), variables=model.trainable_variables)
    assert result.ok
    assert result.evaluation == evaluate.HOW["stateless"]
    assert bits(model.trainable_variables) == before


def test_a_keras_variable_read_past_the_stateless_scope_is_assigned_instead(traced):
    model, x = keras_model()
    kernel = model.trainable_variables[0]
    raw = kernel.value  # the tf.Variable inside, which keras.StatelessScope does not reach

    def f():
        return tf.reduce_sum(tf.tanh(x @ raw))

    result = gradlab.check(f, variables=[kernel])
    assert result.ok
    assert result.evaluation.startswith(evaluate.HOW["assign"] + ": the value given through keras.StatelessScope")


def test_plain_tf_variables_are_assigned_in_a_traced_loop_and_restored(traced):
    w = tf.Variable(np.random.default_rng(0).normal(size=(3, 2)))
    b = tf.Variable(0.5, dtype=tf.float64)
    before = bits([w, b])
    result = gradlab.check(lambda: tf.reduce_sum(tf.tanh(w * b)), variables=[w, b])
    assert result.ok and result.evaluation == evaluate.HOW["assign"]
    assert bits([w, b]) == before


def test_an_untraceable_f_of_variables_is_called_eagerly_and_says_why(traced):
    w = tf.Variable(np.linspace(0.5, 1.5, 4))
    before = bits([w])
    result = gradlab.check(lambda: tf.reduce_sum(w ** 2) * float(np.sign(w.numpy()[0])), variables=[w])
    assert result.ok
    assert result.evaluation.startswith(evaluate.HOW["eager"] + ": f could not be traced")
    assert bits([w]) == before


def test_a_second_check_of_the_same_f_reuses_its_trace(traced, monkeypatch):
    def f(x):
        return tf.reduce_sum(tf.sin(x) * x)

    made = []
    trace = evaluate._trace
    monkeypatch.setattr(evaluate, "_trace", lambda *args, **kwargs: made.append(args[3]) or trace(*args, **kwargs))
    assert gradlab.check(f, np.linspace(-1.0, 1.0, 5)).ok
    assert made == ["vectorized"]
    assert gradlab.check(f, np.linspace(0.0, 2.0, 5)).ok  # another point of the same shape: the same trace
    assert made == ["vectorized"]
    assert gradlab.check(f, np.linspace(0.0, 2.0, 6)).ok  # another shape: a trace of its own
    assert made == ["vectorized"] * 2


def test_a_kept_trace_that_no_longer_reproduces_f_is_traced_anew(traced, monkeypatch):
    scale = [1.0]

    def f(x):  # a Python value a trace bakes in
        return tf.reduce_sum(x ** 2) * scale[0]

    made = []
    trace = evaluate._trace
    monkeypatch.setattr(evaluate, "_trace", lambda *args, **kwargs: made.append(args[3]) or trace(*args, **kwargs))
    x = np.array([1.0, 2.0, 3.0])
    assert gradlab.check(f, x).ok
    scale[0] = 2.0
    result = gradlab.check(f, x)
    assert result.ok and result.evaluation == evaluate.HOW["vectorized"] and made == ["vectorized"] * 2
    np.testing.assert_allclose(result.numeric[0], 4.0 * x, rtol=1e-8)


def test_reproducible_checks_choose_their_way_by_what_works_not_by_time(monkeypatch):
    """A check whose call of f is timed as cheap (as it is on an idle machine) calls f once per perturbation,
    and under GRADLAB_REPRODUCIBLE=1 is traced instead; timed as costly (a loaded machine), it is traced the
    same way and gives the same numbers to the bit."""
    monkeypatch.setattr(evaluate, "EAGER_SECONDS", 1e9)  # any measured time now says "cheap: one call at a time"
    x = tf.constant([0.3, -1.2, 2.0], dtype=tf.float64)

    def f(x):
        return tf.reduce_sum(tf.exp(x) * tf.sin(x))

    assert gradlab.check(f, x).evaluation == evaluate.HOW["eager"]
    monkeypatch.setenv(evaluate.REPRODUCIBLE, "1")
    first = gradlab.check(f, x)
    assert first.evaluation == evaluate.HOW["vectorized"]
    monkeypatch.setattr(evaluate, "EAGER_SECONDS", 0.0)  # and now "costly"
    again = gradlab.check(f, x)
    assert again.evaluation == first.evaluation
    assert [np.asarray(j).tobytes() for j in again.numeric] == [np.asarray(j).tobytes() for j in first.numeric]
