"""gradlab.check(variables=) on tiny Keras layers: right gradients pass, every weight is restored."""

import functools

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf

import keras  # noqa: E402  (after gradlab._tf, which imports TensorFlow quietly)

IDS = np.array([[1, 3, 3, 0], [5, 1, 2, 3]], dtype=np.int32)


def floats(*shape):
    return lambda rng, dtype: rng.standard_normal(shape).astype(dtype)


def ids(rng, dtype):
    return IDS


# name: (layer for a dtype name, input maker (rng, dtype) -> array, call(layer, x) -> output)
LAYERS = {
    "Dense relu": (lambda dt: keras.layers.Dense(3, activation="relu", dtype=dt), floats(4, 5), None),
    "Dense tanh": (lambda dt: keras.layers.Dense(3, activation="tanh", dtype=dt), floats(4, 5), None),
    "Dense gelu": (lambda dt: keras.layers.Dense(3, activation="gelu", dtype=dt), floats(4, 5), None),
    "Conv2D": (lambda dt: keras.layers.Conv2D(2, 3, dtype=dt), floats(1, 5, 5, 1), None),
    "LSTM": (lambda dt: keras.layers.LSTM(2, dtype=dt), floats(2, 3, 2), None),
    "GRU": (lambda dt: keras.layers.GRU(2, dtype=dt), floats(2, 3, 2), None),
    "LayerNormalization": (lambda dt: keras.layers.LayerNormalization(dtype=dt), floats(3, 4), None),
    "BatchNormalization": (lambda dt: keras.layers.BatchNormalization(dtype=dt), floats(4, 3),
                           lambda layer, x: layer(x, training=False)),
    "MultiHeadAttention": (lambda dt: keras.layers.MultiHeadAttention(num_heads=2, key_dim=2, dtype=dt),
                           floats(1, 3, 3), lambda layer, x: layer(x, x)),
    "Embedding": (lambda dt: keras.layers.Embedding(6, 3, dtype=dt), ids, None),  # an IndexedSlices gradient
}
DTYPES = {"float32": np.float32, "float64": np.float64}
MODES = ["full", "fast"]
CASES = [pytest.param(name, dtype, mode, id=f"{name}-{dtype}-{mode}")
         for name in LAYERS for dtype in DTYPES for mode in MODES]
WITH_NON_TRAINABLE = [c for c in CASES if c.values[0] == "BatchNormalization"]


def build(name, dtype):
    """The layer, built at a seeded point, and the loss sum(sin(layer output) * c) for a fixed random c."""
    make, point, call = LAYERS[name]
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(2)
    layer = make(dtype)
    x = tf.constant(point(rng, DTYPES[dtype]))
    call = call or (lambda layer, x: layer(x))
    out = call(layer, x)  # builds the weights
    for v in layer.non_trainable_variables:  # moving statistics away from their initial 0 and 1
        v.assign(rng.uniform(0.5, 1.5, v.shape).astype(dtype))
    c = tf.constant(rng.standard_normal(out.shape), dtype=dtype)
    return layer, lambda: tf.reduce_sum(tf.sin(call(layer, x)) * c)


def snapshot(variables):
    return [v.numpy().tobytes() for v in variables]


@functools.cache
def checked(name, dtype, mode):
    """Check a layer once per (name, dtype, mode): the result and its variables' bytes before and after."""
    layer, loss = build(name, dtype)
    trainable, frozen = layer.trainable_variables, layer.non_trainable_variables
    before = snapshot(trainable), snapshot(frozen)
    result = gradlab.check(loss, variables=trainable, mode=mode)
    return result, before, (snapshot(trainable), snapshot(frozen))


def test_layers_are_tiny_and_in_their_dtype():
    """Every layer has a handful to ~200 weights, all of the requested dtype."""
    built = [build(name, dtype)[0] for name in LAYERS for dtype in DTYPES]
    sizes = [sum(int(np.prod(v.shape)) for v in layer.trainable_variables) for layer in built]
    assert all(4 <= n <= 200 for n in sizes) and all(
        v.dtype == layer.dtype for layer in built for v in layer.weights)


@pytest.mark.parametrize("name, dtype, mode", CASES)
def test_correct_layer_gradient_passes(name, dtype, mode):
    """No false failure: Keras's gradient of a smooth loss of the layer output is right."""
    result, _, _ = checked(name, dtype, mode)
    assert result.ok, str(result)


@pytest.mark.parametrize("name, dtype, mode", CASES)
def test_trainable_weights_restored_bit_for_bit(name, dtype, mode):
    """Every trainable weight has exactly its old bytes after the check."""
    _, before, after = checked(name, dtype, mode)
    assert after[0] == before[0]


@pytest.mark.parametrize("name, dtype, mode", WITH_NON_TRAINABLE)
def test_non_trainable_weights_unchanged(name, dtype, mode):
    """Moving statistics, not among the checked variables, are untouched (training=False)."""
    _, before, after = checked(name, dtype, mode)
    assert after[1] == before[1] and len(before[1]) > 0
