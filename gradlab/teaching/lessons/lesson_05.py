"""Zeros instead of None

When None should count as zero: unconnected_gradients, and the optimizer's "No gradients provided" error.
"""

# %% [markdown]
# A gradient of `None` means the tape found *no path* from the source to the target. A gradient of
# zero means there is a path, and along it the target does not change. The difference matters when
# the gradients go on to an optimizer, which needs a number for every variable it updates.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import warnings

import keras
import tensorflow as tf

from gradlab import why_none

# %% [markdown]
# ## None and zero are different answers
#
# `relu` is flat for negative inputs, so its derivative there is zero, and the tape says so. A
# variable the target never uses has no path at all, and the tape says `None`:

# %%
x = tf.Variable(-1.5, name="x")
unused = tf.Variable(4.0, name="unused")
with tf.GradientTape() as tape:
  y = tf.nn.relu(x)
dy_dx, dy_dunused = tape.gradient(y, [x, unused])
print("dy/dx:     ", dy_dx)
print("dy/dunused:", dy_dunused)

# %% [markdown]
# The zero is a real derivative, and finite differences agree with it:

# %%
gradlab.compare(tf.nn.relu, x, tape=[dy_dx], analytic=[0.0],
                names=["dy/dx"])

# %% [markdown]
# ## Asking the tape for zeros
#
# `tape.gradient` takes `unconnected_gradients=tf.UnconnectedGradients.ZERO` to return zeros, in the
# shape of each source, wherever it would return `None`:

# %%
with tf.GradientTape() as tape:
  y = tf.nn.relu(x)
zero_grads = tape.gradient(
    y, [x, unused], unconnected_gradients=tf.UnconnectedGradients.ZERO)
print("dy/dx:     ", zero_grads[0])
print("dy/dunused:", zero_grads[1])

# %% [markdown]
# Only ask for zeros where `None` is expected, like a variable that only some inputs use. A `None`
# you did not expect is a bug (lesson 4 shows the usual ones), and zeros would hide it.
#
# ## "No gradients provided for any variable"
#
# A training step computes the loss under a tape and hands the gradients to an optimizer. Here the
# loss is computed one line too late, after the `with` block, where the tape no longer records:

# %%
w = tf.Variable(0.5, name="w")
b = tf.Variable(0.0, name="b")
inputs = tf.constant([1.0, 2.0, 3.0])
targets = tf.constant([2.0, 4.0, 6.0])

with tf.GradientTape() as tape:
  predictions = w * inputs + b
loss = tf.reduce_mean((predictions - targets) ** 2)  # outside the tape
late = why_none(tape, loss, [w, b], names=["w", "b"])
late

# %% [markdown]
# Every gradient is `None`, and a Keras optimizer refuses to take the step:

# %%
optimizer = keras.optimizers.SGD(learning_rate=0.1)
try:
  optimizer.apply_gradients(zip(late.gradients, [w, b]))
except ValueError as error:
  print("ValueError:", error)

# %% [markdown]
# The fix moves the loss into the `with` block. The step then goes through, and the gradients it
# used agree with finite differences of the same loss:

# %%
def mean_squared_error(w, b):
  return tf.reduce_mean((w * inputs + b - targets) ** 2)

with tf.GradientTape() as tape:
  loss = mean_squared_error(w, b)
grads = tape.gradient(loss, [w, b])
comparison = gradlab.compare(mean_squared_error, w, b, tape=grads,
                             names=["dloss/dw", "dloss/db"])
optimizer.apply_gradients(zip(grads, [w, b]))
print(f"after one step: w = {float(w):.4f}, b = {float(b):.4f}")
comparison

# %% [markdown]
# ## Some gradients None
#
# When only *some* gradients are `None`, Keras skips those variables and warns. Here a model has
# a variable that this loss does not use, `unused` from above:

# %%
with tf.GradientTape() as tape:
  loss = mean_squared_error(w, b)
grads = tape.gradient(loss, [w, b, unused])
print("gradients:", [None if g is None else float(g) for g in grads])

optimizer = keras.optimizers.SGD(learning_rate=0.1)
with warnings.catch_warnings(record=True) as caught:
  warnings.simplefilter("always")
  optimizer.apply_gradients(zip(grads, [w, b, unused]))
for warning in caught:
  print(f"{warning.category.__name__}: {warning.message}")

# %% [markdown]
# With `unconnected_gradients=ZERO` every variable gets a number: no warning, and a zero step for
# `unused`:

# %%
with tf.GradientTape() as tape:
  loss = mean_squared_error(w, b)
grads = tape.gradient(loss, [w, b, unused],
                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
before = float(unused)
optimizer = keras.optimizers.SGD(learning_rate=0.1)
with warnings.catch_warnings(record=True) as caught:
  warnings.simplefilter("always")
  optimizer.apply_gradients(zip(grads, [w, b, unused]))
print(f"warnings: {len(caught)}")
print(f"unused: {before} before the step, {float(unused)} after")

# %% [markdown]
# ## The checker's view
#
# `gradlab.check` treats `None` the way the tape does: as a failure, with the cause named, since
# finite differences cannot tell "no path" from "zero derivative":

# %%
def loss_of_variables():
  return mean_squared_error(w, b)

strict = gradlab.check(loss_of_variables, variables=[w, b, unused])
strict

# %% [markdown]
# With `unconnected="zero"`, a `None` counts as zeros, the same choice as
# `tf.UnconnectedGradients.ZERO`, and is compared against the finite differences like any other
# gradient:

# %%
lenient = gradlab.check(loss_of_variables, variables=[w, b, unused],
                        unconnected="zero")
lenient

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: zero or None
#
# Predict `tape.gradient(y, [x, unused])`, as a list (write `None` for a missing gradient).
#
# ```python
# x = tf.Variable(2.)
# unused = tf.Variable(4.)
# with tf.GradientTape() as tape:
#   y = tf.nn.relu(x) + 0 * unused
# tape.gradient(y, [x, unused])
# ```

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(5, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: the loss one line too late
#
# This function should return `[dloss/dw, dloss/db]` for a training step, but both are `None`. Fix
# it.

# %%
def loss_gradients():
  w, b = tf.Variable(1.), tf.Variable(0.)
  inputs = tf.constant([1., 2., 3.])
  targets = tf.constant([2., 4., 6.])
  with tf.GradientTape() as tape:
    predictions = w * inputs + b
  loss = tf.reduce_mean((predictions - targets) ** 2)
  return tape.gradient(loss, [w, b])

gradlab.exercise(5, 2).check(loss_gradients)
