"""Choosing the finite-difference step

Truncation against round-off: the error of forward, central and Richardson differences as the step shrinks.
"""

# %% [markdown]
# A finite difference divides a small change in `f` by a small step `h`. Two errors pull in
# opposite directions:
#
# - *truncation*: the formula ignores the higher terms of the Taylor series. The forward
#   difference is off by about `f''/2*h`, the central one by a multiple of `h**2`, and
#   Richardson's extrapolation of two central differences by a multiple of `h**4`. Smaller steps
#   help.
# - *round-off*: each value of `f` is rounded to the nearest float, an error of about
#   `eps*|f|`, and the division by `h` magnifies it. Smaller steps hurt.
#
# `gradlab.step_study` computes each estimate for steps from a tenth down to ten to the minus
# fifteen, and measures its error against the exact derivative.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import math

import numpy as np
import tensorflow as tf

# %% [markdown]
# ## The V shape
#
# The exponential is its own derivative, so at `x = 1` the exact answer is `e`:

# %%
study = gradlab.step_study(tf.exp, 1.0, derivative=math.e, name="x")
study

# %% [markdown]
# Read the chart from left (large steps) to right (tiny steps). Each method's error first falls as
# truncation shrinks, reaches a bottom, then rises again as round-off takes over: a V on log-log
# axes. The higher the order of the method, the faster its truncation error vanishes, so its V
# bottoms out sooner, at a larger step, and lower.
#
# Balancing the two errors predicts the best step: about `eps**(1/2)` for forward differences,
# `eps**(1/3)` for central ones and `eps**(1/5)` for Richardson's:

# %%
eps64 = np.finfo(np.float64).eps
for method, root in [("forward", 2), ("central", 3), ("richardson", 5)]:
  step, error = study.best[method]
  print(f"{method:<10} best step {step:.0e}  (eps**(1/{root}) = "
        f"{eps64 ** (1 / root):.0e}), error there {error:.1e}")

# %% [markdown]
# ## Where lesson 1's odd digits come from
#
# Lesson 1 took a forward difference of `f = 3*w1**2 + 2*w1*w2` at `w1 = 5`, `w2 = 3` with a step
# of one millionth, and got a little more than the exact `36`. Along `w1` the second derivative is
# `6`, so truncation alone predicts an excess of `6/2*h`:

# %%
def f_of_w1(w1):
  return 3 * w1 ** 2 + 2 * w1 * 3.0

seed = gradlab.step_study(f_of_w1, 5.0, derivative=36.0, name="w1")
at = int(np.argmin(np.abs(seed.steps - 1e-6)))
h = seed.steps[at]
forward = seed.estimates["forward"][at]
second_derivative = 6.0
truncation = second_derivative / 2 * h
print(f"forward difference with h = {h:g}: {float(forward)!r}")
print(f"its error:        {forward - 36:.4e}")
print(f"truncation f''/2*h = {truncation:.4e}, "
      f"that is {second_derivative / 2:g}*h")
print(f"round-off, the rest: {forward - 36 - truncation:.0e}")

# %% [markdown]
# The whole study of that function shows the forward difference's V, and something else: `f` is a
# quadratic, so the central and Richardson formulas have no truncation error at all. They are
# exact up to round-off, which is smallest at the largest step:

# %%
seed

# %% [markdown]
# ## float32
#
# A `tf.Variable` made from a Python float holds a float32, whose `eps` is far larger than
# float64's (both are printed below). Round-off grows by the same factor, and every V moves up and
# to the left. Below a step of about `eps`, `1 + h` rounds back to `1`: the two values of `f` are
# equal, the estimate is zero, and the error is the whole derivative.

# %%
study32 = gradlab.step_study(tf.exp, 1.0, derivative=math.e,
                             dtype="float32", name="x")
study32

# %%
eps32 = np.finfo(np.float32).eps
print(f"eps: float64 {eps64:.1e}, float32 {eps32:.1e}")
for method in study.best:
  (step64, error64), (step32, error32) = (
      study.best[method], study32.best[method])
  print(f"{method:<10} best step {step64:.0e} -> {step32:.0e},"
        f" best error {error64:.1e} -> {error32:.1e}")
one = np.float32(1.0)
lost = [h for h in study32.steps if one + np.float32(h) == one]
print(f"in float32, 1 + h == 1 from h = {max(lost):.0e} down")

# %% [markdown]
# This is why gradlab picks its step from the dtype and the method (`eps**(1/2)`, `eps**(1/3)` or
# `eps**(1/5)`, times the size of `x`; see `gradlab.engine.tolerances`), and why a float32 verdict allows
# more error than a float64 one.
#
# ## What gradlab's defaults give
#
# Each method at gradlab's default step for float64. Every estimate comes with an estimate of its
# own error, made from the same evaluations (the change between the steps `h` and `h/2`, plus the
# round-off bound); it should not be smaller than the true error:

# %%
for method in ["forward", "central", "richardson"]:
  estimate = gradlab.numeric_gradient(tf.exp, 1.0, method=method)
  value, bound = float(estimate.value[0]), float(estimate.error[0])
  print(f"{method:<10} {value:.13f}  off by {abs(value - math.e):.1e},"
        f" estimated {bound:.1e}")

# %% [markdown]
# `gradlab.compare` uses Richardson's estimate, next to the tape and the exact value:

# %%
gradlab.compare(tf.exp, 1.0, analytic=[math.e], names=["dy/dx"])

# %% [markdown]
# ## The figure
#
# `StepStudy.plot` draws a study with matplotlib. In a notebook the two studies appear below this
# cell; a terminal describes the figure in words, and the charts above stand in for it.

# %%
import matplotlib.pyplot as plt

figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
study.plot(ax=axes[0])
study32.plot(ax=axes[1])
figure.tight_layout()

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: a forward difference with a large step
#
# Predict the forward difference `((x + h)**3 - x**3) / h` at `x = 1` with `h = 1/10`, in float64.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(8, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: a step below float32's resolution
#
# Predict the value of this float32 forward difference of `exp` at `1`:
#
# ```python
# x = tf.constant(1., dtype=tf.float32)
# h = 10 ** -8
# (tf.exp(x + h) - tf.exp(x)) / h
# ```

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(8, 2).check(prediction)
