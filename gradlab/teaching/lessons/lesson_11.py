"""batch_jacobian and the batch trap

batch_jacobian keeps the per-example blocks of a Jacobian; when examples interact it is silently wrong.
"""

# %% [markdown]
# ## Jacobians of a batch
#
# A layer maps a batch of examples `x` (batch × features) to outputs `y` (batch × units).
# `tape.jacobian(y, x)` differentiates every output against every input: its shape is
# batch × units × batch × features, one block `J[b, :, c, :]` for each pair of examples `b`, `c`.
# When each example goes through the layer on its own, only the diagonal blocks (`b == c`) can be
# nonzero, and `tape.batch_jacobian(y, x)` computes just those: batch × units × features.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import keras
import numpy as np
import tensorflow as tf

# %%
rng = np.random.default_rng(0)
x = tf.constant(rng.standard_normal((4, 3)))  # 4 examples, 3 features
W = tf.constant(rng.standard_normal((3, 2)))

def dense(x):
  return tf.tanh(x @ W)

with tf.GradientTape(persistent=True) as tape:
  tape.watch(x)
  y = dense(x)
jacobian = tape.jacobian(y, x)
per_example = tape.batch_jacobian(y, x)
del tape
print("jacobian:", jacobian.shape)
print("batch_jacobian:", per_example.shape)

# %% [markdown]
# Two small helpers take a full Jacobian apart: the diagonal blocks, in the layout
# `batch_jacobian` uses, and everything else.

# %%
def diagonal_blocks(J):
  return np.stack([J[b, :, b, :] for b in range(J.shape[0])])

def off_diagonal_blocks(J):
  rest = np.array(J)
  for b in range(rest.shape[0]):
    rest[b, :, b, :] = 0
  return rest

J = jacobian.numpy()
gap = np.abs(per_example.numpy() - diagonal_blocks(J)).max()
print(f"largest |batch_jacobian - diagonal blocks|: {gap:.1e}")
off = np.abs(off_diagonal_blocks(J)).max()
print(f"largest off-diagonal entry: {off:.1e}")

# %% [markdown]
# The full Jacobian against finite differences, every entry of every block:

# %%
gradlab.compare(dense, x, tape=[jacobian], names=["dy/dx"])

# %% [markdown]
# Drawn as a matrix, outputs down and inputs across, the Jacobian is block diagonal: one block
# per example, zeros elsewhere. Those blocks are what `batch_jacobian` keeps.

# %%
numeric_jacobian = gradlab.numeric_gradient(dense, x).value[0]
gradlab.matrix_maps(jacobian, numeric_jacobian, "dy/dx, examples in blocks")

# %% [markdown]
# ## Batch normalisation mixes the examples
#
# In training mode, `BatchNormalization` subtracts each feature's mean over the batch and divides
# by its standard deviation over the batch. Every output then depends on every example, so the
# off-diagonal blocks are not zero, and `batch_jacobian` has no way to know.

# %%
norm = keras.layers.BatchNormalization(dtype="float64")

def normalise(x):
  return norm(x, training=True)

with tf.GradientTape(persistent=True) as tape:
  tape.watch(x)
  z = normalise(x)
bn_jacobian = tape.jacobian(z, x)
bn_per_example = tape.batch_jacobian(z, x)
del tape
bn_J = bn_jacobian.numpy()
print(f"largest off-diagonal entry of jacobian: "
      f"{np.abs(off_diagonal_blocks(bn_J)).max():.3f}")
print(f"largest diagonal entry of jacobian: "
      f"{np.abs(diagonal_blocks(bn_J)).max():.3f}")
print(f"largest entry of batch_jacobian: "
      f"{np.abs(bn_per_example.numpy()).max():.3f}")

# %% [markdown]
# `batch_jacobian` ran without a warning and says the output does not depend on the input at all.
# The full Jacobian agrees with finite differences:

# %%
gradlab.compare(normalise, x, tape=[bn_jacobian], names=["dz/dx"])

# %% [markdown]
# The per-example Jacobians that `batch_jacobian` promises are the diagonal blocks, and the
# numeric estimate shows they are far from zero:

# %%
numeric = gradlab.numeric_gradient(normalise, x).value[0]
missed = np.abs(diagonal_blocks(numeric) - bn_per_example.numpy()).max()
print(f"largest |numeric diagonal blocks - batch_jacobian|: {missed:.3f}")

# %% [markdown]
# ## What `batch_jacobian` computes
#
# It differentiates each output unit summed over the batch, `sum(y[:, k])`, with respect to the
# whole batch of inputs. For independent examples only one term of that sum depends on example
# `c`, so the result is the diagonal block. In general it is the *sum of the blocks* over the
# output examples: `sum over b of J[b, :, c, :]`. Normalised outputs have zero mean over the
# batch whatever the inputs, so that sum is zero.

# %%
# sum over b, then order the axes as (c, unit, feature)
summed = bn_J.sum(axis=0).transpose(1, 0, 2)
gap = np.abs(bn_per_example.numpy() - summed).max()
print(f"largest |batch_jacobian - blocks summed over the batch|: {gap:.1e}")

# %% [markdown]
# In inference mode (`training=False`) the layer uses its moving averages instead of batch
# statistics, the examples are independent again, and `batch_jacobian` is right:

# %%
with tf.GradientTape(persistent=True) as tape:
  tape.watch(x)
  z_inference = norm(x, training=False)
inference_J = tape.jacobian(z_inference, x).numpy()
inference_per_example = tape.batch_jacobian(z_inference, x).numpy()
del tape
gap = np.abs(inference_per_example - diagonal_blocks(inference_J)).max()
off = np.abs(off_diagonal_blocks(inference_J)).max()
print(f"largest off-diagonal entry: {off:.1e}")
print(f"largest |batch_jacobian - diagonal blocks|: {gap:.1e}")

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: the shape of batch_jacobian
#
# A batch of five examples of three features goes through a layer of two units: `x` has shape `[5,
# 3]` and `y = tf.tanh(x @ W)` has shape `[5, 2]`. Predict the shape of `tape.batch_jacobian(y,
# x)`, as a list.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(11, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: batch_jacobian of a centred batch
#
# Each example minus the batch's mean mixes the examples. Predict the largest absolute entry of
# `batch_jacobian`:
#
# ```python
# x = tf.constant([[1.], [2.], [4.], [8.]])
# with tf.GradientTape() as tape:
#   tape.watch(x)
#   y = x - tf.reduce_mean(x, axis=0)
# J = tape.batch_jacobian(y, x)
# float(tf.reduce_max(tf.abs(J)))
# ```

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(11, 2).check(prediction)
