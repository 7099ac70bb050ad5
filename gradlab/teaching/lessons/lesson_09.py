"""Custom gradients

tf.custom_gradient gives softplus a stable gradient; gradlab.check confirms it and catches a planted mistake.
"""

# %% [markdown]
# ## Softplus, straight from the formula
#
# `softplus(x) = log(1 + exp(x))` is a smooth version of `relu`. Written as the formula reads,
# `exp(x)` overflows float32 for large `x`, and the tape differentiates the overflow too.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import tensorflow as tf

# %%
def naive_softplus(x):
  return tf.math.log(1 + tf.exp(x))

x = tf.constant([-100., -10., 0., 10., 100.])
with tf.GradientTape() as tape:
  tape.watch(x)
  y_naive = naive_softplus(x)
naive_grad = tape.gradient(y_naive, x)
print("softplus:", y_naive.numpy())
print("gradient:", naive_grad.numpy())

# %%
big = float(x[-1])
exp_big = float(tf.exp(x[-1]))
print(f"float32 stops at {float(tf.float32.max):.3g}, so exp({big:g}) = "
      f"{exp_big} and softplus({big:g}) = {float(y_naive[-1])}.")
print(f"The tape multiplies d log(u)/du = 1/u = {1 / (1 + exp_big):g} by "
      f"d exp(x)/dx = {exp_big}:")
print(f"the gradient at {big:g} is {float(naive_grad[-1])}.")

# %% [markdown]
# ## A stable formula, and a gradient to go with it
#
# `max(x, 0) + log1p(exp(-|x|))` is the same function, but `exp` only ever sees numbers at or
# below zero, so it cannot overflow. The tape could differentiate this formula too, but `max` and
# `|x|` both have a kink at zero; their kinks cancel in the sum, while the tape takes one side of
# each:

# %%
def stable_formula(x):
  return tf.maximum(x, 0.) + tf.math.log1p(tf.exp(-tf.abs(x)))

zero = tf.constant(0.)
with tf.GradientTape() as tape:
  tape.watch(zero)
  y_zero = stable_formula(zero)
at_zero = float(tape.gradient(y_zero, zero))
print(f"the tape's slope of the stable formula at 0: {at_zero:g}; "
      f"the true slope sigmoid(0) = {float(tf.sigmoid(zero)):g}")

# %% [markdown]
# The derivative of softplus is `sigmoid(x)`, which is easy to compute stably. `tf.custom_gradient`
# hands it to the tape: the decorated function returns its value and a function `grad(dy)`. The
# tape calls `grad` with `dy`, the gradient arriving from the ops above, and takes what it returns
# as the gradient for `x`: `dy` times the derivative, by the chain rule.

# %%
@tf.custom_gradient
def softplus(x):
  y = tf.maximum(x, 0.) + tf.math.log1p(tf.exp(-tf.abs(x)))
  def grad(dy):
    return dy * tf.sigmoid(x)
  return y, grad

with tf.GradientTape() as tape:
  tape.watch(x)
  y = softplus(x)
stable_grad = tape.gradient(y, x)
print("softplus:", y.numpy())
print("gradient:", stable_grad.numpy())

# %% [markdown]
# The tape's gradient of `sum(softplus(x))` against a numeric estimate and the exact `sigmoid(x)`:

# %%
gradlab.compare(lambda x: tf.reduce_sum(softplus(x)), x,
                tape=[stable_grad], analytic=[tf.sigmoid(x)],
                names=["dsum/dx"])

# %% [markdown]
# `gradlab.check` goes further: softplus maps a vector to a vector, so it compares the whole
# Jacobian, every output against every input.

# %%
stable_check = gradlab.check(softplus, x)
stable_check

# %% [markdown]
# ## A planted mistake: forgetting `dy`
#
# A custom gradient that ignores `dy` is a common slip. When softplus feeds straight into a sum,
# every `dy` is one, so the slip hides:

# %%
@tf.custom_gradient
def softplus_forgot_dy(x):
  y = tf.maximum(x, 0.) + tf.math.log1p(tf.exp(-tf.abs(x)))
  def grad(dy):
    return tf.sigmoid(x)  # the mistake: dy is ignored
  return y, grad

summed_check = gradlab.check(
    lambda x: tf.reduce_sum(softplus_forgot_dy(x)), x)
print(f"check of sum(softplus_forgot_dy(x)) passes: {summed_check.ok}")

# %% [markdown]
# The Jacobian asks for one output at a time (`dy` is one for that output and zero for the
# others), and there the mistake shows. The check fails and names the entries that are wrong:

# %%
forgot_dy_check = gradlab.check(softplus_forgot_dy, x)
forgot_dy_check

# %%
worst = forgot_dy_check.worst[0]
out, arg = worst.index
print(f"worst entry x[{out}, {arg}]: d softplus(x)[{out}] / dx[{arg}]")
print(f"  tape {worst.tape:g}, numeric {worst.numeric:g}: output {out} "
      f"does not depend on x[{arg}],")
print(f"  but grad returned sigmoid(x[{arg}]) whatever dy was.")
bad = sum(not r.ok for r in forgot_dy_check.inputs)
print(f"inputs failing: {bad} of {len(forgot_dy_check.inputs)}; "
      f"passes: {forgot_dy_check.ok}")

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: a custom gradient for swish
#
# `swish(x) = x * sigmoid(x)`. Complete its custom gradient: `grad(dy)` returns `dy` times the
# derivative, `sigmoid(x) * (1 + x * (1 - sigmoid(x)))`. The grader compares the value and the
# whole Jacobian with the tape's for `x * tf.sigmoid(x)`.

# %%
@tf.custom_gradient
def swish(x):
  s = tf.sigmoid(x)
  def grad(dy):
    return ...  # dy times the derivative of x * s
  return x * s, grad

gradlab.exercise(9, 1).check(swish)

# %% [markdown]
# ### Exercise 2: what forgetting dy does
#
# `softplus_forgot_dy` is the planted mistake of this lesson: its `grad` returns `sigmoid(x)` and
# ignores `dy`. Predict what the tape gives for this `y`:
#
# ```python
# x = tf.constant(0.)
# with tf.GradientTape() as tape:
#   tape.watch(x)
#   y = 3 * softplus_forgot_dy(x)
# tape.gradient(y, x)
# ```

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(9, 2).check(prediction)
