"""Non-scalar targets are sums

The gradient of a vector, or of a list of targets, is the gradient of their sum; tape.jacobian keeps each entry.
"""

# %% [markdown]
# A gradient belongs to a single number. Ask a tape for the gradient of a *vector* `y` and it
# returns the gradient of `sum(y)`: one value per entry of the source, with the contributions of
# all the entries of `y` added up. The full table of derivatives `dy[i]/dx[j]` is the *Jacobian*,
# and `tape.jacobian` computes it.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import numpy as np
import tensorflow as tf

# %% [markdown]
# ## A vector target
#
# Three outputs from two inputs:

# %%
def f(x):
  return tf.stack([x[0] * x[1], tf.sin(x[0]), x[1] ** 2])

x = tf.Variable([1.0, 2.0])
with tf.GradientTape(persistent=True) as tape:
  y = f(x)
gradient = tape.gradient(y, x)
jacobian = tape.jacobian(y, x)
print("y:", y.numpy(), "shape", tuple(y.shape))
print("tape.gradient(y, x):", gradient.numpy(),
      "shape", tuple(gradient.shape))
print("tape.jacobian(y, x), shape", tuple(jacobian.shape))
print(jacobian.numpy())

# %% [markdown]
# The Jacobian has the target's shape followed by the source's: row `i` is the gradient of `y[i]`.
# By hand it is `[[x1, x0], [cos(x0), 0], [0, 2*x1]]`. `gradlab.numeric_gradient` estimates the
# same table by finite differences, in the same layout:

# %%
numeric = gradlab.numeric_gradient(f, x)
print("numeric Jacobian, shape", numeric.value[0].shape)
print(np.round(numeric.value[0], 6))

# %%
by_hand = tf.stack([[x[1], x[0]],
                    [tf.cos(x[0]), 0.0],
                    [0.0, 2 * x[1]]])
gap = np.abs(jacobian.numpy() - numeric.value[0])
gap_by_hand = np.abs(jacobian.numpy() - by_hand.numpy())
inside = bool(np.all(gap <= numeric.error[0]))
where = "inside" if inside else "outside"
print(f"tape vs finite differences: at most {gap.max():.1e} apart,")
print(f"  {where} the estimate's own error bars "
      f"(the widest: {numeric.error[0].max():.1e})")
print(f"tape vs by hand: at most {gap_by_hand.max():.1e} apart")

# %% [markdown]
# The same comparison as pictures: the tape's Jacobian, the finite-difference one, and their
# difference on its own scale, which shows where the two disagree and by how little:

# %%
gradlab.matrix_maps(jacobian, numeric.value[0], "the Jacobian of f at x")

# %% [markdown]
# `gradlab.check` makes that comparison entry by entry and judges it. It names an entry of the
# Jacobian by the target's index followed by the source's: `x[2, 1]` is `dy[2]/dx[1]`.

# %%
gradlab.check(f, x)

# %% [markdown]
# ## The gradient is the Jacobian summed over the target
#
# Adding up the rows of the Jacobian (the target's axis) gives what `tape.gradient` returned:

# %%
summed = tf.reduce_sum(jacobian, axis=0)
difference = float(tf.reduce_max(tf.abs(summed - gradient)))
print("Jacobian summed over y:", summed.numpy())
print("tape.gradient(y, x):   ", gradient.numpy())
print(f"largest difference: {difference:g}")

# %% [markdown]
# So the gradient of `y` is the derivative of `sum(y)`, and finite differences of that sum agree:

# %%
def total(x):
  return tf.reduce_sum(f(x))

gradlab.compare(total, x, tape=[gradient], names=["grad"])

# %% [markdown]
# The sum is a weighted sum with every weight one. `output_gradients` sets other weights `v`; the
# result is `v` times the Jacobian, the vector-Jacobian product that backpropagation computes:

# %%
v = tf.constant([1.0, -2.0, 0.5])
weighted = tape.gradient(y, x, output_gradients=v)
product = tf.linalg.matvec(jacobian, v, transpose_a=True)
print("tape.gradient(y, x, output_gradients=v):", weighted.numpy())
print("v times the Jacobian:                   ", product.numpy())
del tape

# %% [markdown]
# ## A list of targets
#
# A list of targets is summed the same way: the gradient of `[loss_a, loss_b]` is the gradient of
# `loss_a + loss_b`.

# %%
with tf.GradientTape(persistent=True) as tape:
  loss_a = x[0] * x[1]
  loss_b = tf.reduce_sum(x ** 2)
both = tape.gradient([loss_a, loss_b], x)
separate = tape.gradient(loss_a, x) + tape.gradient(loss_b, x)
del tape
print("gradient of [loss_a, loss_b]:", both.numpy())
print("sum of the two gradients:    ", separate.numpy())

# %%
gradlab.compare(lambda x: x[0] * x[1] + tf.reduce_sum(x ** 2), x,
                tape=[both], names=["grad"])

# %% [markdown]
# ## Matrices
#
# Shapes add up the same way for any rank. A target of two entries and a source of two by three
# entries give a Jacobian of shape two by two by three, and summing over the target's axis leaves
# the source's shape:

# %%
def layer(W):
  return tf.tanh(tf.linalg.matvec(W, tf.constant([1.0, -1.0, 0.5])))

W = tf.Variable([[0.1, 0.2, 0.3], [-0.4, 0.5, -0.6]])
with tf.GradientTape(persistent=True) as tape:
  z = layer(W)
dz_dW = tape.gradient(z, W)
jacobian_W = tape.jacobian(z, W)
del tape
print("z:", tuple(z.shape), " W:", tuple(W.shape),
      " Jacobian:", tuple(jacobian_W.shape))
gap = tf.reduce_max(tf.abs(tf.reduce_sum(jacobian_W, axis=0) - dz_dW))
print(f"Jacobian summed over z minus the gradient: at most {float(gap):g}")

# %% [markdown]
# `gradlab.check` compares every entry of that Jacobian with finite differences:

# %%
gradlab.check(layer, W, names=["W"])

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: the gradient of a vector
#
# For `x = [1, 3]` and `y = [x0*x1, x0**2, 3*x1]`, predict `tape.gradient(y, x)`.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(6, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: the shape of a Jacobian
#
# `z` has two entries and `W` is a matrix of three rows and four columns. Predict the shape of
# `tape.jacobian(z, W)`, as a list.
#
# ```python
# W = tf.Variable(tf.ones([3, 4]))
# with tf.GradientTape() as tape:
#   z = tf.linalg.matvec(W, tf.ones([4]))[:2]
# tape.jacobian(z, W).shape
# ```

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(6, 2).check(prediction)
