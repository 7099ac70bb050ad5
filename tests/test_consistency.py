"""gradlab.consistency: the tape gradient in eager mode, under tf.function and XLA, on every device, compared."""

import json

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf
from gradlab.engine.consistency import WAYS, tf32_note, visible_devices, way_name
from gradlab.errors import GradlabError
from gradlab.export import to_json
from gradlab.render import to_text
from test_op_table import CASES, case, case_point

# Smooth ops of the op table at their own points (inside each op's domain, no kinks).
SMOOTH = ["matmul", "tanh", "softplus", "reduce_logsumexp", "sin", "exp", "sigmoid", "divide", "softmax",
          "conv2d"]
FLOAT32 = ["matmul", "tanh", "softplus", "reduce_logsumexp", "softmax", "conv2d"]
ALL_OK = [(name, "ok") for name in WAYS]
X = np.linspace(0.1, 1.0, 6).reshape(2, 3)


def states(result):
    return [(row.name, row.state) for row in result.rows]


def sin_wrong_when(traced):
    """sin with a planted error: its declared gradient is 1.01 cos(x) where tf.executing_eagerly() is
    `not traced` (so only under tf.function and XLA for traced=True, only in eager mode for traced=False),
    cos(x) otherwise. Its value is sin's, so finite differences see the true derivative."""

    @tf.custom_gradient
    def wrong(x):
        def grad(dy):
            off = tf.executing_eagerly() != traced
            return dy * tf.cos(x) * (1.01 if off else 1.0)

        return tf.sin(x), grad

    return lambda x: tf.reduce_sum(wrong(x) * x)


def through_py_function(x):
    """sin through tf.py_function: differentiable in eager mode and under tf.function; XLA has no kernel."""
    return tf.reduce_sum(tf.py_function(tf.sin, [x], Tout=x.dtype))


def reads_numpy(x):
    """Reads x.numpy() (here only its rank): fine eagerly, but a traced tensor has no .numpy()."""
    return tf.reduce_sum(tf.sin(x)) * x.numpy().ndim


@pytest.mark.parametrize("name, dtype", [(name, "float64") for name in SMOOTH] +
                         [(name, "float32") for name in FLOAT32])
def test_smooth_ops_agree_every_way(name, dtype):
    """Every way agrees with eager and with finite differences, for both dtypes."""
    f, args = case(name, dtype)
    assert states(gradlab.consistency(f, *args)) == ALL_OK


@pytest.mark.parametrize("name", ["tanh", "matmul"])
def test_vector_valued_f_is_projected_on_a_seeded_v(name):
    """The op's own (non-scalar) output: every way computes the gradient of sum(v * f)."""
    result = gradlab.consistency(CASES[name][0], *case_point(name, "float64", 0))
    assert (result.projected, states(result)) == (True, ALL_OK)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_planted_error_under_tracing_is_named(dtype):
    """Planted: a tf.custom_gradient wrong only when traced; tf.function and XLA differ, eager is ok."""
    result = gradlab.consistency(sin_wrong_when(traced=True), X.astype(dtype))
    assert (states(result), result.state, result.odd_one_out) == (
        [("eager", "ok"), ("tf.function", "differs"), ("XLA (jit_compile)", "differs")], "differs", "tf.function")


def test_planted_error_names_entry_and_size():
    """Planted (as above): the differing row says from what, by how much and where."""
    row = gradlab.consistency(sin_wrong_when(traced=True), X).rows[1]
    assert (row.off_from, round(row.off_by / np.max(np.abs(np.cos(X) * X)), 3), row.worst[:2]) == (
        "eager", 0.01, "x[")


def test_planted_error_in_eager_mode_makes_eager_the_odd_one_out():
    """Planted: wrong only in eager mode; the traced ways agree with finite differences, so eager is named and
    measured from tf.function."""
    result = gradlab.consistency(sin_wrong_when(traced=False), X)
    assert (states(result), result.odd_one_out, result.rows[0].off_from) == (
        [("eager", "differs"), ("tf.function", "ok"), ("XLA (jit_compile)", "ok")], "eager", "tf.function")


@pytest.mark.parametrize("f, rows, reason", [
    (through_py_function, [("eager", "ok"), ("tf.function", "ok"), ("XLA (jit_compile)", "could not run")],
     "could not run: XLA cannot compile f: no XLA kernel for EagerPyFunc"),
    (reads_numpy, [("eager", "ok"), ("tf.function", "could not run"), ("XLA (jit_compile)", "could not run")],
     "could not run: tf.function cannot trace f"),
])
def test_a_way_that_cannot_run_f_is_a_row_not_a_failure(f, rows, reason):
    result = gradlab.consistency(f, X)
    assert (states(result), result.ok, result.rows[-1].note.startswith(reason)) == (rows, True, True)


def test_report_lists_the_devices_it_ran_on():
    """Without a GPU the GPU rows are absent: a row per way on every device TensorFlow lists."""
    devices = [d.name for d in tf.config.list_logical_devices() if d.device_type in ("CPU", "GPU")]
    result = gradlab.consistency(tf.sin, 0.5)
    shorts = [":".join(name.split(":")[-2:]) for name in devices]
    assert (result.devices, [row.device for row in result.rows]) == (shorts, [d for d in shorts for _ in WAYS])


@pytest.mark.parametrize("way, device, name", [
    ("eager", "/device:CPU:0", "eager"),
    ("XLA (jit_compile)", "/job:localhost/replica:0/task:0/device:CPU:0", "XLA (jit_compile)"),
    ("eager", "/device:GPU:0", "eager on GPU:0"),
    ("tf.function", "/job:localhost/replica:0/task:0/device:GPU:1", "tf.function on GPU:1"),
])
def test_row_names(way, device, name):
    assert way_name(way, device) == name


def test_devices_start_with_the_cpu():
    assert visible_devices()[0].endswith("CPU:0")


def test_the_same_nan_every_way_is_not_a_difference_between_ways():
    """sqrt at 0: every way's gradient is inf there; they agree with each other, not with finite differences."""
    result = gradlab.consistency(lambda x: tf.reduce_sum(tf.sqrt(x)), np.array([0.0, 1.0]))
    assert ([row.off_from for row in result.rows], result.odd_one_out) == (["finite differences"] * 3, None)


def test_tf32_note_names_tf32_and_the_ops():
    assert all(word in tf32_note(["MatMul"]) for word in ("TF32", "MatMul", "enable_tensor_float_32_execution"))


@pytest.mark.parametrize("f, args, options", [
    (42, (1.0,), {}),
    (tf.sin, (), {}),
    (tf.sin, (1.0,), {"rtol": -1.0}),
    (tf.sin, (1.0,), {"method": "bogus"}),
    (tf.sin, (1.0,), {"seed": -1}),
    (tf.sin, ("a",), {}),
])
def test_bad_input_is_a_gradlab_error(f, args, options):
    with pytest.raises(GradlabError):
        gradlab.consistency(f, *args, **options)


def test_json_view_is_plain_json():
    result = gradlab.consistency(sin_wrong_when(traced=True), X)
    view = json.loads(json.dumps(to_json(result), allow_nan=False))
    assert (view["kind"], view["state"], view["odd_one_out"], [r["state"] for r in view["rows"]]) == (
        "consistency", "differs", "tf.function", ["ok", "differs", "differs"])


@pytest.mark.parametrize("f, said", [
    (sin_wrong_when(traced=True), "odd one out: tf.function"),
    (through_py_function, "every way that ran agrees"),
])
def test_report_fits_80_columns(f, said):
    text = to_text(gradlab.consistency(f, X), width=80)
    assert said in text and max(map(len, text.splitlines())) <= 80


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CASES if n not in SMOOTH][::3])
def test_ops_of_the_table_are_consistent_in_float64(name):
    """Eager, tf.function and XLA agree with each other and with finite differences on every third op of the
    rest of the table (no false difference; an op XLA cannot compile is "could not run", never "differs")."""
    f, args = case(name, "float64")
    result = gradlab.consistency(f, *args)
    assert result.state == "ok", to_text(result)
