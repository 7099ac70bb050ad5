"""Partial derivatives

Differentiate 3*w1**2 + 2*w1*w2 by finite differences, with tf.GradientTape and by hand.
"""

# %% [markdown]
# ## Illustration 1: two partial derivatives of one function
#
# The function below has two inputs. Its *partial derivative* with respect to `w1` says how fast
# `f` changes when `w1` moves and `w2` stays put; the one with respect to `w2` is the other way round.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import tensorflow as tf

# %%
# f(w1, w2) = 3*w1**2 + 2*w1*w2
def f(w1, w2):
  return 3 * w1 ** 2 + 2 * w1 * w2

# %% [markdown]
# A *finite difference* nudges one input by a small step `eps` and divides the change in `f` by
# `eps`. This is the *forward* difference, in ordinary Python floats:

# %%
# at w1 = 5, w2 = 3: nudge w1 by eps, keep w2 fixed, and get df/dw1
w1, w2 = 5, 3
eps = 1e-6
forward_dw1 = (f(w1 + eps, w2) - f(w1, w2)) / eps
forward_dw1

# %%
# the same point: nudge w2 instead, and get df/dw2
forward_dw2 = (f(w1, w2 + eps) - f(w1, w2)) / eps
forward_dw2

# %% [markdown]
# Close, but not exact. By the usual rules of calculus the partial derivatives are
# `df/dw1 = 6*w1 + 2*w2` and `df/dw2 = 2*w1`:

# %%
def df_dw1(w1, w2):
  return 6 * w1 + 2 * w2

def df_dw2(w1, w2):
  return 2 * w1

analytic = [df_dw1(w1, w2), df_dw2(w1, w2)]
analytic

# %% [markdown]
# ## Why the forward difference is off
#
# Taylor's theorem gives `f(w1 + eps) = f(w1) + f'(w1)*eps + f''(w1)/2*eps**2 + ...`, so the
# forward difference equals `f'(w1) + f''(w1)/2*eps + ...`: a *truncation error* that grows with
# `eps`. On top of that, each value of `f` is rounded to the nearest float64, and dividing by a
# small `eps` magnifies that *round-off error*.

# %%
import sys

second_derivative = 6  # d2f/dw1**2 of 3*w1**2 + 2*w1*w2
error_dw1 = forward_dw1 - analytic[0]
truncation = second_derivative / 2 * eps
roundoff = error_dw1 - truncation
bound = sys.float_info.epsilon * abs(f(w1, w2)) / eps
print(f"df/dw1: the forward difference is off by {error_dw1:.2e}:")
print(f"  truncation f''/2 * eps = {truncation:.1e}, which is "
      f"{second_derivative / 2:g}*eps,")
print(f"  plus round-off {roundoff:.0e}, within the {bound:.0e} that")
print(f"  rounding f = {f(w1, w2)} to float64 can cost")
print(f"  with a step of {eps:g}.")
error_dw2 = forward_dw2 - analytic[1]
print("df/dw2: f is linear in w2, so there is no truncation error;")
print(f"  the {error_dw2:.0e} left over is round-off alone.")

# %% [markdown]
# A *central* difference steps to both sides. The `eps**2` terms of the two Taylor series cancel,
# so its truncation error shrinks like `eps**2`; for a quadratic like `f` it vanishes, and only
# round-off is left:

# %%
central_dw1 = (f(w1 + eps, w2) - f(w1 - eps, w2)) / (2 * eps)
central_dw2 = (f(w1, w2 + eps) - f(w1, w2 - eps)) / (2 * eps)
errors = [central_dw1 - analytic[0], central_dw2 - analytic[1]]
print(f"central df/dw1 = {central_dw1!r}, off by {errors[0]:.0e}")
print(f"central df/dw2 = {central_dw2!r}, off by {errors[1]:.0e}")

# %% [markdown]
# ## The same with `tf.GradientTape`
#
# Inside a `with tf.GradientTape()` block, TensorFlow records every operation on the variables.
# `tape.gradient` then walks that record backwards, applying the chain rule to each step
# (reverse-mode automatic differentiation). There is no step size: the result is exact up to the
# rounding of float32, the type of `tf.Variable(5.)`.

# %%
# the same two derivatives from a tape: no step, no truncation error
w1, w2 = tf.Variable(5.), tf.Variable(3.)
with tf.GradientTape() as tape:
  z = f(w1, w2)
gradients = tape.gradient(z, [w1, w2])
gradients

# %% [markdown]
# `gradlab.compare` puts the tape's values next to a numeric estimate (central differences refined
# by Richardson extrapolation, with an estimate of their error) and the exact values. The point is
# given as Python floats, so the numeric side is computed in float64; the verdict uses float32
# tolerances because the tape's values are float32.

# %%
gradlab.compare(f, 5.0, 3.0, tape=gradients, analytic=analytic,
                names=["df/dw1", "df/dw2"])

# %% [markdown]
# Each row is one derivative. Read the columns left to right:
#
# - `tape`: what `tape.gradient` returned; `numeric`: the finite-difference estimate;
#   `± est.`: how far that estimate may itself be off; `analytic`: the value worked out by hand.
# - `abs err`: the tape against the numeric estimate, `|tape - numeric|`; `rel err`: the same
#   divided by `|numeric|`.
# - `vs exact`: the tape against the analytic value, `|tape - analytic|`.
# - `verdict`: ok when both differences are within the tolerance written under the table.
#
# On a narrow terminal the same columns come as two tables, values first and errors under them.

# %% [markdown]
# The tape does not need a Python function: it records whatever runs inside the `with` block, here
# the expression written out in full.

# %%
# the formula written out inside the block instead of called as f
w1, w2 = tf.Variable(5.), tf.Variable(3.)
with tf.GradientTape() as tape:
  z = 3*(w1**2) + 2*(w1*w2)
gradients_inline = tape.gradient(z, [w1, w2])
gradients_inline

# %%
gradlab.compare(lambda w1, w2: 3*(w1**2) + 2*(w1*w2), 5.0, 3.0,
                tape=gradients_inline, analytic=analytic,
                names=["df/dw1 (inline)", "df/dw2 (inline)"])

# %% [markdown]
# ## The graph the tape walks backwards
#
# `gradlab.backprop` traces `f` at the same point and shows every value it computes. Each node
# carries its value and its *gradient*, `df/d(node)`: how fast `f` changes when that one value
# moves. The backward pass starts at `f`, whose gradient is 1, and walks back along the arrows.
# Each arrow carries a *local derivative*: how fast the operation at its end changes with its
# start. The chain rule then reads: the gradient of a node is the sum, over the arrows that leave
# it, of the gradient at the arrow's end times the arrow's local derivative. `w1` feeds two
# operations, so its gradient is a sum of two products.
#
# The last column checks each gradient against finite differences of `f` with that one value
# moved. In a notebook the graph is drawn; in a terminal it is a table.

# %%
graph = gradlab.backprop(f, 5.0, 3.0)
graph

# %% [markdown]
# The backward pass one node at a time. A node is finished once every node that reads it is, so
# the steps go from `f` back to the inputs:

# %%
graph.steps()

# %% [markdown]
# ## Secants approach the tangent
#
# A forward difference is the slope of a *secant*: the line through the points of `f` at `w1` and
# at `w1 + h`. As the step `h` shrinks, the secant turns towards the *tangent*, whose slope is the
# derivative the tape computes. Here `w2` stays at 3:

# %%
along_w1 = gradlab.secants(lambda w1: f(w1, 3.0), 5.0,
                           analytic=df_dw1(5.0, 3.0), name="w1")
along_w1

# %%
along_w1.plot()

# %% [markdown]
# ## The derivative at every point at once
#
# The tape gives the derivative wherever it is asked. Along `w1`, from -5 to 5 with `w2 = 3`, it
# draws the straight line `6*w1 + 2*w2`, and the formula worked out by hand lies on top of it:

# %%
curve = gradlab.derivative_curve(lambda w1: f(w1, 3.0), -5.0, 5.0,
                                 analytic=lambda w1: df_dw1(w1, 3.0),
                                 name="w1")
curve

# %%
curve.plot()

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: the two partial derivatives at another point
#
# With `f(w1, w2) = 3*w1**2 + 2*w1*w2` from this lesson, predict `[df/dw1, df/dw2]` at `w1 = 2`,
# `w2 = -1` by hand, before a tape computes it.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(1, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: a partial derivative by hand
#
# For `g(w1, w2) = w1**2 * w2 + w2**3`, write `dg/dw2` as a function of `w1` and `w2`. The grader
# evaluates it at several points and compares it with the tape's.

# %%
# g(w1, w2) = w1**2 * w2 + w2**3: write dg/dw2 by hand
def dg_dw2(w1, w2):
  return ...

gradlab.exercise(1, 2).check(dg_dw2)
