"""gradlab.check over a table of differentiable TensorFlow ops: right gradients pass, 1%-scaled ones fail."""

import numpy as np
import pytest

import gradlab
from gradlab._tf import tf

# Point makers -----------------------------------------------------------------------------------------------
# A case's point maker is (rng, dtype) -> tuple of numpy arrays, one per argument of its function. Points stay
# inside each op's domain, but are not steered away from kinks (relu, abs, max...): the engine must cope.


def point(*draws):
    """A point maker from draws (rng -> array), one per argument, each cast to the dtype."""
    return lambda rng, dtype: tuple(np.asarray(draw(rng), dtype=dtype) for draw in draws)


def normal(*shape, scale=1.0):
    return lambda rng: scale * rng.standard_normal(shape)


def uniform(low, high, *shape):
    return lambda rng: rng.uniform(low, high, shape)


def away(*shape):
    """Magnitudes in [0.5, 2) with random signs: for denominators."""
    return lambda rng: rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def well(n, *batch):
    """3 * identity plus small noise: well conditioned, for det, inv and solves."""
    return lambda rng: 3.0 * np.eye(n) + 0.3 * rng.standard_normal((*batch, n, n))


def unary(domain=None):
    return point(domain or normal(2, 3))


def as_dtype(value, like):
    """A constant in the dtype of the tensor `like`."""
    return tf.constant(np.asarray(value), dtype=like.dtype)


def spd(m):
    """m m^T + I: symmetric positive definite and depending on every entry of m, so that ops which read one
    triangle only (cholesky, eigh) have a derivative that matches their symmetric registered gradient."""
    return tf.matmul(m, m, transpose_b=True) + tf.eye(m.shape[-1], dtype=m.dtype)


def symmetric(m):
    return (m + tf.linalg.matrix_transpose(m)) / 2


def cplx(re, im):
    return tf.complex(re, im)


LABELS = np.array([[0.1, 0.6, 0.3, 0.0], [0.5, 0.0, 0.25, 0.25]])
SEGMENTS = [0, 0, 1, 3, 3, 3]  # sorted, with an empty segment 2
UNSORTED = [2, 0, 2, 1, 0, 2]

# The table -------------------------------------------------------------------------------------------------
# name: (function of float tensors returning a float tensor, point maker). The tests check the scalar
# sum(f(*args) * w) for fixed random weights w (one tape.gradient, not a Jacobian, per check); the Jacobian of
# the tensor output itself is checked on a subset.

CASES = {
    # tf.math, unary
    "sin": (tf.sin, unary()),
    "cos": (tf.cos, unary()),
    "tan": (tf.tan, unary(uniform(-1.2, 1.2, 2, 3))),
    "tanh": (tf.tanh, unary(normal(2, 3, scale=2))),
    "exp": (tf.exp, unary()),
    "expm1": (tf.math.expm1, unary()),
    "log": (tf.math.log, unary(uniform(0.5, 3, 2, 3))),
    "log1p": (tf.math.log1p, unary(uniform(-0.5, 3, 2, 3))),
    "sqrt": (tf.sqrt, unary(uniform(0.5, 3, 2, 3))),
    "rsqrt": (tf.math.rsqrt, unary(uniform(0.5, 3, 2, 3))),
    "reciprocal": (tf.math.reciprocal, unary(away(2, 3))),
    "square": (tf.square, unary()),
    "sigmoid": (tf.sigmoid, unary(normal(2, 3, scale=2))),
    "softplus": (tf.nn.softplus, unary(normal(2, 3, scale=2))),
    "softsign": (tf.nn.softsign, unary(normal(2, 3, scale=2))),
    "erf": (tf.math.erf, unary()),
    "erfc": (tf.math.erfc, unary()),
    "lgamma": (tf.math.lgamma, unary(uniform(0.5, 4, 2, 3))),
    "digamma": (tf.math.digamma, unary(uniform(0.5, 4, 2, 3))),
    "atan": (tf.atan, unary(normal(2, 3, scale=2))),
    "asin": (tf.asin, unary(uniform(-0.9, 0.9, 2, 3))),
    "acos": (tf.acos, unary(uniform(-0.9, 0.9, 2, 3))),
    "asinh": (tf.asinh, unary(normal(2, 3, scale=2))),
    "acosh": (tf.acosh, unary(uniform(1.2, 3, 2, 3))),
    "atanh": (tf.atanh, unary(uniform(-0.9, 0.9, 2, 3))),
    "sinh": (tf.sinh, unary()),
    "cosh": (tf.cosh, unary()),
    "abs": (tf.abs, unary()),
    "bessel_i0e": (tf.math.bessel_i0e, unary()),
    # tf.math, binary
    "add": (tf.add, point(normal(2, 3), normal(2, 3))),
    "add broadcast": (tf.add, point(normal(2, 3), normal(3))),
    "multiply": (tf.multiply, point(normal(2, 3), normal(2, 3))),
    "divide": (tf.divide, point(normal(2, 3), away(2, 3))),
    "pow": (tf.pow, point(uniform(0.5, 2, 2, 3), normal(2, 3))),
    "atan2": (tf.atan2, point(normal(2, 3), normal(2, 3))),
    "maximum": (tf.maximum, point(normal(2, 3), normal(2, 3))),
    "minimum": (tf.minimum, point(normal(2, 3), normal(2, 3))),
    "squared_difference": (tf.math.squared_difference, point(normal(2, 3), normal(2, 3))),
    "xlogy": (tf.math.xlogy, point(normal(2, 3), uniform(0.5, 3, 2, 3))),
    # reductions and scans
    "reduce_sum": (lambda x: tf.reduce_sum(x, axis=1), unary(normal(3, 4))),
    "reduce_mean": (lambda x: tf.reduce_mean(x, axis=0), unary(normal(3, 4))),
    "reduce_max": (lambda x: tf.reduce_max(x, axis=1), unary(normal(3, 4))),
    "reduce_min": (lambda x: tf.reduce_min(x, axis=0), unary(normal(3, 4))),
    "reduce_prod": (lambda x: tf.reduce_prod(x, axis=1), unary(normal(3, 4))),
    "reduce_logsumexp": (lambda x: tf.reduce_logsumexp(x, axis=1), unary(normal(3, 4))),
    "reduce_variance": (lambda x: tf.math.reduce_variance(x, axis=0), unary(normal(3, 4))),
    "cumsum": (lambda x: tf.cumsum(x, axis=1), unary(normal(3, 4))),
    "cumprod": (lambda x: tf.math.cumprod(x, axis=1), unary(normal(3, 4))),
    "cumprod exclusive reverse": (lambda x: tf.math.cumprod(x, axis=1, exclusive=True, reverse=True),
                                  unary(normal(3, 4))),
    "top_k values": (lambda x: tf.math.top_k(x, k=2).values, unary(normal(3, 4))),
    # tf.nn
    "relu": (tf.nn.relu, unary(normal(2, 4))),
    "relu6": (tf.nn.relu6, unary(normal(2, 4, scale=4))),
    "elu": (tf.nn.elu, unary(normal(2, 4))),
    "selu": (tf.nn.selu, unary(normal(2, 4))),
    "gelu": (tf.nn.gelu, unary(normal(2, 4))),
    "leaky_relu": (lambda x: tf.nn.leaky_relu(x, alpha=0.2), unary(normal(2, 4))),
    "silu": (tf.nn.silu, unary(normal(2, 4))),
    "softmax": (tf.nn.softmax, unary(normal(2, 4))),
    "log_softmax": (tf.nn.log_softmax, unary(normal(2, 4))),
    "l2_normalize": (lambda x: tf.math.l2_normalize(x, axis=-1), unary(normal(2, 4))),
    "softmax_cross_entropy": (lambda z: tf.nn.softmax_cross_entropy_with_logits(as_dtype(LABELS, z), z),
                              unary(normal(2, 4))),
    "batch_normalization": (lambda x, m, v, b, s: tf.nn.batch_normalization(x, m, v, b, s, 1e-3),
                            point(normal(3, 2), normal(2), uniform(0.5, 2, 2), normal(2), normal(2))),
    "bias_add": (tf.nn.bias_add, point(normal(2, 2, 3), normal(3))),
    "conv1d": (lambda x, w: tf.nn.conv1d(x, w, stride=1, padding="VALID"),
               point(normal(1, 6, 2), normal(3, 2, 2))),
    "conv2d": (lambda x, w: tf.nn.conv2d(x, w, strides=1, padding="VALID"),
               point(normal(1, 4, 4, 1), normal(2, 2, 1, 2))),
    "depthwise_conv2d": (lambda x, w: tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "VALID"),
                         point(normal(1, 3, 3, 2), normal(2, 2, 2, 1))),
    "avg_pool2d": (lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID"), unary(normal(1, 4, 4, 2))),
    "max_pool2d": (lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), unary(normal(1, 4, 4, 2))),
    "max_pool2d overlapping": (lambda x: tf.nn.max_pool2d(x, 3, 1, "SAME"), unary(normal(1, 3, 3, 2))),
    "dilation2d": (lambda x, f: tf.nn.dilation2d(x, f, [1, 1, 1, 1], "VALID", "NHWC", [1, 1, 1, 1]),
                   point(normal(1, 4, 4, 1), normal(2, 2, 1))),
    "embedding_lookup": (lambda p: tf.nn.embedding_lookup(p, [3, 0, 3, 1]), unary(normal(5, 2))),
    # tf.linalg
    "matmul": (tf.matmul, point(normal(2, 3), normal(3, 2))),
    "det": (tf.linalg.det, unary(well(3))),
    "logdet spd": (lambda m: tf.linalg.logdet(spd(m)), unary(normal(3, 3))),
    "inv": (tf.linalg.inv, unary(well(3))),
    "cholesky": (lambda m: tf.linalg.cholesky(spd(m)), unary(normal(3, 3))),
    "cholesky_solve": (lambda m, b: tf.linalg.cholesky_solve(tf.linalg.cholesky(spd(m)), b),
                       point(normal(3, 3), normal(3, 2))),
    "solve": (tf.linalg.solve, point(well(3), normal(3, 2))),
    "triangular_solve lower": (lambda a, b: tf.linalg.triangular_solve(a, b, lower=True),
                               point(well(3), normal(3, 2))),
    "lstsq": (lambda a, b: tf.linalg.lstsq(a, b, fast=True), point(normal(4, 2), normal(4, 1))),
    "trace": (tf.linalg.trace, unary(normal(3, 3))),
    "norm frobenius": (tf.norm, unary(normal(3, 3))),
    "norm ord 1": (lambda x: tf.norm(x, ord=1), unary(normal(6))),
    "expm": (tf.linalg.expm, unary(normal(3, 3, scale=0.5))),
    "sqrtm spd": (lambda m: tf.linalg.sqrtm(spd(m)), unary(normal(3, 3))),
    "eigh eigenvalues": (lambda m: tf.linalg.eigvalsh(symmetric(m)), unary(normal(3, 3))),
    "svd singular values": (lambda a: tf.linalg.svd(a, compute_uv=False), unary(normal(3, 2))),
    "qr": (lambda a: tf.concat(tf.linalg.qr(a), axis=0), unary(normal(3, 3))),
    "einsum matmul": (lambda a, b: tf.einsum("ij,jk->ik", a, b), point(normal(2, 3), normal(3, 2))),
    # tf.signal
    "rfft abs": (lambda x: tf.abs(tf.signal.rfft(x)), unary(normal(8))),
    "fft real": (lambda re, im: tf.math.real(tf.signal.fft(cplx(re, im))), point(normal(6), normal(6))),
    "irfft": (lambda re, im: tf.signal.irfft(cplx(re, im)), point(normal(5), normal(5))),
    "dct": (tf.signal.dct, unary(normal(2, 6))),
    "idct": (tf.signal.idct, unary(normal(2, 6))),
    "frame": (lambda x: tf.signal.frame(x, 4, 2) * tf.range(1, 5, dtype=x.dtype), unary(normal(10))),
    "stft abs": (lambda x: tf.abs(tf.signal.stft(x, 8, 4, 8)), unary(normal(16))),
    # gathering and scattering
    "gather": (lambda p: tf.gather(p, [4, 0, 2, 0]), unary(normal(5, 3))),
    "gather_nd": (lambda p: tf.gather_nd(p, [[0, 1], [2, 3], [0, 1]]), unary(normal(3, 4))),
    "scatter_nd": (lambda u: tf.scatter_nd([[1], [4], [1]], u, [6]), unary(normal(3))),
    "tensor_scatter_nd_update": (lambda t, u: tf.tensor_scatter_nd_update(t, [[1], [3]], u),
                                 point(normal(5), normal(2))),
    "segment_sum": (lambda x: tf.math.segment_sum(x, SEGMENTS), unary(normal(6, 2))),
    "segment_max": (lambda x: tf.math.segment_max(x, SEGMENTS), unary(normal(6, 2))),
    "unsorted_segment_sum": (lambda x: tf.math.unsorted_segment_sum(x, UNSORTED, 3), unary(normal(6, 2))),
    "unsorted_segment_max": (lambda x: tf.math.unsorted_segment_max(x, UNSORTED, 3), unary(normal(6, 2))),
    "where fixed mask": (lambda a, b: tf.where([[True, False, True], [False, False, True]], a, b),
                         point(normal(2, 3), normal(2, 3))),
    "boolean_mask fixed": (lambda x: tf.boolean_mask(x, [True, False, True, True]), unary(normal(4, 2))),
    # shapes and slices
    "concat": (lambda a, b: tf.concat([a, b], axis=1), point(normal(2, 3), normal(2, 2))),
    "transpose": (lambda x: tf.transpose(x, [2, 0, 1]), unary(normal(2, 3, 2))),
    "reshape": (lambda x: tf.reshape(x, [3, 4]) * as_dtype(np.arange(12.0).reshape(3, 4), x),
                unary(normal(2, 6))),
    "tile": (lambda x: tf.tile(x, [2, 3]), unary(normal(2, 2))),
    "pad constant": (lambda x: tf.pad(x, [[1, 0], [2, 1]], constant_values=0.5), unary(normal(2, 3))),
    "pad reflect": (lambda x: tf.pad(x, [[1, 1], [2, 1]], mode="REFLECT"), unary(normal(3, 4))),
    "reverse": (lambda x: tf.reverse(x, [1]) * x, unary(normal(2, 4))),
    "roll": (lambda x: tf.roll(x, shift=[1, -2], axis=[0, 1]) * x, unary(normal(3, 4))),
    "slice": (lambda x: tf.slice(x, [1, 1], [2, 2]), unary(normal(3, 4))),
    "strided slice": (lambda x: x[1:, ::2] * x[:-1, 1::2], unary(normal(3, 4))),
    "clip_by_value": (lambda x: tf.clip_by_value(x, -1.0, 1.0), unary(normal(2, 4, scale=2))),
}
# Left out on purpose:
#   tf.sign, tf.floor, tf.round, tf.math.floormod: zero or None gradients, where a 1% error changes nothing;
#   raw tf.linalg.cholesky / eigh of an unsymmetrized input: the kernel reads one triangle while the
#   registered gradient is symmetrized, so it is not the derivative by design; hence spd() and symmetric();
#   tf.nn.local_response_normalization (no float64 kernel) and tf.image.resize bilinear/bicubic/area (float32
#   output whatever the input): their float64 cases would not be float64 checks.

NAMES = list(CASES)
SEEDS = [0, 1, 2]
FAST = ["sin", "log", "pow", "divide", "reduce_logsumexp", "relu", "softmax", "conv2d", "max_pool2d",
        "det", "inv", "cholesky_solve", "rfft abs", "gather", "segment_max", "unsorted_segment_max",
        "tensor_scatter_nd_update", "tile", "pad reflect", "embedding_lookup"]
DTYPES = {"float32": np.float32, "float64": np.float64}


def case_point(name, dtype, seed):
    return CASES[name][1](np.random.default_rng(seed), DTYPES[dtype])


def scalar(f, args):
    """sum(f(*args) * w) for fixed random weights w: a scalar that depends on every entry of f's output."""
    shape = tf.convert_to_tensor(f(*map(tf.constant, args))).shape
    rng = np.random.default_rng(99)
    w = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    return lambda *a: tf.reduce_sum(f(*a) * as_dtype(w, a[0]))


def case(name, dtype, seed=0, wrong=False):
    """The scalar function to check for a case (the op itself, or with the planted error) and its point."""
    args = case_point(name, dtype, seed)
    op = CASES[name][0]
    return scalar(planted(op) if wrong else op, args), args


def planted(f):
    """f with a planted error: its gradient is the true one (an inner tape on f) scaled by 1.01."""

    @tf.custom_gradient
    def wrong(*args):
        with tf.GradientTape(persistent=True) as tape:  # the Jacobian may call grad more than once
            tape.watch(args)
            y = f(*args)

        def grad(dy):
            true = tape.gradient(y, args, output_gradients=dy)
            return [tf.convert_to_tensor(g) * tf.constant(1.01, dtype=g.dtype) for g in true]

        return y, grad

    return wrong


def slow_unless(default, *values, id):
    """pytest.param(*values, id=id), marked slow unless `default` (the subset the default run covers)."""
    return pytest.param(*values, id=id, marks=() if default else pytest.mark.slow)


CORRECT = [slow_unless(dtype == "float64" and seed == 0, name, dtype, seed, id=f"{name}-{dtype}-seed{seed}")
           for name in NAMES for dtype in DTYPES for seed in SEEDS]
PLANTED = [slow_unless(dtype == "float64", name, dtype, id=f"{name}-{dtype}")
           for name in NAMES for dtype in DTYPES]
FAST_CASES = [slow_unless(dtype == "float64", name, dtype, id=f"{name}-{dtype}")
              for name in FAST for dtype in DTYPES]


def test_the_table_is_large_and_every_case_yields_a_float_tensor():
    """At least 60 ops; each case's function gives a float tensor of its point's dtype."""
    results = {name: tf.convert_to_tensor(CASES[name][0](*map(tf.constant, case_point(name, "float64", 0))))
               for name in NAMES}
    assert len(NAMES) >= 60 and all(y.dtype == tf.float64 for y in results.values())


@pytest.mark.parametrize("name, dtype, seed", CORRECT)
def test_correct_gradient_passes(name, dtype, seed):
    """A registered gradient that is right is never called wrong."""
    f, args = case(name, dtype, seed)
    result = gradlab.check(f, *args, seed=seed)
    assert result.ok, str(result)


@pytest.mark.parametrize("name, dtype", PLANTED)
def test_planted_one_percent_error_is_caught(name, dtype):
    """The same op with its gradient scaled by 1.01 fails."""
    f, args = case(name, dtype, wrong=True)
    result = gradlab.check(f, *args)
    assert not result.ok, str(result)


@pytest.mark.parametrize("name, dtype", FAST_CASES)
def test_fast_mode_passes_a_correct_gradient(name, dtype):
    """Fast mode on a subset: the correct gradient passes."""
    f, args = case(name, dtype)
    result = gradlab.check(f, *args, mode="fast")
    assert result.ok, str(result)


@pytest.mark.parametrize("name, dtype", FAST_CASES)
def test_fast_mode_catches_a_planted_error(name, dtype):
    """Fast mode on a subset: the 1%-scaled gradient fails."""
    f, args = case(name, dtype, wrong=True)
    result = gradlab.check(f, *args, mode="fast")
    assert not result.ok, str(result)


@pytest.mark.parametrize("name", FAST)
def test_full_jacobian_of_the_tensor_output_passes(name):
    """The op's own tensor output (not the weighted sum) on a subset: every Jacobian entry agrees."""
    result = gradlab.check(CASES[name][0], *case_point(name, "float64", 0))
    assert result.ok, str(result)


LOCATED = [slow_unless(dtype == "float64", name, dtype, id=f"{name}-{dtype}") for name in NAMES for dtype in DTYPES]


@pytest.mark.parametrize("name, dtype", LOCATED)
def test_locate_calls_no_op_of_a_right_gradient_wrong(name, dtype):
    """Every op of the function, checked alone at the values it saw, passes (or is a kink, or not judged)."""
    f, args = case(name, dtype)
    location = gradlab.locate(f, *args)
    assert not location.wrong, str(location)


@pytest.mark.parametrize("name, dtype", LOCATED)
def test_locate_finds_the_planted_error_and_nothing_else(name, dtype):
    """With the op's gradient scaled by 1.01 (a custom gradient around it), that block alone is wrong."""
    f, args = case(name, dtype, wrong=True)
    location = gradlab.locate(f, *args)
    assert [op.kind for op in location.wrong] == ["custom gradient"], str(location)
