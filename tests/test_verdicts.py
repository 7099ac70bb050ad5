"""The checker's verdicts on real code: kinks, poles and domain edges, small |x|, aliasing, and planted bugs there."""

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf
from gradlab.render import to_text


def scaled_gradient(op, factor):
    """op with its registered gradient multiplied by `factor`, through tf.custom_gradient."""

    @tf.custom_gradient
    def planted(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = op(x)

        def grad(dy):
            return tape.gradient(y, x, output_gradients=dy) * factor

        return y, grad

    return planted


def relu_model(dtype, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", dtype=dtype),
                              keras.layers.Dense(1, dtype=dtype)])
    x = tf.constant(np.random.default_rng(1).normal(size=(32, 8)).astype(dtype))
    y = tf.constant(np.random.default_rng(2).normal(size=(32, 1)).astype(dtype))
    return model, x, y


# correct gradients that used to fail: each must pass ------------------------------------------------------------

UNIFORM = np.random.default_rng(0).uniform(0.0, 1.0, 2000)

CORRECT = [
    ("relu at -1, 0, 1", tf.nn.relu, ([-1.0, 0.0, 1.0],), {}),
    ("1/x at 5e-4", lambda x: 1 / x, (5e-4,), {}),
    ("1/x at 1e-4", lambda x: 1 / x, (1e-4,), {}),
    ("log at 1e-4", tf.math.log, (1e-4,), {}),
    ("sqrt at 1e-4", tf.sqrt, (1e-4,), {}),
    ("1/x at 0.01 float32", lambda x: 1 / x, (np.float32(0.01),), {}),
    ("log at 0.01 float32", tf.math.log, (np.float32(0.01),), {}),
    ("sqrt at 0.01 float32", tf.sqrt, (np.float32(0.01),), {}),
    ("sum sqrt at 2000 uniform points", lambda x: tf.reduce_sum(tf.sqrt(x)), (UNIFORM,), {}),
    ("sum log at 2000 uniform points", lambda x: tf.reduce_sum(tf.math.log(x)), (UNIFORM,), {}),
    ("sum log float32, fast", lambda x: tf.reduce_sum(tf.math.log(x)), (UNIFORM.astype(np.float32),),
     {"mode": "fast"}),
    ("sum log float32, full", lambda x: tf.reduce_sum(tf.math.log(x)), (UNIFORM[:500].astype(np.float32),), {}),
    ("abs at 0 and around", tf.abs, ([-1e-9, 0.0, 1e-9, 2.0],), {}),
    ("maximum with ties", lambda a, b: tf.maximum(a, b), ([1.0, 2.0, 3.0], [1.0, 0.0, 3.0]), {}),
    ("the same tensor twice", lambda a, b: tf.reduce_sum(a * b),
     (tf.constant([1.0, 2.0], tf.float64), ) * 2, {}),
    ("exp(-x**2) at 1.6e-288: curved, not rough, near 0", lambda x: tf.reduce_sum(tf.exp(-(x**2))),
     (np.array([1.63130992e-288]),), {}),
    ("sqrt at 0: an infinite derivative", lambda x: tf.reduce_sum(tf.sqrt(x)), (np.array([0.0, 4.0]),), {}),
    ("sum x**x at 0 and 2: a nan from the tape at a domain edge", lambda x: tf.reduce_sum(x**x),
     (np.array([0.0, 2.0], np.float32),), {}),
    ("sum exp(log1p(y)) at -1", lambda y: tf.reduce_sum(tf.exp(tf.math.log1p(y))), (np.array([-1.0, 0.5]),), {}),
]


@pytest.mark.parametrize("name, f, args, options", CORRECT, ids=[c[0] for c in CORRECT])
def test_a_correct_gradient_is_never_called_wrong(name, f, args, options):
    result = gradlab.check(f, *args, **options)
    assert result.ok, to_text(result)


@pytest.mark.parametrize("f, x", [(tf.tan, 1.5707963267948966), (lambda x: x**x, np.float32(0.0))])
def test_a_value_that_cannot_be_judged_alone_is_inconclusive_not_failed(f, x):
    result = gradlab.check(f, x)
    assert result.state == "inconclusive" and not result.ok and result.kinks == 1, to_text(result)
    assert "not a failure" in to_text(result, width=200)


@pytest.mark.parametrize("factor", [0.0, 2.0])
def test_any_gradient_near_a_pole_is_judged_once_the_step_fits_the_point(factor):
    result = gradlab.check(scaled_gradient(lambda x: 1 / x, factor), 1e-12)
    assert result.state == "fail", to_text(result)


def test_an_estimate_with_no_digits_does_not_confirm_a_wrong_gradient():
    # x + 1e6 in float32: round-off swamps the estimate, so agreeing with it proves nothing
    result = gradlab.check(scaled_gradient(lambda x: x + 1e6, 2.0), np.float32(0.5))
    assert not result.ok and result.state in ("inconclusive", "fail"), to_text(result)


def test_a_nan_gradient_at_a_two_sided_kink_fails():
    result = gradlab.check(tf.norm, np.zeros(2))
    assert not result.ok and result.state == "fail", to_text(result)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_float32_relu_network_passes_and_names_what_it_could_not_judge(mode):
    model, x, y = relu_model("float32")
    result = gradlab.check(lambda: tf.reduce_mean((model(x) - y) ** 2), variables=model.trainable_variables,
                           mode=mode)
    assert result.ok, to_text(result)
    for count, words in ((result.kinks, "at kinks"), (result.inconclusive, "inconclusive")):
        assert (words in to_text(result, width=200)) == (count > 0)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_relu_network_sitting_on_a_kink_names_it(mode):
    # float64: in float32 the slope's jump from one sample of 32 is below the round-off of the smallest
    # useful step, and the same entries are rightly called inconclusive instead
    model, x, y = relu_model("float64")
    x = tf.concat([tf.zeros([1, 8], tf.float64), x[1:]], axis=0)  # sample 0: each hidden input is its bias
    # Keras starts biases at zero, so every hidden unit sits exactly on its kink for sample 0
    result = gradlab.check(lambda: tf.reduce_mean((model(x) - y) ** 2), variables=model.trainable_variables,
                           mode=mode, samples=200)
    assert result.ok, to_text(result)
    bias = result.inputs[1]
    assert bias.name.endswith("bias") and bias.kinks == 16 and "16 at kinks" in bias.note, to_text(result)
    assert all(e.state == "kink" and e.input == bias.name for e in result.worst), to_text(result)


def test_a_kink_at_the_point_is_its_own_state_with_both_sides():
    result = gradlab.check(tf.nn.relu, [-1.0, 0.0, 1.0])
    assert result.kinks == 1 and result.inputs[0].kinks == 1
    kink = [e for e in result.worst if e.state == "kink"]
    assert len(kink) == 1 and kink[0].index == (1, 1) and kink[0].ok
    assert "at kinks" in to_text(result, width=200)
    from gradlab.export import to_json

    assert to_json(result)["kinks"] == 1


# wrong gradients: each must still fail ---------------------------------------------------------------------------

WRONG = [
    ("log 1% wrong at [1e-3, 2e-3]", scaled_gradient(tf.math.log, 1.01),
     (np.random.default_rng(0).uniform(1e-3, 2e-3, 50),), {}),
    ("1/x 1% wrong at 1e-4", scaled_gradient(lambda x: 1 / x, 1.01), (1e-4,), {}),
    ("sqrt 1% wrong near 0", scaled_gradient(tf.sqrt, 1.01), (np.array([1e-6, 1e-3, 0.5]),), {}),
    ("relu 1% wrong", scaled_gradient(tf.nn.relu, 1.01), (np.array([-1.0, 0.5, 2.0]),), {}),
    ("abs 1% wrong float32", scaled_gradient(tf.abs, 1.01), (np.array([-2.0, 0.5], np.float32),), {}),
    ("relu sign flip float32 fast", scaled_gradient(tf.nn.relu, -1.0),
     (np.random.default_rng(1).normal(size=300).astype(np.float32),), {"mode": "fast"}),
]


@pytest.mark.parametrize("name, f, args, options", WRONG, ids=[c[0] for c in WRONG])
def test_a_wrong_gradient_still_fails(name, f, args, options):
    result = gradlab.check(lambda *a: tf.reduce_sum(f(*a)), *args, **options)
    assert not result.ok and result.state == "fail", to_text(result)


def test_a_nan_gradient_where_f_is_smooth_fails():
    # y / (2 / y) is y**2 / 2, smooth at 0, but the tape's chain rule meets 2/0 = inf there and gives nan
    result = gradlab.check(lambda y: tf.reduce_sum(y / (2.0 / y)), np.array([0.0, 1.5]))
    assert not result.ok and result.worst[0].state == "fail" and result.worst[0].index == (0,), to_text(result)


def test_a_one_percent_error_in_a_relu_layers_custom_gradient_is_caught():
    model, x, y = relu_model("float32")
    planted = scaled_gradient(tf.nn.relu, 1.01)
    dense, head = model.layers

    def loss():
        hidden = planted(tf.matmul(x, dense.kernel) + dense.bias)
        return tf.reduce_mean((head(hidden) - y) ** 2)

    result = gradlab.check(loss, variables=model.trainable_variables)
    assert not result.ok, to_text(result)
    assert any(not r.ok for r in result.inputs[:2])  # the relu layer's own weights


@tf.custom_gradient
def relu_with_slope_two_at_zero(x):
    return tf.nn.relu(x), lambda dy: dy * tf.where(x >= 0, tf.where(x > 0, 1.0, 2.0), 0.0)


def test_a_wrong_gradient_at_a_kink_is_not_hidden_by_the_kink_rule():
    result = gradlab.check(relu_with_slope_two_at_zero, np.array([-1.0, 0.0, 1.0], np.float32))
    assert not result.ok
    assert result.worst[0].state == "fail" and result.worst[0].index == (1, 1), to_text(result)


# how the step is chosen -------------------------------------------------------------------------------------------

def test_the_step_shrinks_only_where_it_must():
    x = np.array([1e-4, 0.5, 3.0])
    result = gradlab.check(lambda x: tf.reduce_sum(1 / x), x)
    steps = {e.index: e.step for e in result.worst}
    assert steps[(0,)] < 1e-5 and steps[(2,)] == pytest.approx(7.4e-4 * 3.0, rel=0.01)
    assert "step shrunk for 1 of 3 entries" in result.inputs[0].note


def test_the_estimates_error_bounds_the_true_error_on_smooth_functions():
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        x = rng.uniform(-2.0, 2.0, 400).astype(dtype)
        result = gradlab.numeric_gradient(lambda x: tf.reduce_sum(tf.sin(x) * tf.exp(x / 3)), x)
        exact = np.cos(x.astype(np.float64)) * np.exp(x / 3) + np.sin(x.astype(np.float64)) * np.exp(x / 3) / 3
        covered = np.abs(result.value[0] - exact) <= result.error[0]
        assert covered.mean() >= 0.95, dtype


def test_aliased_arguments_are_two_arguments_to_the_tape():
    x = tf.constant([1.0, 2.0], tf.float64)
    a, b = gradlab.tape_gradient(lambda a, b: tf.reduce_sum(a * b), x, x)
    np.testing.assert_array_equal(a, [1.0, 2.0])
    np.testing.assert_array_equal(b, [1.0, 2.0])


def test_a_variable_listed_twice_is_refused_with_its_name():
    a = tf.Variable([1.0, 2.0], dtype=tf.float64, name="weights")
    with pytest.raises(gradlab.GradlabError, match="lists weights twice"):
        gradlab.check(lambda: tf.reduce_sum(a * a), variables=[a, a], mode="fast")


def test_reference_float64_judges_a_float32_function_against_an_accurate_estimate():
    x = np.random.default_rng(3).uniform(0.5, 2.0, 50).astype(np.float32)
    f = lambda x: tf.reduce_sum(tf.exp(3 * x) * tf.sin(5 * x))  # noqa: E731 - large curvature for float32
    plain, wide = gradlab.check(f, x), gradlab.check(f, x, reference="float64")
    assert wide.ok and wide.reference == "float64" and wide.dtype == "float32"
    assert max(r.max_abs_error for r in wide.inputs) <= max(r.max_abs_error for r in plain.inputs)
    assert not gradlab.check(scaled_gradient(lambda x: tf.exp(3 * x) * tf.sin(5 * x), 1.002), x,
                             reference="float64").ok


def test_reference_float64_says_why_when_f_insists_on_float32():
    w = tf.constant([1.0, 2.0])
    result = gradlab.check(lambda x: tf.reduce_sum(x * w), np.array([1.0, 3.0], np.float32), reference="float64")
    assert result.ok and result.reference == "float32"
    assert any("reference='float64' not used" in note for note in result.notes)
