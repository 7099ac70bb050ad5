"""Second derivatives and consistency

A custom gradient can be right once and wrong twice: check(order=2) catches it; forward mode, tf.function and XLA must give the same gradient.
"""

# %% [markdown]
# `gradlab.check` compares the tape's first derivatives with finite differences. A custom
# gradient can pass that check and still be wrong for anything that differentiates it again: a
# Hessian, a Newton step, a gradient penalty. And the same gradient can come out differently in
# forward mode, under `tf.function` or compiled by XLA. This lesson checks each of those.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import numpy as np
import tensorflow as tf

# %% [markdown]
# ## A custom gradient that is right once and wrong twice
#
# The derivative of `softplus(x) = log(1 + exp(x))` is `sigmoid(x)`. This custom gradient returns
# exactly that, but computes the slope under `tf.stop_gradient`, as code often does to save
# memory or to reuse a value computed elsewhere. Its value is right; its own derivative, which a
# second tape would take, is lost.

# %%
@tf.custom_gradient
def softplus(x):
  def grad(dy):
    slope = tf.stop_gradient(tf.sigmoid(x))
    return dy * slope
  return tf.math.softplus(x), grad

def loss(x):
  return tf.reduce_sum(softplus(x))

x = tf.constant(np.linspace(-2.0, 2.0, 5))
first = gradlab.check(loss, x)
first

# %% [markdown]
# The first derivative passes. `order=2` checks the second: the Hessian from two nested tapes
# against finite differences of the tape's gradient.

# %%
second = gradlab.check(loss, x, order=2)
second

# %% [markdown]
# Every diagonal entry fails: the nested tape gives zero where the second derivative of softplus,
# `sigmoid(x) * (1 - sigmoid(x))`, is not. The fix is to compute the slope where the tape sees it:

# %%
@tf.custom_gradient
def softplus_fixed(x):
  def grad(dy):
    return dy * tf.sigmoid(x)
  return tf.math.softplus(x), grad

def loss_fixed(x):
  return tf.reduce_sum(softplus_fixed(x))

second_fixed = gradlab.check(loss_fixed, x, order=2)
second_fixed

# %% [markdown]
# The Hessian the check compared, beside finite differences of the gradient and the exact
# `diag(sigmoid(x) * (1 - sigmoid(x)))`:

# %%
def gradient(x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = loss_fixed(x)
  return tape.gradient(y, x)

s = tf.sigmoid(x).numpy()
exact = np.diag(s * (1 - s))
hessian = second_fixed.tape[0].reshape(exact.shape)
gradlab.compare(gradient, x, tape=[hessian], analytic=[exact], names=["H"])

# %% [markdown]
# ## Forward mode gives the same gradient
#
# `modes=("rev", "fwd")` also computes the Jacobian with `tf.autodiff.ForwardAccumulator` (one
# Jacobian-vector product per input entry), compares it with finite differences, and compares
# the two modes with each other. The report has a row per mode.

# %%
gradlab.check(softplus_fixed, x, modes=("rev", "fwd"))

# %% [markdown]
# ## The same gradient under tf.function and XLA
#
# `gradlab.consistency` computes the tape's gradient in eager mode, under `tf.function` and
# compiled by XLA (`jit_compile=True`), on every device TensorFlow sees (a GPU too, where there
# is one), and compares each with the others and with finite differences:

# %%
gradlab.consistency(loss_fixed, x)

# %% [markdown]
# The three agree here. To see what a disagreement looks like, the next function is *planted*:
# its custom gradient is one percent off, but only when it is traced, which
# `tf.executing_eagerly()` tells apart. A real case reads the same way: an XLA kernel that
# rounds differently, or a GPU's TF32 matrix products in float32.

# %%
@tf.custom_gradient
def planted_sin(x):
  def grad(dy):
    scale = 1.0 if tf.executing_eagerly() else 1.01
    return dy * scale * tf.cos(x)
  return tf.sin(x), grad

mixed = gradlab.consistency(lambda x: tf.reduce_sum(planted_sin(x)), x)
mixed

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: the second derivative of softplus
#
# Predict `d2/dx2 softplus(x)` at `x = 0`, where `softplus(x) = log(1 + exp(x))` and its first
# derivative is `sigmoid(x)`.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(16, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: what the nested tape sees
#
# With the first `softplus` of this lesson, whose custom gradient computes its slope under
# `tf.stop_gradient`, predict what two nested tapes give for `d2/dx2 softplus(x)` at `x = 1`: a
# number, or `None`.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(16, 2).check(prediction)
