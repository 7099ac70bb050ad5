"""The chain rule with a persistent tape

y2 depends on w1 through y1: the tape applies the chain rule; a persistent tape answers many calls.
"""

# %% [markdown]
# ## Illustration 3: the chain rule through two steps
#
# Two steps, like two layers of a tiny network: `y1 = x*w1 + b1`, then `y2 = y1*w2 + b2`. The
# chain rule says `dy2/dw1 = dy2/dy1 * dy1/dw1`. A tape can only be asked for gradients once,
# unless it is created with `persistent=True`.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import tensorflow as tf

# %%
x = tf.constant(1.); w1 = tf.constant(2.); b1 = tf.constant(1.)
w2 = tf.constant(2.); b2 = tf.constant(1.)
# persistent=True: one recording answers several tape.gradient calls
with tf.GradientTape(persistent=True) as tape:
  tape.watch([w1, b1, w2, b2])
  y1 = x * w1 + b1
  y2 = y1 * w2 + b2

# %%
dy2_dy1 = tape.gradient(y2, [y1])[0]
dy1_dw1 = tape.gradient(y1, [w1])[0]
dy2_dw1 = tape.gradient(y2, [w1])[0]
dy2_dw2 = tape.gradient(y2, [w2])[0]
dy2_db2 = tape.gradient(y2, [b2])[0]
dy1_db1 = tape.gradient(y1, [b1])[0]
# the chain rule: dy2/dy1 * dy1/dw1, and what the tape gives for dy2/dw1
print(dy2_dy1 * dy1_dw1); print(dy2_dw1)

# %% [markdown]
# Each of these gradients, checked against a numeric estimate and the exact value. Every row
# differentiates a small function of the one input it is about, with the other values held fixed:
# for example `dy2/dy1` treats `y2 = y1*w2 + b2` as a function of `y1`, so its exact value is `w2`.

# %%
(
    gradlab.compare(lambda y1: y1 * w2 + b2, y1,
                    tape=[dy2_dy1], analytic=[w2], names=["dy2/dy1"])
    + gradlab.compare(lambda w1: x * w1 + b1, w1,
                      tape=[dy1_dw1], analytic=[x], names=["dy1/dw1"])
    + gradlab.compare(lambda w1: (x * w1 + b1) * w2 + b2, w1,
                      tape=[dy2_dw1], analytic=[x * w2], names=["dy2/dw1"])
    + gradlab.compare(lambda w2: y1 * w2 + b2, w2,
                      tape=[dy2_dw2], analytic=[y1], names=["dy2/dw2"])
    + gradlab.compare(lambda b2: y1 * w2 + b2, b2,
                      tape=[dy2_db2], analytic=[1.0], names=["dy2/db2"])
    + gradlab.compare(lambda b1: x * w1 + b1, b1,
                      tape=[dy1_db1], analytic=[1.0], names=["dy1/db1"])
)

# %%
product = float(dy2_dy1) * float(dy1_dw1)
direct = float(dy2_dw1)
verdict = "the chain rule holds" if product == direct else "they differ"
print(f"dy2/dy1 * dy1/dw1 = {float(dy2_dy1)} * {float(dy1_dw1)}")
print(f"                  = {product}")
print(f"dy2/dw1 from the tape = {direct}: {verdict}.")

# %% [markdown]
# ## The chain rule as a picture
#
# The same two steps written as a function, and drawn by `gradlab.backprop`: each node shows its
# value and `dy2/d(node)`, each arrow its local derivative. Along the path from `w1` to `y2` the
# local derivatives are `x`, 1, `w2` and 1, and `dy2/dw1` is their product. `x` reaches `y2` the
# same way, so its gradient is `w1*w2`.

# %%
def two_steps(x, w1, b1, w2, b2):
  y1 = x * w1 + b1
  y2 = y1 * w2 + b2
  return y2

chain = gradlab.backprop(two_steps, x, w1, b1, w2, b2)
chain

# %%
print(f"dy2/dw1: the picture {chain['w1'].gradient:g},",
      f"the tape {float(dy2_dw1):g}")

# %% [markdown]
# Step by step, from `y2` back to the inputs: each step multiplies the gradient that reached a
# node by the local derivative of the arrow it came along.

# %%
chain.steps()

# %% [markdown]
# ## Release a persistent tape
#
# A persistent tape keeps every intermediate tensor it recorded alive, so that it can answer the
# next `tape.gradient` call. Nothing is freed until the tape itself goes away, so delete it as
# soon as the last gradient is computed:

# %%
del tape

# %% [markdown]
# A tape created without `persistent=True` frees those tensors as soon as `tape.gradient` returns,
# so a second call fails:

# %%
with tf.GradientTape() as tape:
  tape.watch([w1])
  y1 = x * w1 + b1
  y2 = y1 * w2 + b2
print(tape.gradient(y2, w1))
try:
  tape.gradient(y1, w1)
except RuntimeError as error:
  print("RuntimeError:", error)

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: the chain rule through two steps
#
# With `x = 2`, `w1 = 3`, `b1 = 1`, `w2 = -1` and `b2 = 4`, and `y1 = x*w1 + b1`, `y2 = y1*w2 +
# b2` as in this lesson, predict `dy2/dw1`.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(3, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: two gradients from one tape
#
# This function asks its tape for two gradients, and the second call fails. Fix it so that it
# returns `[dy2/dw1, dy2/dw2]`.

# %%
def two_gradients():
  w1, w2 = tf.constant(3.), tf.constant(-1.)
  with tf.GradientTape() as tape:
    tape.watch([w1, w2])
    y1 = 2 * w1 + 1
    y2 = y1 * w2 + 4
  return [tape.gradient(y2, w1), tape.gradient(y2, w2)]

gradlab.exercise(3, 2).check(two_gradients)
