"""Controlling what is recorded

stop_recording, reset, tf.stop_gradient and watch_accessed_variables: the tape differentiates what it recorded.
"""

# %% [markdown]
# A tape differentiates the computation it *recorded*, which need not be the whole computation.
# TensorFlow has four ways to leave something out. In each case below the tape's answer is the
# derivative of the part it recorded, with the rest held fixed; finite differences of that part
# agree with it, and finite differences of the whole function do not.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import tensorflow as tf

# %% [markdown]
# ## `tape.stop_recording()`
#
# Operations run inside `with tape.stop_recording():` are computed but not recorded, so their
# results reach the target as constants:

# %%
x = tf.Variable(2.0, name="x")
with tf.GradientTape() as tape:
  square = x ** 2
  with tape.stop_recording():
    cube = x ** 3          # computed, not recorded
  y = square * cube        # x**5 in value
dy_dx = tape.gradient(y, x)
print("the tape's dy/dx:", float(dy_dx))

# %% [markdown]
# The tape saw `y = x**2 * cube` with `cube` a constant, whose derivative is `2*x*cube`. The
# comparison below differentiates exactly that function numerically, next to the whole `x**5`:

# %%
recorded = gradlab.compare(lambda x: x ** 2 * cube, x, tape=[dy_dx],
                           analytic=[2 * x * cube], names=["dy/dx"])
whole = gradlab.numeric_gradient(lambda x: x ** 5, x)
print(f"finite differences of the whole x**5: {float(whole.value[0]):.4f}")
recorded

# %% [markdown]
# `stop_recording` is the tool for work inside the block that is not part of the loss, such as
# logging a metric: it is not recorded, so it costs no memory on the tape.
#
# ## `tape.reset()`
#
# `reset` throws away everything recorded so far, as if a new tape had started at that line.
# Whatever was computed before it keeps its value but has no history:

# %%
with tf.GradientTape() as tape:
  first = x ** 3
  tape.reset()             # forget x ** 3
  loss = first + 4 * x
dloss_dx = tape.gradient(loss, x)
print("the tape's dloss/dx:", float(dloss_dx))

# %%
gradlab.compare(lambda x: first + 4 * x, x, tape=[dloss_dx],
                analytic=[4.0], names=["dloss/dx"])

# %% [markdown]
# The whole `x**3 + 4*x` has a different derivative, `3*x**2 + 4`:

# %%
whole = gradlab.numeric_gradient(lambda x: x ** 3 + 4 * x, x)
print(f"finite differences of x**3 + 4*x: {float(whole.value[0]):.4f}")
print(f"the tape, after reset:            {float(dloss_dx):.4f}")

# %% [markdown]
# ## `tf.stop_gradient`
#
# `tf.stop_gradient(t)` has the value of `t`, and the tape treats it as a constant. Unlike
# `stop_recording` it marks one value, right where it is used. Here it holds a scale fixed:

# %%
with tf.GradientTape() as tape:
  scale = tf.stop_gradient(x ** 3)
  y = x ** 2 * scale
dy_dx_stopped = tape.gradient(y, x)
same = float(dy_dx_stopped) == float(dy_dx)
print("the tape's dy/dx:", float(dy_dx_stopped))
print("same as with stop_recording:", same)

# %%
gradlab.compare(lambda x: x ** 2 * scale, x, tape=[dy_dx_stopped],
                analytic=[2 * x * scale], names=["dy/dx"])

# %% [markdown]
# ## `watch_accessed_variables=False` and `watched_variables()`
#
# By default a tape watches every trainable variable the block reads. With
# `watch_accessed_variables=False` it watches only what `tape.watch` names, and
# `tape.watched_variables()` lists what it watched:

# %%
a = tf.Variable(2.0, name="a")
b = tf.Variable(3.0, name="b")
with tf.GradientTape() as tape:
  y = a * b ** 2
print("default:       ", [v.name for v in tape.watched_variables()])

with tf.GradientTape(watch_accessed_variables=False) as tape:
  tape.watch(a)
  y = a * b ** 2
print("only a watched:", [v.name for v in tape.watched_variables()])
dy_da, dy_db = tape.gradient(y, [a, b])
print("dy/da:", float(dy_da), " dy/db:", dy_db)

# %% [markdown]
# `b` was not watched, so its gradient is `None`, and `b` is a constant for the tape. The
# derivative with respect to `a` is `b**2`:

# %%
gradlab.compare(lambda a: a * b ** 2, a, tape=[dy_da], analytic=[b ** 2],
                names=["dy/da"])

# %% [markdown]
# This is how to take the gradient for part of a model only (fine-tuning one layer, say) without
# the tape keeping the record of every other variable it reads.

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: a stopped gradient
#
# Predict `dy/dx` for `x = tf.Variable(3.)` and `y = x * tf.stop_gradient(x)`.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(7, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: a tape that watches too little
#
# This function should return `dy/db`, but the tape was made with `watch_accessed_variables=False`
# and watches only `a`. Fix it.

# %%
def gradient_for_b():
  a, b = tf.Variable(2.), tf.Variable(3.)
  with tf.GradientTape(watch_accessed_variables=False) as tape:
    tape.watch(a)
    y = a * b ** 2
  return tape.gradient(y, b)

gradlab.exercise(7, 2).check(gradient_for_b)
