"""The exercises at the end of each lesson. Every expected answer is computed by a tape (or, for lesson 8,
by the finite difference the exercise asks about) when an answer is graded; nothing here is a stored result.

Each entry: the statement the lesson shows, the reference that computes the answer, the terms of that answer
and the values typical slips give (each with its hint), the code the lesson's cell starts from, and a
solution, shown only on request.
"""

from __future__ import annotations

import math

import numpy as np

from gradlab._tf import tf
from gradlab.teaching.exercises import Exercise

__all__ = ["BANK"]


def _gradient(function, *values, dtype=tf.float32):
    """The tape's gradients of function(*variables) at `values`, one per value."""
    variables = [tf.Variable(v, dtype=dtype) for v in values]
    with tf.GradientTape() as tape:
        y = function(*variables)
    return tape.gradient(y, variables)


# --- lesson 1 --------------------------------------------------------------------------------------------

W1, W2 = 2.0, -1.0


def _lesson_1_f(w1, w2):
    return 3 * w1 ** 2 + 2 * w1 * w2


def _lesson_1_g(w1, w2):
    return w1 ** 2 * w2 + w2 ** 3


def _dg_dw2(w1, w2):
    return _gradient(_lesson_1_g, w1, w2, dtype=tf.float64)[1]


# --- lesson 2 --------------------------------------------------------------------------------------------

A, B, C, W = 1.0, 2.0, 3.0, -3.0


def _watched_w_only():
    a, b, c, w = (tf.constant(v) for v in (A, B, C, W))
    with tf.GradientTape() as tape:
        tape.watch(w)
        y = a * w ** 2 + b * w + c
    return tape.gradient(y, [w, a])


def _frozen_watched():
    w = tf.Variable(4., trainable=False)
    with tf.GradientTape() as tape:
        tape.watch(w)
        y = w ** 2 + 2 * w
    return tape.gradient(y, w)


# --- lesson 3 --------------------------------------------------------------------------------------------

X3, WEIGHT1, BIAS1, WEIGHT2, BIAS2 = 2.0, 3.0, 1.0, -1.0, 4.0


def _two_layers():
    x, w1, b1, w2, b2 = (tf.constant(v) for v in (X3, WEIGHT1, BIAS1, WEIGHT2, BIAS2))
    with tf.GradientTape() as tape:
        tape.watch([w1, w2])
        y1 = x * w1 + b1
        y2 = y1 * w2 + b2
    return tape.gradient(y2, [w1, w2])


# --- lesson 4 --------------------------------------------------------------------------------------------

def _exp_gradient():
    x = tf.Variable([0., 1., 2.])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.exp(x))
    return tape.gradient(y, x)


def _descent_gradients():
    x = tf.Variable(1.)
    gradients = []
    for _ in range(3):
        with tf.GradientTape() as tape:
            y = x ** 2
        g = tape.gradient(y, x)
        gradients.append(g)
        x.assign_sub(g / 10)
    return gradients


# --- lesson 5 --------------------------------------------------------------------------------------------

def _relu_and_unused():
    x, unused = tf.Variable(2.), tf.Variable(4.)
    with tf.GradientTape() as tape:
        y = tf.nn.relu(x) + 0 * unused
    return tape.gradient(y, [x, unused])


def _loss_gradients():
    w, b = tf.Variable(1.), tf.Variable(0.)
    inputs = tf.constant([1., 2., 3.])
    targets = tf.constant([2., 4., 6.])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((w * inputs + b - targets) ** 2)
    return tape.gradient(loss, [w, b])


# --- lesson 6 --------------------------------------------------------------------------------------------

X6 = [1.0, 3.0]


def _vector_target():
    x = tf.Variable(X6)
    with tf.GradientTape() as tape:
        y = tf.stack([x[0] * x[1], x[0] ** 2, 3 * x[1]])
    return tape.gradient(y, x)


def _jacobian_shape():
    W = tf.Variable(tf.ones([3, 4]))
    with tf.GradientTape() as tape:
        z = tf.linalg.matvec(W, tf.ones([4]))[:2]
    return list(tape.jacobian(z, W).shape)


# --- lesson 7 --------------------------------------------------------------------------------------------

X7 = 3.0


def _stopped():
    x = tf.Variable(X7)
    with tf.GradientTape() as tape:
        y = x * tf.stop_gradient(x)
    return tape.gradient(y, x)


def _gradient_for_b():
    a, b = tf.Variable(2.), tf.Variable(3.)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch([a, b])
        y = a * b ** 2
    return tape.gradient(y, b)


# --- lesson 8 --------------------------------------------------------------------------------------------

X8, H8 = 1.0, 1 / 10


def _forward_difference_of_cube():
    x, h = tf.constant(X8, tf.float64), tf.constant(H8, tf.float64)
    return ((x + h) ** 3 - x ** 3) / h


def _float32_forward_difference():
    x, h = tf.constant(1., tf.float32), 10 ** -8
    return (tf.exp(x + h) - tf.exp(x)) / h


# --- lesson 9 --------------------------------------------------------------------------------------------

def _swish(x):
    return x * tf.sigmoid(x)


@tf.custom_gradient
def _softplus_forgot_dy(x):
    y = tf.maximum(x, 0.) + tf.math.log1p(tf.exp(-tf.abs(x)))

    def grad(dy):
        return tf.sigmoid(x)
    return y, grad


def _three_softplus_forgot_dy():
    x = tf.constant(0.)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = 3 * _softplus_forgot_dy(x)
    return tape.gradient(y, x)


# --- lesson 10 -------------------------------------------------------------------------------------------

X10 = 2.0


def _second_derivative_of(power, at, dtype=tf.float64):
    x = tf.Variable(at, dtype=dtype)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = x ** power
        dy_dx = inner.gradient(y, x)
    return outer.gradient(dy_dx, x)


# --- lesson 11 -------------------------------------------------------------------------------------------

def _batch_jacobian_shape():
    x = tf.ones([5, 3])
    W = tf.ones([3, 2])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.tanh(x @ W)
    return list(tape.batch_jacobian(y, x).shape)


def _centred_batch_jacobian():
    x = tf.constant([[1.], [2.], [4.], [8.]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x - tf.reduce_mean(x, axis=0)
    return float(tf.reduce_max(tf.abs(tape.batch_jacobian(y, x))))


# --- lesson 12 -------------------------------------------------------------------------------------------

@tf.function
def _traced_exp_times_x(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.exp(x) * x
    return tape.gradient(y, x)


def _derivative_of_sin_x_squared(x):
    return _gradient(lambda x: tf.sin(x) * x ** 2, x, dtype=tf.float64)[0]


# --- lesson 13 -------------------------------------------------------------------------------------------

X13 = [2.0, 3.0]


def _f13(x):
    return tf.stack([x[0] * x[1], x[0] + x[1]])


def _jvp():
    x, u = tf.constant(X13), tf.constant([1., 0.])
    with tf.autodiff.ForwardAccumulator(primals=x, tangents=u) as acc:
        y = _f13(x)
    return acc.jvp(y)


def _vjp(v=(1., -1.)):
    x = tf.constant(X13)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = _f13(x)
    return tape.gradient(y, x, output_gradients=tf.constant(v))


def _jacobian13():
    x = tf.constant(X13)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = _f13(x)
    return tape.jacobian(y, x).numpy()


# --- lesson 14 -------------------------------------------------------------------------------------------

X14, T14 = np.array([1., 2., 3.]), np.array([1., 3., 2.])


def _mse(w, b):
    return tf.reduce_mean((w * X14 + b - T14) ** 2)


def _dL_dw(w, b):
    return _gradient(_mse, w, b, dtype=tf.float64)[0]


def _residuals(w, b):
    return w * X14 + b - T14


def _one_sgd_step():
    w, b = tf.Variable(0.), tf.Variable(0.)
    x, t = tf.constant([1., 2.]), tf.constant([2., 4.])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((w * x + b - t) ** 2)
    dw, _ = tape.gradient(loss, [w, b])
    w.assign_sub(dw / 10)
    return w


# --- lesson 15 -------------------------------------------------------------------------------------------

def _safe_sqrt_gradient():
    x = tf.constant([-1., 0., 4.])
    with tf.GradientTape() as tape:
        tape.watch(x)
        harmless = tf.where(x > 0, x, 1.)
        y = tf.reduce_sum(tf.where(x > 0, harmless ** 0.5, 0.))
    return tape.gradient(y, x)


def _scale(x, w):
    return x * w


# --- the bank --------------------------------------------------------------------------------------------

# --- lesson 16 -------------------------------------------------------------------------------------------

X16 = 1.0


@tf.custom_gradient
def _softplus_stopped(x):
    def grad(dy):
        return dy * tf.stop_gradient(tf.sigmoid(x))
    return tf.math.softplus(x), grad


def _second_derivative(function, at):
    x = tf.Variable(at, dtype=tf.float64)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = function(x)
        dy_dx = inner.gradient(y, x)
    return outer.gradient(dy_dx, x)


def _sigmoid_slope(at):
    s = 1 / (1 + math.exp(-at))
    return s * (1 - s)


BANK = (
    Exercise(
        1, 1, "predict", "the two partial derivatives at another point",
        "With `f(w1, w2) = 3*w1**2 + 2*w1*w2` from this lesson, predict `[df/dw1, df/dw2]` at `w1 = 2`, "
        "`w2 = -1` by hand, before a tape computes it.",
        lambda: _gradient(_lesson_1_f, W1, W2),
        "# df/dw1 = 6*w1 + 2*w2 and df/dw2 = 2*w1\nw1, w2 = 2, -1\nprediction = [6 * w1 + 2 * w2, 2 * w1]",
        names=("df/dw1", "df/dw2"),
        terms=(("6*w1 of df/dw1", lambda: [6 * W1, 0.0]), ("2*w2 of df/dw1", lambda: [2 * W2, 0.0])),
        mistakes=(("df/dw2 is 2*w1: differentiate 2*w1*w2 with w1 held fixed", lambda: [6 * W1 + 2 * W2, 2 * W2]),),
        hints=("df/dw1 = 6*w1 + 2*w2 and df/dw2 = 2*w1",),
    ),
    Exercise(
        1, 2, "derive", "a partial derivative by hand",
        "For `g(w1, w2) = w1**2 * w2 + w2**3`, write `dg/dw2` as a function of `w1` and `w2`. The grader "
        "evaluates it at several points and compares it with the tape's.",
        _dg_dw2,
        "def dg_dw2(w1, w2):\n  return w1 ** 2 + 3 * w2 ** 2",
        answer_name="dg_dw2",
        starter="# g(w1, w2) = w1**2 * w2 + w2**3: write dg/dw2 by hand\ndef dg_dw2(w1, w2):\n  return ...",
        points=((2.0, -1.0), (0.5, 3.0), (-1.5, 2.0), (3.0, 0.25)),
        arguments=("w1", "w2"),
        names=("dg/dw2",),
        terms=(("w1**2", lambda w1, w2: w1 ** 2), ("3*w2**2", lambda w1, w2: 3 * w2 ** 2)),
        mistakes=(("that is dg/dw1 = 2*w1*w2: differentiate with respect to w2, with w1 held fixed",
                   lambda w1, w2: 2 * w1 * w2),),
        hints=("w1**2 * w2 is linear in w2, and w2**3 gives 3*w2**2",),
    ),
    Exercise(
        2, 1, "predict", "one watched constant, one not",
        "The tape below watches `w` but not `a`. Predict what `tape.gradient(y, [w, a])` returns, as a list "
        "(write `None` for a missing gradient).\n\n"
        "```python\na = tf.constant(1.); b = tf.constant(2.); c = tf.constant(3.)\nw = tf.constant(-3.)\n"
        "with tf.GradientTape() as tape:\n  tape.watch(w)\n  y = a * w**2 + b * w + c\n"
        "tape.gradient(y, [w, a])\n```",
        _watched_w_only,
        "# dy/dw = 2*a*w + b; a was not watched, so its gradient is None\n"
        "a, b, w = 1, 2, -3\nprediction = [2 * a * w + b, None]",
        names=("dy/dw", "dy/da"),
        terms=(("b", lambda: [B]), ("2*a*w", lambda: [2 * A * W])),
        none_hint="w is watched, so the tape has a path from y to w: dy/dw = 2*a*w + b",
        hints=("dy/dw = 2*a*w + b",),
    ),
    Exercise(
        2, 2, "fix", "a frozen variable",
        "This function should return `dy/dw`, but it returns `None`. Fix it so that the tape follows `w`.",
        _frozen_watched,
        "def frozen_gradient():\n  w = tf.Variable(4., trainable=False)\n  with tf.GradientTape() as tape:\n"
        "    tape.watch(w)\n    y = w ** 2 + 2 * w\n  return tape.gradient(y, w)",
        answer_name="frozen_gradient",
        starter="def frozen_gradient():\n  w = tf.Variable(4., trainable=False)\n"
                "  with tf.GradientTape() as tape:\n    y = w ** 2 + 2 * w\n  return tape.gradient(y, w)",
        none_hint="a variable made with trainable=False is not watched by itself: tape.watch(w) inside the block",
        hints=("a tape follows only trainable variables by itself",),
    ),
    Exercise(
        3, 1, "predict", "the chain rule through two steps",
        "With `x = 2`, `w1 = 3`, `b1 = 1`, `w2 = -1` and `b2 = 4`, and `y1 = x*w1 + b1`, `y2 = y1*w2 + b2` "
        "as in this lesson, predict `dy2/dw1`.",
        lambda: _two_layers()[0],
        "# dy2/dw1 = dy2/dy1 * dy1/dw1 = w2 * x\nx, w2 = 2, -1\nprediction = w2 * x",
        mistakes=(("that is dy1/dw1 = x alone: the chain rule multiplies it by dy2/dy1 = w2", lambda: X3),
                  ("that is dy2/dy1 = w2 alone: the chain rule multiplies it by dy1/dw1 = x", lambda: WEIGHT2)),
        hints=("dy2/dw1 = dy2/dy1 * dy1/dw1",),
    ),
    Exercise(
        3, 2, "fix", "two gradients from one tape",
        "This function asks its tape for two gradients, and the second call fails. Fix it so that it "
        "returns `[dy2/dw1, dy2/dw2]`.",
        _two_layers,
        "def two_gradients():\n  w1, w2 = tf.constant(3.), tf.constant(-1.)\n"
        "  with tf.GradientTape(persistent=True) as tape:\n    tape.watch([w1, w2])\n    y1 = 2 * w1 + 1\n"
        "    y2 = y1 * w2 + 4\n  return [tape.gradient(y2, w1), tape.gradient(y2, w2)]",
        answer_name="two_gradients",
        starter="def two_gradients():\n  w1, w2 = tf.constant(3.), tf.constant(-1.)\n"
                "  with tf.GradientTape() as tape:\n    tape.watch([w1, w2])\n    y1 = 2 * w1 + 1\n"
                "    y2 = y1 * w2 + 4\n  return [tape.gradient(y2, w1), tape.gradient(y2, w2)]",
        names=("dy2/dw1", "dy2/dw2"),
        hints=(("a tape answers one tape.gradient call, unless it is made with persistent=True (or asked for "
                "both gradients in one call)"),),
    ),
    Exercise(
        4, 1, "fix", "numpy inside the tape",
        "This function should return the gradient of `sum(exp(x))`, which is `exp(x)`, but it returns "
        "`None`. Fix it.",
        _exp_gradient,
        "def exp_gradient():\n  x = tf.Variable([0., 1., 2.])\n  with tf.GradientTape() as tape:\n"
        "    y = tf.reduce_sum(tf.exp(x))\n  return tape.gradient(y, x)",
        answer_name="exp_gradient",
        starter="def exp_gradient():\n  x = tf.Variable([0., 1., 2.])\n  with tf.GradientTape() as tape:\n"
                "    y = tf.reduce_sum(np.exp(x))\n  return tape.gradient(y, x)",
        none_hint="np.exp computes outside TensorFlow, so the tape saw no path from x: use tf.exp",
        hints=("the tape records TensorFlow operations only",),
    ),
    Exercise(
        4, 2, "fix", "gradient descent that loses its variable",
        "Three steps of gradient descent on `x**2` from `x = 1`, with a step of a tenth of the gradient. The "
        "function should return the three gradients; fix it.",
        _descent_gradients,
        "def descent_gradients():\n  x = tf.Variable(1.)\n  gradients = []\n  for step in range(3):\n"
        "    with tf.GradientTape() as tape:\n      y = x ** 2\n    g = tape.gradient(y, x)\n"
        "    gradients.append(g)\n    x.assign_sub(g / 10)\n  return gradients",
        answer_name="descent_gradients",
        starter="def descent_gradients():\n  x = tf.Variable(1.)\n  gradients = []\n  for step in range(3):\n"
                "    with tf.GradientTape() as tape:\n      y = x ** 2\n    g = tape.gradient(y, x)\n"
                "    gradients.append(g)\n    x = x - g / 10\n  return gradients",
        names=("step 0", "step 1", "step 2"),
        none_hint="x = x - ... makes x a tensor, which the next tape does not watch: update it with x.assign_sub",
        hints=("x = x - ... makes x a tensor, which the next tape does not watch: update it with x.assign_sub",),
    ),
    Exercise(
        5, 1, "predict", "zero or None",
        "Predict `tape.gradient(y, [x, unused])`, as a list (write `None` for a missing gradient).\n\n"
        "```python\nx = tf.Variable(2.)\nunused = tf.Variable(4.)\nwith tf.GradientTape() as tape:\n"
        "  y = tf.nn.relu(x) + 0 * unused\ntape.gradient(y, [x, unused])\n```",
        _relu_and_unused,
        "# relu has slope 1 at x = 2; 0 * unused is a path, along which y does not change\n"
        "prediction = [1, 0]",
        names=("dy/dx", "dy/dunused"),
        none_hint="0 * unused is still a path from unused to y: the tape gives its derivative, zero, not None",
        hints=("relu(x) = x for x > 0",),
    ),
    Exercise(
        5, 2, "fix", "the loss one line too late",
        "This function should return `[dloss/dw, dloss/db]` for a training step, but both are `None`. Fix it.",
        _loss_gradients,
        "def loss_gradients():\n  w, b = tf.Variable(1.), tf.Variable(0.)\n  inputs = tf.constant([1., 2., 3.])\n"
        "  targets = tf.constant([2., 4., 6.])\n  with tf.GradientTape() as tape:\n"
        "    predictions = w * inputs + b\n    loss = tf.reduce_mean((predictions - targets) ** 2)\n"
        "  return tape.gradient(loss, [w, b])",
        answer_name="loss_gradients",
        starter="def loss_gradients():\n  w, b = tf.Variable(1.), tf.Variable(0.)\n"
                "  inputs = tf.constant([1., 2., 3.])\n  targets = tf.constant([2., 4., 6.])\n"
                "  with tf.GradientTape() as tape:\n    predictions = w * inputs + b\n"
                "  loss = tf.reduce_mean((predictions - targets) ** 2)\n  return tape.gradient(loss, [w, b])",
        names=("dloss/dw", "dloss/db"),
        none_hint="the loss is computed after the with block, where the tape no longer records: move it inside",
        hints=("the tape records only inside its with block",),
    ),
    Exercise(
        6, 1, "predict", "the gradient of a vector",
        "For `x = [1, 3]` and `y = [x0*x1, x0**2, 3*x1]`, predict `tape.gradient(y, x)`.",
        _vector_target,
        "# the gradient of sum(y): [x1 + 2*x0, x0 + 3]\nx0, x1 = 1, 3\nprediction = [x1 + 2 * x0, x0 + 3]",
        terms=(("d(x0*x1)/dx", lambda: [X6[1], X6[0]]), ("d(x0**2)/dx", lambda: [2 * X6[0], 0.0]),
               ("d(3*x1)/dx", lambda: [0.0, 3.0])),
        hints=("tape.gradient of a vector is the gradient of the sum of its entries",),
    ),
    Exercise(
        6, 2, "predict", "the shape of a Jacobian",
        "`z` has two entries and `W` is a matrix of three rows and four columns. Predict the shape of "
        "`tape.jacobian(z, W)`, as a list.\n\n"
        "```python\nW = tf.Variable(tf.ones([3, 4]))\nwith tf.GradientTape() as tape:\n"
        "  z = tf.linalg.matvec(W, tf.ones([4]))[:2]\ntape.jacobian(z, W).shape\n```",
        _jacobian_shape,
        "# the target's shape, then the source's\nprediction = [2, 3, 4]",
        mistakes=(("the target's axes come first, then the source's: the shape of z followed by that of W",
                   lambda: [3, 4, 2]),
                  ("that is tape.gradient's shape, the source's: the Jacobian puts the target's axes in front",
                   lambda: [3, 4])),
        hints=("the Jacobian's shape is the target's shape followed by the source's",),
    ),
    Exercise(
        7, 1, "predict", "a stopped gradient",
        "Predict `dy/dx` for `x = tf.Variable(3.)` and `y = x * tf.stop_gradient(x)`.",
        _stopped,
        "# the stopped copy of x is a constant c = 3, so y = c * x and dy/dx = c\nprediction = 3",
        mistakes=(("that is d(x**2)/dx = 2*x: tf.stop_gradient makes its copy of x a constant",
                   lambda: 2 * X7),),
        hints=("tf.stop_gradient(x) has the value of x, and the tape treats it as a constant",),
    ),
    Exercise(
        7, 2, "fix", "a tape that watches too little",
        "This function should return `dy/db`, but the tape was made with `watch_accessed_variables=False` "
        "and watches only `a`. Fix it.",
        _gradient_for_b,
        "def gradient_for_b():\n  a, b = tf.Variable(2.), tf.Variable(3.)\n"
        "  with tf.GradientTape(watch_accessed_variables=False) as tape:\n    tape.watch([a, b])\n"
        "    y = a * b ** 2\n  return tape.gradient(y, b)",
        answer_name="gradient_for_b",
        starter="def gradient_for_b():\n  a, b = tf.Variable(2.), tf.Variable(3.)\n"
                "  with tf.GradientTape(watch_accessed_variables=False) as tape:\n    tape.watch(a)\n"
                "    y = a * b ** 2\n  return tape.gradient(y, b)",
        none_hint="with watch_accessed_variables=False the tape watches only what tape.watch names: watch b too",
        hints=("dy/db = 2*a*b",),
    ),
    Exercise(
        8, 1, "predict", "a forward difference with a large step",
        "Predict the forward difference `((x + h)**3 - x**3) / h` at `x = 1` with `h = 1/10`, in float64.",
        _forward_difference_of_cube,
        "# ((1 + h)**3 - 1) / h = 3 + 3*h + h**2: f' + f''/2*h + f'''/6*h**2\nh = 1 / 10\n"
        "prediction = 3 + 3 * h + h ** 2",
        mistakes=(("that is the exact derivative 3*x**2: the forward difference adds f''/2*h and more",
                   lambda: 3 * X8 ** 2),),
        hints=("f''/2*h gives most of the error; the next Taylor term, f'''/6*h**2, gives the rest",),
    ),
    Exercise(
        8, 2, "predict", "a step below float32's resolution",
        "Predict the value of this float32 forward difference of `exp` at `1`:\n\n"
        "```python\nx = tf.constant(1., dtype=tf.float32)\nh = 10 ** -8\n"
        "(tf.exp(x + h) - tf.exp(x)) / h\n```",
        _float32_forward_difference,
        "# in float32, 1 + h rounds back to 1, so both values of exp are equal\nprediction = 0",
        mistakes=(("that is e, the exact derivative: in float32, 1 + h rounds to 1 for a step this small",
                   lambda: math.e),),
        hints=("float32 has about seven significant digits",),
    ),
    Exercise(
        9, 1, "write", "a custom gradient for swish",
        "`swish(x) = x * sigmoid(x)`. Complete its custom gradient: `grad(dy)` returns `dy` times the "
        "derivative, `sigmoid(x) * (1 + x * (1 - sigmoid(x)))`. The grader compares the value and the whole "
        "Jacobian with the tape's for `x * tf.sigmoid(x)`.",
        _swish,
        "@tf.custom_gradient\ndef swish(x):\n  s = tf.sigmoid(x)\n  def grad(dy):\n"
        "    return dy * s * (1 + x * (1 - s))\n  return x * s, grad",
        answer_name="swish",
        starter="@tf.custom_gradient\ndef swish(x):\n  s = tf.sigmoid(x)\n  def grad(dy):\n"
                "    return ...  # dy times the derivative of x * s\n  return x * s, grad",
        points=((np.array([-3., -1., 0., 2., 5.], dtype=np.float32),),),
        arguments=("x",),
        hints=("the derivative of x * sigmoid(x) is sigmoid(x) + x * sigmoid(x) * (1 - sigmoid(x))",),
    ),
    Exercise(
        9, 2, "predict", "what forgetting dy does",
        "`softplus_forgot_dy` is the planted mistake of this lesson: its `grad` returns `sigmoid(x)` and "
        "ignores `dy`. Predict what the tape gives for this `y`:\n\n"
        "```python\nx = tf.constant(0.)\nwith tf.GradientTape() as tape:\n  tape.watch(x)\n"
        "  y = 3 * softplus_forgot_dy(x)\ntape.gradient(y, x)\n```",
        _three_softplus_forgot_dy,
        "# grad ignores dy (here 3) and returns sigmoid(0)\nprediction = 1 / 2",
        mistakes=(("that is the right derivative, 3 * sigmoid(0), but this grad ignores dy, which is 3 here",
                   lambda: 3 / 2),),
        hints=("sigmoid(0) is one half",),
    ),
    Exercise(
        10, 1, "predict", "a second derivative",
        "Predict what two nested tapes give for `d2y/dx2` of `y = x**4` at `x = 2`.",
        lambda: _second_derivative_of(4, X10),
        "# d2(x**4)/dx2 = 12*x**2\nx = 2\nprediction = 12 * x ** 2",
        mistakes=(("that is the first derivative 4*x**3: the outer tape differentiates it once more",
                   lambda: 4 * X10 ** 3),),
        hints=("differentiate twice: x**4, then 4*x**3, then 12*x**2",),
    ),
    Exercise(
        10, 2, "fix", "an outer tape that saw nothing",
        "This function should return the second derivative of `x**3` at `x = 2`, but it returns `None`. Fix it.",
        lambda: _second_derivative_of(3, X10, tf.float32),
        "def second_derivative():\n  x = tf.Variable(2.)\n  with tf.GradientTape() as outer:\n"
        "    with tf.GradientTape() as inner:\n      y = x ** 3\n    dy_dx = inner.gradient(y, x)\n"
        "  return outer.gradient(dy_dx, x)",
        answer_name="second_derivative",
        starter="def second_derivative():\n  x = tf.Variable(2.)\n  with tf.GradientTape() as outer:\n"
                "    with tf.GradientTape() as inner:\n      y = x ** 3\n  dy_dx = inner.gradient(y, x)\n"
                "  return outer.gradient(dy_dx, x)",
        none_hint="the outer tape records only what runs in its block: call inner.gradient inside it",
        hints=("the outer tape must record the inner tape's gradient computation",),
    ),
    Exercise(
        11, 1, "predict", "the shape of batch_jacobian",
        "A batch of five examples of three features goes through a layer of two units: `x` has shape "
        "`[5, 3]` and `y = tf.tanh(x @ W)` has shape `[5, 2]`. Predict the shape of "
        "`tape.batch_jacobian(y, x)`, as a list.",
        _batch_jacobian_shape,
        "# batch, then the output's units, then the input's features\nprediction = [5, 2, 3]",
        mistakes=(("that is tape.jacobian's shape: batch_jacobian keeps one block per example", lambda: [5, 2, 5, 3]),
                  ("the output's axes come before the input's: batch, units, features", lambda: [5, 3, 2])),
        hints=("batch_jacobian gives one Jacobian block per example: the batch axis, then y's and x's other axes",),
    ),
    Exercise(
        11, 2, "predict", "batch_jacobian of a centred batch",
        "Each example minus the batch's mean mixes the examples. Predict the largest absolute entry of "
        "`batch_jacobian`:\n\n"
        "```python\nx = tf.constant([[1.], [2.], [4.], [8.]])\nwith tf.GradientTape() as tape:\n"
        "  tape.watch(x)\n  y = x - tf.reduce_mean(x, axis=0)\nJ = tape.batch_jacobian(y, x)\n"
        "float(tf.reduce_max(tf.abs(J)))\n```",
        _centred_batch_jacobian,
        "# batch_jacobian adds the blocks over the batch: 1 - 4 * (1/4) = 0\nprediction = 0",
        mistakes=((("that is a diagonal entry of the full Jacobian, 1 - 1/4: batch_jacobian adds up the "
                    "blocks over the batch"), lambda: 3 / 4),),
        hints=("batch_jacobian differentiates sum(y[:, k]) over the whole batch",),
    ),
    Exercise(
        12, 1, "predict", "the traced product rule",
        "Predict the gradient the traced function below returns at `x = 0`.\n\n"
        "```python\n@tf.function\ndef gradient_of(x):\n  with tf.GradientTape() as tape:\n    tape.watch(x)\n"
        "    y = tf.exp(x) * x\n  return tape.gradient(y, x)\n```",
        lambda: _traced_exp_times_x(tf.constant(0.)),
        "# the product rule: exp(x)*x + exp(x), at 0\nprediction = 0 + 1",
        terms=(("exp(x) (from the derivative of x)", lambda: 1.0),),
        hints=("d(exp(x)*x)/dx = exp(x)*x + exp(x)",),
    ),
    Exercise(
        12, 2, "derive", "the product rule by hand",
        "For `y = sin(x) * x**2`, write `dy/dx` as a function of `x` (with `tf.sin` and `tf.cos`). "
        "The grader compares it with the tape's at several points.",
        _derivative_of_sin_x_squared,
        "def derivative(x):\n  return tf.cos(x) * x ** 2 + 2 * x * tf.sin(x)",
        answer_name="derivative",
        starter="# y = sin(x) * x**2: write dy/dx by hand\ndef derivative(x):\n  return ...",
        points=((0.3,), (1.0,), (-2.0,), (2.5,)),
        arguments=("x",),
        names=("dy/dx",),
        terms=(("cos(x)*x**2", lambda x: np.cos(x) * x ** 2), ("2*x*sin(x)", lambda x: 2 * x * np.sin(x))),
        hints=("the product rule: d(u*v) = du*v + u*dv",),
    ),
    Exercise(
        13, 1, "predict", "a Jacobian-vector product",
        "For `f(x) = [x0*x1, x0 + x1]` at `x = [2, 3]`, predict the JVP that "
        "`tf.autodiff.ForwardAccumulator` gives along `u = [1, 0]`.",
        _jvp,
        "# J = [[x1, x0], [1, 1]]; J @ u is its first column\nx0, x1 = 2, 3\nprediction = [x1, 1]",
        mistakes=(("that is a row of J (v @ J with v = u): forward mode gives J @ u, a column",
                   lambda: _jacobian13()[0]),),
        hints=("J = [[x1, x0], [1, 1]], and J @ u picks a column",),
    ),
    Exercise(
        13, 2, "predict", "a vector-Jacobian product",
        "For the same `f` and `x`, predict `tape.gradient(y, x, output_gradients=v)` with `v = [1, -1]`.",
        _vjp,
        "# v @ J = 1 * [x1, x0] - 1 * [1, 1]\nx0, x1 = 2, 3\nprediction = [x1 - 1, x0 - 1]",
        mistakes=(("that is J @ v: reverse mode gives v @ J, a weighted sum of J's rows",
                   lambda: _jacobian13() @ np.array([1., -1.])),),
        hints=("v @ J weighs row i of J by v[i] and adds the rows",),
    ),
    Exercise(
        14, 1, "derive", "the gradient of a mean squared error",
        "For the data in the cell and `L(w, b) = mean((w*x + b - t)**2)`, write `dL/dw` as a function of "
        "`w` and `b`.",
        _dL_dw,
        "x_data = np.array([1., 2., 3.])\nt_data = np.array([1., 3., 2.])\n\ndef dL_dw(w, b):\n"
        "  residual = w * x_data + b - t_data\n  return 2 * np.mean(residual * x_data)",
        answer_name="dL_dw",
        starter="# L(w, b) = mean((w*x + b - t)**2) over this data\nx_data = np.array([1., 2., 3.])\n"
                "t_data = np.array([1., 3., 2.])\n\ndef dL_dw(w, b):\n  return ...",
        points=((0.0, 0.0), (1.0, -1.0), (2.0, 0.5), (-1.0, 3.0)),
        arguments=("w", "b"),
        names=("dL/dw",),
        mistakes=(("that is dL/db = 2*mean(r): dL/dw weighs each residual r by its x",
                   lambda w, b: 2 * np.mean(_residuals(w, b))),),
        hints=("the chain rule: d(r**2)/dw = 2*r * dr/dw, and dr/dw = x",),
    ),
    Exercise(
        14, 2, "predict", "one step of gradient descent",
        "Predict `w` after one step `w - dL/dw / 10` from `w = b = 0`:\n\n"
        "```python\nw, b = tf.Variable(0.), tf.Variable(0.)\nx = tf.constant([1., 2.])\n"
        "t = tf.constant([2., 4.])\nwith tf.GradientTape() as tape:\n"
        "  loss = tf.reduce_mean((w * x + b - t) ** 2)\ndw, db = tape.gradient(loss, [w, b])\n"
        "w.assign_sub(dw / 10)\n```",
        _one_sgd_step,
        "# dL/dw = 2 * mean((0 - t) * x) = 2 * mean([-2, -8]) = -10\nprediction = 0 - (-10) / 10",
        mistakes=(("that is dL/dw itself: the step moves w by a tenth of it", lambda: -10.0),),
        hints=("dL/dw = 2 * mean((w*x + b - t) * x)",),
    ),
    Exercise(
        15, 1, "fix", "a NaN from the branch tf.where did not take",
        "This function should return the gradient of the guarded square root, `1/(2*sqrt(x))` where "
        "`x > 0` and zero elsewhere. It returns NaN; fix it.",
        _safe_sqrt_gradient,
        "def sqrt_gradient():\n  x = tf.constant([-1., 0., 4.])\n  with tf.GradientTape() as tape:\n"
        "    tape.watch(x)\n    harmless = tf.where(x > 0, x, 1.)\n"
        "    y = tf.reduce_sum(tf.where(x > 0, harmless ** 0.5, 0.))\n  return tape.gradient(y, x)",
        answer_name="sqrt_gradient",
        starter="def sqrt_gradient():\n  x = tf.constant([-1., 0., 4.])\n  with tf.GradientTape() as tape:\n"
                "    tape.watch(x)\n    y = tf.reduce_sum(tf.where(x > 0, x ** 0.5, 0.))\n"
                "  return tape.gradient(y, x)",
        hints=("give the power a harmless input where the branch is not taken: tf.where(x > 0, x, 1.)",),
    ),
    Exercise(
        15, 2, "write", "the scale layer's gradient",
        "`scale(x, w) = x * w` scales a batch `x` (one row per example) by one weight per feature. Complete "
        "its custom gradient: `grad(dy)` returns the gradient for `x` and the one for `w`. The grader compares "
        "the whole Jacobian for both with the tape's.",
        _scale,
        "@tf.custom_gradient\ndef scale(x, w):\n  def grad(dy):\n"
        "    return dy * w, tf.reduce_sum(dy * x, axis=0)\n  return x * w, grad",
        answer_name="scale",
        starter="@tf.custom_gradient\ndef scale(x, w):\n  def grad(dy):\n"
                "    return dy * w, ...  # the gradient for w\n  return x * w, grad",
        points=((np.array([[1., -2., 3.], [4., 5., -6.]]), np.array([2., -1., 3.])),),
        arguments=("x", "w"),
        hints=("w multiplies every row of x, so its gradient adds dy * x over the batch",),
    ),
    Exercise(
        16, 1, "predict", "the second derivative of softplus",
        "Predict `d2/dx2 softplus(x)` at `x = 0`, where `softplus(x) = log(1 + exp(x))` and its first "
        "derivative is `sigmoid(x)`.",
        lambda: _second_derivative(tf.math.softplus, 0.0),
        "# the derivative of sigmoid is sigmoid * (1 - sigmoid), and sigmoid(0) = 1/2\n"
        "prediction = 0.5 * (1 - 0.5)",
        mistakes=(("that is the first derivative, sigmoid(0): differentiate once more", lambda: 0.5),
                  ("that is what the stop_gradient version's nested tape gives: the true second derivative is "
                   "sigmoid(x) * (1 - sigmoid(x))", lambda: 0.0)),
        hints=("d/dx sigmoid(x) = sigmoid(x) * (1 - sigmoid(x))",),
    ),
    Exercise(
        16, 2, "predict", "what the nested tape sees",
        "With the first `softplus` of this lesson, whose custom gradient computes its slope under "
        "`tf.stop_gradient`, predict what two nested tapes give for `d2/dx2 softplus(x)` at `x = 1`: a "
        "number, or `None`.",
        lambda: _second_derivative(_softplus_stopped, X16),
        "# the outer tape records nothing from x to the slope: tape.gradient returns None\nprediction = None",
        mistakes=(("that is the true second derivative; under tf.stop_gradient the outer tape recorded no path "
                   "from x to the slope", lambda: _sigmoid_slope(X16)),),
        hints=("tf.stop_gradient hides its input from every tape that watches it",),
    ),
)
