"""tape.watch on constants

A tape follows trainable tf.Variables on its own; tape.watch makes it follow a tf.constant too.
"""

# %% [markdown]
# ## Illustration 2: the derivative with respect to a constant
#
# Here every input is a `tf.constant`, and we want the derivative of `y = a*w**2 + b*w + c` with
# respect to `w`. A tape only records operations on tensors it *watches*, so the code asks it to
# watch `w` with `tape.watch`.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import tensorflow as tf

# %%
a = tf.constant(1.); b = tf.constant(2.); c = tf.constant(3.)
w = tf.constant(4.)
with tf.GradientTape() as tape:  # records what runs in the block
  tape.watch([w])  # a constant is followed only when asked
  y = a * w**2 + b * w + c
[dy_dw] = tape.gradient(y, [w])
print(dy_dw)

# %% [markdown]
# By hand, `dy/dw = 2*a*w + b`. The tape, a numeric estimate and the exact value side by side:

# %%
analytic = 2 * a * w + b
gradlab.compare(lambda w: a * w**2 + b * w + c, w,
                tape=[dy_dw], analytic=[analytic], names=["dy/dw"])

# %% [markdown]
# ## Without `tape.watch`
#
# The same code with the `tape.watch` line taken out:

# %%
with tf.GradientTape() as tape:
  y = a * w**2 + b * w + c
[dy_dw_unwatched] = tape.gradient(y, [w])
print(dy_dw_unwatched)

# %% [markdown]
# The gradient is `None`, not an error and not zero. `w` is a `tf.constant`, and a tape watches
# only *trainable* `tf.Variable`s by itself (the weights of a model are such variables), so it
# recorded nothing that connects `y` to `w`. A variable is watched without being asked:

# %%
w_variable = tf.Variable(4.)
with tf.GradientTape() as tape:
  y = a * w_variable**2 + b * w_variable + c
print(tape.gradient(y, w_variable))
print("watched:", [v.name for v in tape.watched_variables()])

# %% [markdown]
# ...but not one created with `trainable=False`:

# %%
w_frozen = tf.Variable(4., trainable=False)
with tf.GradientTape() as tape:
  y = a * w_frozen**2 + b * w_frozen + c
print(tape.gradient(y, w_frozen))
print("watched:", [v.name for v in tape.watched_variables()])

# %% [markdown]
# To differentiate with respect to a constant or a frozen variable, call `tape.watch` on it
# inside the `with` block. If you would rather get zeros than `None` for inputs that `y` does not
# depend on, pass `unconnected_gradients=tf.UnconnectedGradients.ZERO` to `tape.gradient`.

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: one watched constant, one not
#
# The tape below watches `w` but not `a`. Predict what `tape.gradient(y, [w, a])` returns, as a
# list (write `None` for a missing gradient).
#
# ```python
# a = tf.constant(1.); b = tf.constant(2.); c = tf.constant(3.)
# w = tf.constant(-3.)
# with tf.GradientTape() as tape:
#   tape.watch(w)
#   y = a * w**2 + b * w + c
# tape.gradient(y, [w, a])
# ```

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(2, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: a frozen variable
#
# This function should return `dy/dw`, but it returns `None`. Fix it so that the tape follows `w`.

# %%
def frozen_gradient():
  w = tf.Variable(4., trainable=False)
  with tf.GradientTape() as tape:
    y = w ** 2 + 2 * w
  return tape.gradient(y, w)

gradlab.exercise(2, 2).check(frozen_gradient)
