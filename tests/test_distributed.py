"""check_distributed: the all-reduced gradient of a step under a tf.distribute strategy against the global loss."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import gradlab
from gradlab import GradlabError

# Logical CPU devices must be set before TensorFlow starts its devices, so the strategies run in a process of their
# own; it prints one JSON object of results.
SCRIPT = textwrap.dedent("""
    import io, json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 4)
    import keras
    from rich.console import Console
    import gradlab
    from gradlab.engine.inputs import wrapped_variable

    def text(result):
        console = Console(width=80, file=io.StringIO())
        console.print(result)
        return console.file.getvalue()

    def copies(strategy, variables):
        return [[c.numpy().tobytes() for c in strategy.experimental_local_results(wrapped_variable(v))]
                for v in variables]

    def row(result, strategy, variables, before):
        return {"state": result.state, "factor": result.factor, "replicas": result.replicas, "text": text(result),
                "restored": copies(strategy, variables) == before}

    rng = np.random.default_rng(0)
    out = {}

    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with two.scope():
        w = tf.Variable(rng.standard_normal((3, 2)))
        b = tf.Variable(rng.standard_normal(2))
    x = rng.standard_normal((8, 3))
    odd = rng.standard_normal((7, 3))

    def per_example(batch):
        return tf.reduce_sum(tf.tanh(tf.matmul(batch, w) + b) ** 2, axis=1)

    def mean(batch):
        return tf.reduce_mean(per_example(batch))

    cases = {
        "planted_2": (mean, x, None),
        "correct_2": (lambda batch: tf.nn.compute_average_loss(per_example(batch), global_batch_size=8), x, None),
        "twice_2": (lambda batch: tf.nn.compute_average_loss(per_example(batch), global_batch_size=8) / 2, x, mean),
        "uneven_2": (lambda batch: tf.nn.compute_average_loss(per_example(batch), global_batch_size=7), odd, None),
    }
    for name, (loss, batch, global_loss) in cases.items():
        before = copies(two, [w, b])
        result = gradlab.check_distributed(loss, [w, b], batch, two, global_loss=global_loss)
        out[name] = row(result, two, [w, b], before)

    four = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(4)])
    with four.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="tanh", dtype="float64"),
                                  keras.layers.Dense(1, dtype="float64")])
    features, labels = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(8)

    def squared(batch):
        inputs, targets = batch
        return tf.reduce_sum((model(inputs) - targets) ** 2, axis=1)

    def planted(batch):
        return tf.reduce_mean(squared(batch))

    def correct(batch):
        return tf.nn.compute_average_loss(squared(batch), global_batch_size=8)

    variables = model.trainable_variables
    for name, loss, mode in (("planted_4", planted, "full"), ("correct_4", correct, "full"),
                             ("planted_4_fast", planted, "fast")):
        before = copies(four, variables)
        result = gradlab.check_distributed(loss, variables, dataset, four, mode=mode)
        out[name] = row(result, four, variables, before)
    print(json.dumps(out))
""")


def _flat(text):
    return " ".join(text.split())


@pytest.fixture(scope="module")
def mirrored():
    """The results of the MirroredStrategy cases (2 and 4 logical CPUs), run once in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


PLANTED = {"planted_2": 2.0, "planted_4": 4.0, "planted_4_fast": 4.0}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(PLANTED))
def test_per_replica_mean_fails_with_the_factor_named(mirrored, case):
    result = mirrored[case]
    n = int(PLANTED[case])
    said = (f"the all-reduced gradient is {n} times the gradient of the global loss: the per-replica loss is "
            "likely divided by the per-replica batch size instead of the global one (use "
            "tf.nn.compute_average_loss(..., global_batch_size=...))")
    assert (result["state"], result["factor"], said in _flat(result["text"])) == ("fail", n, True)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["correct_2", "correct_4", "uneven_2"])
def test_global_batch_scaling_passes(mirrored, case):
    assert mirrored[case]["state"] == "ok", mirrored[case]["text"]


@pytest.mark.slow
def test_dividing_by_the_replicas_twice_is_named(mirrored):
    result = mirrored["twice_2"]
    assert (result["factor"], "is 1/2 of the gradient of the global loss" in _flat(result["text"])) == (0.5, True)


@pytest.mark.slow
def test_every_replicas_copy_is_restored_bit_for_bit(mirrored):
    assert {name: r["restored"] for name, r in mirrored.items()} == {name: True for name in mirrored}


@pytest.mark.slow
def test_replica_counts(mirrored):
    assert {name: r["replicas"] for name, r in mirrored.items()} == {
        "planted_2": 2, "correct_2": 2, "twice_2": 2, "uneven_2": 2, "planted_4": 4, "correct_4": 4,
        "planted_4_fast": 4}


# One replica, in this process: the default strategy and OneDeviceStrategy need no logical devices. -------------

@pytest.fixture
def one_replica():
    w = tf.Variable([[0.5, -1.0], [2.0, 0.3]], dtype=tf.float64)
    x = np.random.default_rng(1).standard_normal((6, 2))

    def per_example(batch):
        return tf.reduce_sum(tf.tanh(tf.matmul(batch, w)) ** 2, axis=1)

    return w, x, per_example


@pytest.mark.parametrize("scaling", ["mean", "global"])
@pytest.mark.parametrize("strategy", ["default", "one_device"])
def test_one_replica_passes_either_scaling(one_replica, scaling, strategy):
    w, x, per_example = one_replica
    s = tf.distribute.get_strategy() if strategy == "default" else tf.distribute.OneDeviceStrategy("/cpu:0")
    loss = (lambda b: tf.reduce_mean(per_example(b))) if scaling == "mean" else (
        lambda b: tf.nn.compute_average_loss(per_example(b), global_batch_size=6))
    before = w.numpy().tobytes()
    result = gradlab.check_distributed(loss, [w], x, s)
    assert (result.state, result.replicas, w.numpy().tobytes() == before) == ("ok", 1, True)


def test_global_loss_given(one_replica):
    w, x, per_example = one_replica
    result = gradlab.check_distributed(lambda b: tf.reduce_sum(per_example(b)) / 6, [w], x,
                                       tf.distribute.get_strategy(),
                                       global_loss=lambda b: tf.reduce_mean(per_example(b)))
    assert result.ok


def test_a_wrong_loss_scale_fails_without_a_factor_on_one_replica(one_replica):
    w, x, per_example = one_replica
    result = gradlab.check_distributed(lambda b: tf.reduce_sum(per_example(b)), [w], x,
                                       tf.distribute.get_strategy(),
                                       global_loss=lambda b: tf.reduce_mean(per_example(b)))
    assert (result.state, result.factor) == ("fail", None)


def _call(one_replica, **change):
    w, x, per_example = one_replica
    arguments = dict(per_replica_loss=lambda b: tf.reduce_mean(per_example(b)), variables=[w], batch=x,
                     strategy=tf.distribute.get_strategy())
    arguments.update(change)
    return gradlab.check_distributed(**arguments)


ERRORS = {
    "not a strategy": dict(strategy="mirrored"),
    "loss not callable": dict(per_replica_loss=3.0),
    "global loss not callable": dict(global_loss="mean"),
    "unknown option": dict(order=2),
    "bad mode": dict(mode="quick"),
    "bad samples": dict(samples=-1),
    "no variables": dict(variables=[]),
    "empty batch": dict(batch=np.zeros((0, 2))),
    "no batch axis": dict(batch=np.float64(1.0)),
    "parts differ": dict(batch=(np.zeros((6, 2)), np.zeros((5, 1)))),
    "empty dataset": dict(batch=tf.data.Dataset.from_tensor_slices(np.zeros((0, 2))).batch(2)),
    "batch is None": dict(batch=None),
    "vector loss": dict(per_replica_loss=lambda b: tf.reduce_sum(b, axis=1)),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_argument_errors_are_one_line(one_replica, case):
    with pytest.raises(GradlabError) as caught:
        _call(one_replica, **ERRORS[case])
    assert "\n" not in str(caught.value)


def test_refused_inside_a_strategy_scope(one_replica):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope(), pytest.raises(GradlabError, match="outside it"):
        _call(one_replica, strategy=strategy)
