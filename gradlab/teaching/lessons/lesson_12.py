"""Looking inside a traced gradient

Trace a function and its gradient with tf.function, and see the forward ops and the ops tape.gradient adds.
"""

# %% [markdown]
# ## Tracing with `tf.function`
#
# `tf.function` runs the Python function once with symbolic tensors and records every operation
# in a graph. When the function asks a tape for a gradient, the operations that compute the
# gradient are recorded as well, so the graph holds both passes of reverse-mode differentiation.

# %%
from collections import Counter

import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import tensorflow as tf

# %%
@tf.function
def value_and_gradient(x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.sin(x) * x
  return y, tape.gradient(y, x)

concrete = value_and_gradient.get_concrete_function(
    tf.TensorSpec(shape=[], dtype=tf.float64))
for op in concrete.graph.get_operations():
  print(f"{op.name:28} {op.type}")

# %% [markdown]
# The ops that `tape.gradient` adds are created under the name scope `gradient_tape/`, except
# for a few around it: `ones` seeds the backward pass with `dy/dy = 1`, and `AddN` adds up the
# contributions of the two paths from `x` to `y`. `op_graph` sorts the ops into inputs, forward
# ops, backward ops and outputs, and shows which ops each one reads:

# %%
graph = gradlab.op_graph(concrete.graph, "value_and_gradient")
graph

# %% [markdown]
# Read the backward branch against the product rule, `d(sin(x)*x)/dx = cos(x)*x + sin(x)`: one
# `Mul` multiplies `dy` by `x` and then by `Cos`, the gradient of `Sin`; the other multiplies `dy`
# by `Sin`; `AddN` adds the two. The unused `Shape` constants are there for broadcasting, which
# these scalars do not need.

# %%
print(f"{len(graph.forward)} forward ops: "
      f"{', '.join(op.type for op in graph.forward)}")
print(f"{len(graph.backward)} backward ops: "
      f"{', '.join(op.type for op in graph.backward)}")

# %% [markdown]
# ## The graph computes the gradient the tape promised
#
# Calling the traced function runs the graph. Its gradient against a numeric estimate and the
# product rule:

# %%
x = tf.constant(0.7, dtype=tf.float64)
value, grad = value_and_gradient(x)
gradlab.compare(lambda x: tf.sin(x) * x, x, tape=[grad],
                analytic=[tf.cos(x) * x + tf.sin(x)], names=["dy/dx"])

# %% [markdown]
# ## A picture of the graph
#
# The same ops drawn in columns: an op's column is the length of the longest chain of ops before
# it. Forward ops are blue, backward ops red. (In the terminal, only a description of the figure
# is shown; the notebook draws it.)

# %%
graph.plot()

# %% [markdown]
# ## A dense layer
#
# The backward pass mirrors the forward one, op by op: `TanhGrad` is the gradient of `Tanh`; the
# sum's gradient copies `dy` back to the shape of its input (`Reshape`, `Tile`); `b` was added to
# every example, so its gradient sums over the batch (`Sum`); and the gradient for `w` is one more
# matrix product, `x` transposed times the gradient that reached `x @ w`. No op computes a
# gradient for `x`: the tape does not watch it.

# %%
@tf.function
def loss_and_gradients(x, w, b):
  with tf.GradientTape() as tape:
    tape.watch([w, b])
    loss = tf.reduce_sum(tf.tanh(x @ w + b) ** 2)
  return loss, tape.gradient(loss, [w, b])

spec = tf.TensorSpec
layer_graph = gradlab.op_graph(loss_and_gradients.get_concrete_function(
    spec([5, 3], tf.float64), spec([3, 2], tf.float64),
    spec([2], tf.float64)).graph, "loss_and_gradients")
for part in ("forward", "backward"):
  counts = Counter(op.type for op in layer_graph.part(part))
  print(f"{part}, {sum(counts.values())} ops:")
  print("  " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())))

# %% [markdown]
# And its gradients against finite differences:

# %%
x_batch = tf.reshape(tf.range(15, dtype=tf.float64), [5, 3]) / 10 - 0.7
w = tf.constant([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], dtype=tf.float64)
b = tf.constant([0.1, -0.1], dtype=tf.float64)
loss, (dw, db) = loss_and_gradients(x_batch, w, b)
gradlab.compare(
    lambda w, b: tf.reduce_sum(tf.tanh(x_batch @ w + b) ** 2), w, b,
    tape=[dw, db], names=["dloss/dw", "dloss/db"])

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: the traced product rule
#
# Predict the gradient the traced function below returns at `x = 0`.
#
# ```python
# @tf.function
# def gradient_of(x):
#   with tf.GradientTape() as tape:
#     tape.watch(x)
#     y = tf.exp(x) * x
#   return tape.gradient(y, x)
# ```

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(12, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: the product rule by hand
#
# For `y = sin(x) * x**2`, write `dy/dx` as a function of `x` (with `tf.sin` and `tf.cos`). The
# grader compares it with the tape's at several points.

# %%
# y = sin(x) * x**2: write dy/dx by hand
def derivative(x):
  return ...

gradlab.exercise(12, 2).check(derivative)
