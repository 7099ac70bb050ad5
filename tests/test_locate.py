"""gradlab.locate: planted wrong gradients are found at the right op and line, and nothing else is reported."""

import json

import keras
import numpy as np
import pytest

import gradlab
from gradlab._tf import tf
from gradlab.export import to_json

RNG = np.random.default_rng(0)
X = tf.constant(RNG.uniform(0.5, 1.5, size=(3, 4)))
X32 = tf.cast(X, tf.float32)


def line_of(text):
    """The number of the line of this file that contains `text`."""
    with open(__file__, encoding="utf-8") as source:
        return next(k for k, line in enumerate(source, start=1) if text in line and "line_of(" not in line)


@tf.custom_gradient
def wrong_square(x):
    def grad(dy):
        return dy * 3.0 * x  # planted: d(x^2)/dx is 2x

    return x * x, grad


@tf.custom_gradient
def right_square(x):
    def grad(dy):
        return dy * 2.0 * x

    return x * x, grad


def first(x):
    y = wrong_square(x)  # planted first
    return tf.reduce_sum(tf.exp(tf.sin(y)))


def middle(x):
    y = tf.sin(x) + 1.0
    y = wrong_square(y)  # planted middle
    return tf.reduce_sum(tf.tanh(y) * 2.0)


def last(x):
    y = tf.exp(tf.sin(x) * 0.5)
    return tf.reduce_sum(wrong_square(y))  # planted last


@pytest.mark.parametrize("f, marker", [(first, "planted first"), (middle, "planted middle"),
                                       (last, "planted last")], ids=["first", "middle", "last"])
@pytest.mark.parametrize("x", [X, X32], ids=["float64", "float32"])
def test_a_wrong_custom_gradient_is_found_at_its_depth_and_line(f, marker, x):
    location = gradlab.locate(f, x)
    assert not location.ok
    assert [op.type for op in location.wrong] == ["IdentityN"]
    op = location.wrong[0]
    assert op.kind == "custom gradient"
    assert op.source.endswith(f"test_locate.py:{line_of(marker)}")
    assert op.gradient_source.endswith(f"test_locate.py:{line_of('planted: d(x^2)/dx') - 1} (grad)")
    assert sum(other.state == "fail" for other in location.ops) == 1
    assert location.forward is None and location.backward is None


def test_the_same_function_with_a_right_gradient_reports_nothing():
    def good(x):
        return tf.reduce_sum(tf.tanh(right_square(tf.sin(x) + 1.0)) * 2.0)

    location = gradlab.locate(good, X)
    assert location.ok and location.wrong == []
    assert any(op.kind == "custom gradient" and op.state == "ok" for op in location.ops)


# a replaced registered gradient ------------------------------------------------------------------------------

@tf.RegisterGradient("GradlabTestWrongSin")
def _wrong_sin(op, dy):
    return -dy * tf.cos(op.inputs[0])  # planted: the sign


def overridden(x):
    with tf.compat.v1.get_default_graph().gradient_override_map({"Sin": "GradlabTestWrongSin"}):
        y = tf.sin(x)  # planted override
    return tf.reduce_sum(tf.exp(y) + tf.cos(x))


def test_a_replaced_registered_gradient_is_found():
    location = gradlab.locate(overridden, X)
    assert [op.type for op in location.wrong] == ["Sin"]
    op = location.wrong[0]
    assert op.kind == "override"
    assert op.source.endswith(f"test_locate.py:{line_of('planted override')}")
    assert "_wrong_sin" in op.gradient_source
    assert not [o for o in location.ops if o.state == "fail" and o is not op]


# inside a Keras layer, and a custom gradient with variables ---------------------------------------------------

class Scaled(keras.layers.Layer):
    """y = x * w, with a custom gradient that gets the weight's gradient wrong."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", dtype=self.dtype)

    def call(self, x):
        w = self.w.value

        @tf.custom_gradient
        def scale(x):
            def grad(dy, variables=()):
                return dy * w, [2.0 * tf.reduce_sum(dy * x, axis=0)]  # planted: the factor 2

            return x * w, grad

        return scale(x)  # the layer's line


def keras_model(dtype="float64"):
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((4,), dtype=dtype), keras.layers.Dense(5, activation="tanh", dtype=dtype),
                             Scaled(dtype=dtype, name="scaled"), keras.layers.Dense(1, dtype=dtype)])


def test_a_wrong_gradient_inside_a_keras_layer_is_found_with_the_layer():
    model = keras_model()

    def loss():
        return tf.reduce_mean(model(X) ** 2)

    before = [v.numpy().copy() for v in model.trainable_variables]
    location = gradlab.locate(loss, variables=model.trainable_variables)
    assert [op.type for op in location.wrong] == ["IdentityN"]
    op = location.wrong[0]
    assert "scaled" in op.name
    assert op.source.endswith(f"test_locate.py:{line_of('the layer')}")
    assert [name for name, _, _ in op.inputs] == ["arg0", model.layers[1].w.path]
    for b, v in zip(before, model.trainable_variables):
        assert np.array_equal(b, v.numpy())
    # the same in args mode: the wrong gradient is the weight's, which args mode does not perturb
    args_mode = gradlab.locate(lambda x: tf.reduce_mean(model(x) ** 2), X)
    assert args_mode.ok


def test_dense_layers_are_named_by_their_keras_path():
    model = keras_model()
    location = gradlab.locate(lambda x: tf.reduce_mean(model(x) ** 2), X)
    layers = {op.layer for op in location.ops if op.type == "MatMul"}
    assert layers == {model.layers[0].path, model.layers[2].path}


# no false reports ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_correct_20_layer_model_reports_no_op(dtype):
    keras.utils.set_random_seed(2)
    layers = [keras.Input((6,), dtype=dtype)]
    for k in range(20):
        layers.append(keras.layers.Dense(6, activation=("relu", "tanh", "sigmoid", "elu")[k % 4], dtype=dtype))
    model = keras.Sequential(layers + [keras.layers.Dense(1, dtype=dtype)])
    x = tf.constant(RNG.standard_normal((4, 6)), dtype=dtype)
    location = gradlab.locate(lambda x: tf.reduce_mean(model(x) ** 2), x)
    assert location.ok, str(location)
    assert location.wrong == [] and location.backward is None
    assert len(location.ops) >= 60
    assert sum(op.state == "ok" for op in location.ops) >= 50


def test_ops_fed_the_values_they_saw_make_random_functions_checkable():
    def noisy(x):
        mask = tf.cast(tf.random.uniform(x.shape, dtype=x.dtype) > 0.3, x.dtype)
        return tf.reduce_sum(tf.sin(x) * mask)

    location = gradlab.locate(noisy, X)
    assert location.ok
    assert any(op.type == "Mul" and op.state == "ok" for op in location.ops)


def test_the_same_tensor_read_twice_is_one_input():
    location = gradlab.locate(lambda x: tf.reduce_sum(x * x), X)
    mul = next(op for op in location.ops if op.type == "Mul")
    assert mul.state == "ok" and len(mul.inputs) == 1


# ops that pass no gradient by design ----------------------------------------------------------------------------

def test_ops_without_a_gradient_by_design_are_listed_not_failed():
    def f(x):
        k = tf.argmax(x, axis=1)
        picked = tf.gather(x, k, axis=1, batch_dims=1)
        return tf.reduce_sum(picked) + tf.reduce_sum(tf.stop_gradient(x) * x) + tf.reduce_sum(tf.round(x) * x)

    location = gradlab.locate(f, X)
    assert location.ok
    blocked = {b.type for b in location.blocked}
    assert {"ArgMax", "StopGradient", "Round"} <= blocked
    assert not location.wrong
    text = str(location)
    assert "pass no gradient by design" in text


# where NaN and Inf begin ----------------------------------------------------------------------------------------

def test_the_nan_from_the_unselected_branch_of_tf_where_is_named():
    x = tf.constant([-1.0, 0.0, 4.0], dtype=tf.float64)

    def f(x):
        return tf.reduce_sum(tf.where(x > 0, tf.math.log(x), 0.0))

    location = gradlab.locate(f, x)
    assert not location.ok
    assert location.backward.type == "Log" and location.backward.direction == "backward"
    assert "tf.where" in location.backward.cause
    assert "tf.where(x > 0, tf.math.log(tf.where(x > 0, x, 1.0)), 0.0)" in location.backward.fix
    assert location.forward.type == "Log" and "log at x = -1" in location.forward.cause
    assert location.wrong == []
    safe = gradlab.locate(lambda x: tf.reduce_sum(tf.where(x > 0, tf.math.log(tf.where(x > 0, x, 1.0)), 0.0)), x)
    assert safe.ok and safe.forward is None and safe.backward is None


def test_sqrt_in_tf_where_is_judged_by_what_this_tensorflow_does():
    """TensorFlow's Sqrt gradient returns 0 where its incoming gradient is 0, so it makes no NaN in the
    unselected branch; x ** 0.5 does. locate reports what the tape does, not what is folklore."""
    x = tf.constant([-1.0, 0.0, 4.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.where(x > 0, tf.sqrt(x), 0.0))
    sqrt_is_safe = bool(np.all(np.isfinite(tape.gradient(y, x).numpy())))
    location = gradlab.locate(lambda x: tf.reduce_sum(tf.where(x > 0, tf.sqrt(x), 0.0)), x)
    assert (location.backward is None) == sqrt_is_safe
    power = gradlab.locate(lambda x: tf.reduce_sum(tf.where(x > 0, x ** 0.5, 0.0)), x)
    assert power.backward is not None and power.backward.type == "Pow"


def test_log_at_zero_is_named_forward_and_backward():
    x = tf.constant([0.0, 1.0, 2.0], dtype=tf.float64)
    location = gradlab.locate(lambda x: tf.reduce_sum(tf.math.log(x) * 0.0 + x), x)
    assert location.forward.type == "Log" and "log at x = 0" in location.forward.cause
    assert location.backward is not None and location.backward.type in ("Log", "Reciprocal", "Mul")


def test_division_by_zero_and_exp_overflow_are_named():
    x = tf.constant([1.0, 2.0], dtype=tf.float32)
    divided = gradlab.locate(lambda x: tf.reduce_sum(x / (x - 1.0)), x)
    assert divided.forward.type == "RealDiv" and "division by zero" in divided.forward.cause
    big = tf.constant([100.0, 1.0], dtype=tf.float32)
    overflow = gradlab.locate(lambda x: tf.reduce_sum(tf.exp(x)), big)
    assert overflow.forward.type == "Exp" and "overflow" in overflow.forward.cause


# reports --------------------------------------------------------------------------------------------------------

def test_the_report_renders_as_text_rich_and_json():
    location = gradlab.locate(middle, X)
    text = str(location)
    assert "IdentityN" in text and "custom gradient" in text and "made at" in text
    data = to_json(location)
    json.dumps(data)
    assert data["kind"] == "locate" and data["ok"] is False and len(data["wrong"]) == 1
    assert location._repr_mimebundle_(include=None, exclude=None)["text/html"]


def test_a_failing_check_points_at_locate():
    result = gradlab.check(middle, X)
    assert not result.ok
    assert any("gradlab.locate(middle, x)" in note for note in result.notes)
    with pytest.raises(AssertionError, match=r"gradlab\.locate"):
        gradlab.assert_gradients_close(middle, X)


# bad input --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: gradlab.locate(3.0, X), "must be a function"),
    (lambda: gradlab.locate(first), "needs arguments"),
    (lambda: gradlab.locate(first, X, scope=3), "scope must be a string"),
    (lambda: gradlab.locate(lambda x: tf.constant(x.numpy()), X), "tracing failed"),
    (lambda: gradlab.locate(first, X, max_evaluations=10), "scope="),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(gradlab.GradlabError, match=message):
        call()


def test_scope_keeps_the_ops_of_one_part():
    model = keras_model()
    location = gradlab.locate(lambda x: tf.reduce_mean(model(x) ** 2), X, scope="dense")
    assert location.ops and all("dense" in op.name for op in location.ops)


# loops ------------------------------------------------------------------------------------------------------------

def test_a_loop_is_checked_as_one_unit_and_a_wrong_gradient_inside_it_is_found():
    z = tf.constant(RNG.standard_normal((4, 3)))
    right = gradlab.locate(lambda z: tf.reduce_sum(tf.map_fn(tf.sin, z) ** 2), z)
    assert right.ok and any(op.kind == "loop" and op.state == "ok" for op in right.ops)
    wrong = gradlab.locate(lambda z: tf.reduce_sum(tf.map_fn(wrong_square, z) ** 2), z)
    assert [op.kind for op in wrong.wrong] == ["loop"]


def test_an_rnn_that_reads_variables_inside_its_loop_is_not_checked_and_says_so():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4, 2)), keras.layers.SimpleRNN(3), keras.layers.Dense(1)])
    x = tf.constant(RNG.standard_normal((2, 4, 2)), dtype=tf.float32)
    location = gradlab.locate(lambda: tf.reduce_sum(model(x)), variables=model.trainable_variables)
    assert location.state == "incomplete" and not location.ok and not location.wrong
    assert "? incomplete" in str(location)
    assert any("read only inside a loop" in note and model.layers[0].cell.kernel.path in note
               for note in location.notes)
    args_mode = gradlab.locate(lambda x: tf.reduce_sum(model(x)), x)
    assert any("loop that reads variables" in op.note for op in args_mode.ops if op.state == "not checked")
    assert args_mode.state == "incomplete"


def test_a_nested_tf_function_is_one_unit_and_a_wrong_gradient_inside_it_is_found():
    inner = tf.function(lambda y: tf.reduce_sum(wrong_square(tf.sin(y))))
    location = gradlab.locate(lambda x: inner(x * 2.0), X)
    assert [op.type for op in location.wrong] == ["StatefulPartitionedCall"] or [
        op.type for op in location.wrong] == ["PartitionedCall"]
    assert gradlab.locate(lambda x: tf.function(lambda y: tf.reduce_sum(tf.sin(y)))(x * 2.0), X).ok


def test_complex_values_are_checked_as_one_unit():
    x = tf.constant(RNG.standard_normal(8))
    location = gradlab.locate(lambda x: tf.reduce_sum(tf.abs(tf.signal.rfft(tf.cast(x, tf.float32)))), x)
    assert location.ok and any(op.kind == "complex" and op.state == "ok" for op in location.ops)


def test_a_plain_repl_shows_every_result_as_its_report():
    """repr() is the plain-text report (a REPL prints it), and the fields stay attributes."""
    results = [gradlab.locate(middle, X), gradlab.check(tf.sin, X), gradlab.compare(lambda x: x ** 2, 3.0)]
    for result in results:
        assert repr(result) == str(result).rstrip("\n")
        assert not repr(result).startswith(type(result).__name__ + "(")  # not a dump of the dataclass fields
    assert results[0].wrong[0].type == "IdentityN" and results[1].mode == "full"
