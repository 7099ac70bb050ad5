"""What the checker refuses and survives: random f, runaway cost, interrupts, threads, broken kernels, bad input."""

import os
import threading
import time
import warnings

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf
from gradlab.render import to_text

# randomness ------------------------------------------------------------------------------------------------------


def test_dropout_is_reported_as_not_deterministic():
    import keras

    dropout = keras.layers.Dropout(0.5)
    with pytest.raises(gradlab.NotDeterministicError, match="not deterministic.*training=False") as info:
        gradlab.check(lambda x: dropout(x, training=True), np.ones(100))  # two equal masks: chance 2**-100
    assert "\n" not in str(info.value)


def test_tf_random_is_reported_and_nondet_tol_accepts_known_noise():
    noisy = lambda x: tf.reduce_sum(x**2) + 1e-9 * tf.random.uniform([], dtype=tf.float64)  # noqa: E731
    with pytest.raises(gradlab.NotDeterministicError, match="differ by"):
        gradlab.check(noisy, np.array([1.0, 2.0]))
    result = gradlab.check(noisy, np.array([1.0, 2.0]), nondet_tol=1e-9)
    assert result.ok, to_text(result)


# cost ------------------------------------------------------------------------------------------------------------


def test_a_full_check_past_the_memory_limit_is_refused_at_once_with_an_estimate():
    start = time.perf_counter()
    with pytest.raises(gradlab.TooExpensiveError) as info:
        gradlab.check(tf.sin, np.ones(10_000))
    assert time.perf_counter() - start < 5.0  # refused before any evaluation (generous for a loaded machine)
    message = str(info.value)
    assert "\n" not in message and "GB" in message and "mode='fast'" in message and "max_memory" in message


def test_limits_can_be_raised_and_lowered():
    with pytest.raises(gradlab.TooExpensiveError, match="evaluations"):
        gradlab.check(lambda x: tf.reduce_sum(x**2), np.ones(100), max_evaluations=100)
    assert gradlab.check(lambda x: tf.reduce_sum(x**2), np.ones(100), max_evaluations=400).ok


def test_variables_mode_past_the_evaluation_limit_is_refused():
    big = tf.Variable(tf.zeros([300, 300], tf.float64))
    with pytest.raises(gradlab.TooExpensiveError, match="360,000 evaluations"):
        gradlab.check(lambda: tf.reduce_sum(tf.sin(big)), variables=[big], max_evaluations=1000)


def test_f_that_must_be_called_once_per_point_is_refused_when_that_would_take_too_long(monkeypatch):
    from gradlab.engine import check

    monkeypatch.setattr(check, "MAX_SECONDS", 1e-3)
    w = tf.Variable(np.linspace(0.0, 1.0, 2000))
    with pytest.raises(gradlab.TooExpensiveError, match="called once per perturbation"):
        gradlab.check(lambda: tf.constant(np.sum(np.sin(w.numpy()))), variables=[w], unconnected="zero")


def test_fast_mode_bounds_its_memory_for_a_large_output():
    x = np.linspace(0.1, 1.0, 1_000_000)
    result = gradlab.check(tf.sin, x, mode="fast", samples=4)
    assert result.ok, to_text(result)


# restoring variables ---------------------------------------------------------------------------------------------


BURSTS = r"""
import signal, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # a parent started in the background passes SIGINT ignored
import numpy as np
import gradlab
import tensorflow as tf

w = tf.Variable(np.random.default_rng(0).normal(size=(40,)), dtype=tf.float64)
before = w.numpy().tobytes()
main = threading.get_ident()
restored = interrupted = 0
for burst in range(13):
    def fire(delay=0.02 + 0.01 * burst):
        time.sleep(delay)
        for _ in range(4):  # Ctrl-C pressed again and again, the later ones during the restore
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.002)
    thread = threading.Thread(target=fire)
    thread.start()
    try:
        gradlab.check(lambda: tf.reduce_sum(tf.sin(w) * w), variables=[w])
        time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted += 1
    while True:  # let the rest of the burst arrive
        try:
            thread.join()
            time.sleep(0.05)
            break
        except KeyboardInterrupt:
            pass
    restored += w.numpy().tobytes() == before
print("restored", restored, "interrupted", interrupted)
"""


@pytest.mark.slow
def test_variables_survive_bursts_of_real_interrupts_bit_for_bit(user_env):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", BURSTS], capture_output=True, text=True, timeout=300, env=user_env)
    words = run.stdout.split()
    assert run.returncode == 0 and words[:2] == ["restored", "13"], run.stdout + run.stderr[-2000:]
    assert int(words[3]) > 0  # the interrupts did land inside checks


def test_two_threads_checking_one_variable_take_turns():
    w = tf.Variable(np.linspace(-1.0, 1.0, 30), dtype=tf.float64)
    before = w.numpy().tobytes()
    results = []

    def run():
        results.append(gradlab.check(lambda: tf.reduce_sum(w**3), variables=[w]).ok)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True, True] and w.numpy().tobytes() == before


def test_a_check_of_the_same_variable_inside_f_is_refused():
    w = tf.Variable([1.0, 2.0], dtype=tf.float64, name="w")

    def f():
        gradlab.check(lambda: tf.reduce_sum(w**2), variables=[w])
        return tf.reduce_sum(w**2)

    with pytest.raises(gradlab.GradlabError, match="already being checked"):
        gradlab.check(f, variables=[w])
    assert w.numpy().tolist() == [1.0, 2.0]


# broken kernels and vectorization -------------------------------------------------------------------------------


@pytest.fixture
def traced(monkeypatch):
    """Small checks evaluated the way large ones are (not one call at a time)."""
    from gradlab.engine import evaluate

    monkeypatch.setattr(evaluate, "EAGER_SECONDS", 0.0)


def test_where_onednn_is_broken_batch_matmuls_are_evaluated_without_pfor(monkeypatch, traced):
    from gradlab.engine import platform

    monkeypatch.setattr(platform, "onednn_float32_matmul_broken", lambda: True)
    rng = np.random.default_rng(0)
    w = tf.constant(rng.normal(size=(3, 3)).astype(np.float32))
    result = gradlab.check(lambda x: tf.matmul(x, w), rng.normal(size=(1, 3, 3)).astype(np.float32))
    assert result.ok, to_text(result)
    assert "traced loop" in result.evaluation and "TF_ENABLE_ONEDNN_OPTS=0" in result.evaluation
    assert "vectorized" not in result.evaluation.split(":")[0]


def test_float64_and_rank_two_matmuls_stay_vectorized_even_where_onednn_is_broken(monkeypatch, traced):
    from gradlab.engine import platform

    monkeypatch.setattr(platform, "onednn_float32_matmul_broken", lambda: True)
    w = tf.constant(np.eye(3, dtype=np.float32))
    assert gradlab.check(lambda x: tf.matmul(x, w), np.ones((2, 3), np.float32)).evaluation.startswith("vectorized")
    w64 = tf.constant(np.eye(3))
    assert gradlab.check(lambda x: tf.matmul(x, w64), np.ones((1, 3, 3))).evaluation.startswith("vectorized")


def test_a_batched_evaluation_that_disagrees_with_plain_calls_is_not_used(traced):
    def f(x):  # a function whose traced form differs from its eager one, as a broken kernel would
        return tf.reduce_sum(x**2) + (0.0 if tf.executing_eagerly() else 1e-3)

    result = gradlab.check(f, np.array([1.0, 2.0, 3.0]))
    assert result.ok, to_text(result)
    assert "disagreed with plain calls" in result.evaluation and "traced loop" not in result.evaluation[:12]


@pytest.mark.parametrize("name, f, args", [
    ("einsum trace (pfor cannot vectorize its gradient)", lambda a: tf.einsum("bii->b", a),
     (np.random.default_rng(0).normal(size=(2, 3, 3)),)),
    ("expm float32", tf.linalg.expm, ((np.eye(3) * 0.3 + 0.1).astype(np.float32),)),
    ("matmul float32 1x2x2", lambda x: tf.matmul(x, tf.constant([[1.0, 2.0], [3.0, 4.0]])),
     (np.ones((1, 2, 2), np.float32),)),
])
def test_functions_that_trip_pfor_are_checked_right(name, f, args):
    result = gradlab.check(f, *args)
    assert result.ok, to_text(result)


def test_multi_head_attention_in_float32_arguments_mode():
    import keras

    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2)
    q = np.random.default_rng(0).normal(size=(1, 3, 4)).astype(np.float32)
    layer(q, q)
    result = gradlab.check(lambda q: layer(q, q), q)
    assert result.ok, to_text(result)


def test_nothing_from_gradlabs_internals_reaches_the_console(capfd, caplog):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy RuntimeWarnings would raise
        for _ in range(8):  # enough checks to make TensorFlow warn about retracing
            gradlab.check(lambda x: tf.reduce_sum(tf.math.log(x)), np.array([1.0, np.inf, 2.0]))
        gradlab.check(lambda a: tf.einsum("bii->b", a), np.ones((2, 2, 2)))
    captured = capfd.readouterr()
    assert "retracing" not in captured.err + captured.out
    assert not [r for r in caplog.records if r.name == "tensorflow"]


# clean errors ----------------------------------------------------------------------------------------------------

ERRORS = [
    ("output shape changes with the point", lambda x: tf.boolean_mask(x, x > 0.5), (np.array([0.5, 0.7]),),
     "shape does not depend on the values"),
    ("tuple of differently shaped outputs", lambda x: (x, tf.reduce_sum(x)), (np.ones(3),), "tuple"),
    ("dict output", lambda x: {"y": x}, (np.ones(3),), "dict"),
    ("a huge Python int", lambda x: x, (10**400,), "too large"),
    ("f is not callable", 3.0, (1.0,), "callable"),
    ("an empty input", lambda x: tf.reduce_sum(x), (np.ones(0),), "nothing to check"),
]


@pytest.mark.parametrize("name, f, args, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_functions_and_points_give_one_clear_line(name, f, args, words):
    try:
        result = gradlab.check(f, *args)
    except gradlab.GradlabError as exc:
        message = str(exc)
        assert "\n" not in message and (words is None or words.lower() in message.lower()), message
    else:
        assert words is None, to_text(result)


@pytest.mark.parametrize("output", ["scalar", "vector"])
def test_an_op_without_a_gradient_is_reported_as_a_none_not_a_raw_error(output):
    q = tf.constant([1.5, 1.5], tf.float64)
    f = (lambda x: tf.reduce_sum(tf.math.zeta(x, q))) if output == "scalar" else (lambda x: tf.math.zeta(x, q))
    result = gradlab.check(f, np.array([2.0, 3.0]))
    assert not result.ok and "the tape returned None" in result.inputs[0].note


def test_a_gradient_that_raises_lookup_error_is_a_not_differentiable_error():
    @tf.custom_gradient
    def f(x):
        def grad(dy):
            raise LookupError("No gradient defined for operation 'f' (op type: Mystery)")

        return tf.identity(x), grad

    with pytest.raises(gradlab.NotDifferentiableError, match="Mystery"):
        gradlab.check(lambda x: f(x) * 2.0, np.array([1.0, 2.0]))


@pytest.mark.parametrize("call, words", [
    (lambda: gradlab.why_none(None, None, None), "tape"),
    (lambda: gradlab.op_graph(None), "graph"),
])
def test_none_passed_to_the_helpers_is_named(call, words):
    with pytest.raises(gradlab.GradlabError, match=words):
        call()


def test_the_environment_is_left_alone():
    before = dict(os.environ)
    gradlab.check(lambda x: x**2, 1.0)
    assert dict(os.environ) == before
