"""Why did I get None?

Seven ways a tape returns None instead of a gradient, each named by why_none, fixed and checked against finite differences.
"""

# %% [markdown]
# `tape.gradient` does not raise an error when it recorded no path from a source to the target: it
# returns `None`. TensorFlow's guide on automatic differentiation lists the usual reasons. This
# lesson runs each of them, lets gradlab name the cause, then fixes the code and checks the gradient
# it now gets against a finite-difference estimate.
#
# `why_none(tape, target, sources)` takes the place of `tape.gradient(target, sources)` after the
# `with` block: it returns the same gradients, and says why each missing one is missing. A tape
# keeps no list of what it recorded, so for some causes it can only list the possibilities;
# `why_none(f, x)` takes the function instead, traces it into a graph and names the one it is.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import numpy as np
import tensorflow as tf

from gradlab import why_none

# %% [markdown]
# ## A constant that was not watched
#
# A tape follows trainable `tf.Variable`s by itself, but a `tf.constant` only after `tape.watch`:

# %%
x = tf.constant(3.0)
with tf.GradientTape() as tape:
  y = x ** 2
unwatched = why_none(tape, y, x, names="x")
unwatched

# %% [markdown]
# The fix is one line inside the `with` block. By hand, `dy/dx = 2*x`:

# %%
with tf.GradientTape() as tape:
  tape.watch(x)
  y = x ** 2
dy_dx = tape.gradient(y, x)
gradlab.compare(lambda x: x ** 2, x, tape=[dy_dx], analytic=[2 * x],
                names=["dy/dx, watched"])

# %% [markdown]
# ## An integer tensor
#
# `tf.constant(3)` has no decimal point, so it holds an `int32`. A tape differentiates floating-point
# values only; `tape.watch` on an integer is ignored (TensorFlow logs a warning, which gradlab keeps
# out of sight) and the gradient is `None`:

# %%
n = tf.constant(3)
with tf.GradientTape() as tape:
  tape.watch(n)
  y = n * n
not_a_float = why_none(tape, y, n, names="n")
not_a_float

# %% [markdown]
# gradlab's own checker refuses such an argument up front, and says what to change:

# %%
try:
  gradlab.check(lambda n: n * n, n)
except gradlab.NotDifferentiableError as error:
  print("NotDifferentiableError:", error)

# %%
n = tf.constant(3.0)
with tf.GradientTape() as tape:
  tape.watch(n)
  y = n * n
dy_dn = tape.gradient(y, n)
gradlab.compare(lambda n: n * n, n, tape=[dy_dn], analytic=[2 * n],
                names=["dy/dn, float"])

# %% [markdown]
# ## numpy inside the tape
#
# The tape records TensorFlow operations. `np.square(x)` turns `x` into a numpy array and squares it
# outside TensorFlow; the result comes back into TensorFlow as a new constant with no history.
# The same happens with `x.numpy()`.

# %%
def sum_of_squares(x):
  return tf.reduce_sum(np.square(x))  # np.square leaves TensorFlow

x = tf.Variable([1.0, 2.0])
with tf.GradientTape() as tape:
  y = sum_of_squares(x)
through_numpy = why_none(tape, y, x, names="x")
through_numpy

# %% [markdown]
# The tape recorded nothing that made `y`, and cannot say why. Given the function, `why_none`
# traces it: tracing stops where a graph tensor is asked for its numpy value.

# %%
numpy_named = why_none(sum_of_squares, x, names="x")
numpy_named

# %% [markdown]
# `gradlab.check` sees the same from outside: finite differences show that the output *does* move
# with `x`, so the missing gradient is a path the tape did not see, not a function that ignores `x`.

# %%
numpy_check = gradlab.check(sum_of_squares, x)
numpy_check

# %% [markdown]
# With `tf.square` in its place, the tape records the path, and the same check passes:

# %%
def sum_of_squares_tf(x):
  return tf.reduce_sum(tf.square(x))  # a TensorFlow op: recorded

with tf.GradientTape() as tape:
  y = sum_of_squares_tf(x)
print("the tape's gradient:", tape.gradient(y, x).numpy())
fixed_check = gradlab.check(sum_of_squares_tf, x)
fixed_check

# %% [markdown]
# ## A variable replaced by a tensor
#
# `x = x + 1` does not update the variable: it makes a new *tensor* and points the name `x` at it.
# The first pass of this loop has a gradient; the second one differentiates with respect to a
# tensor the tape never watched.

# %%
x = tf.Variable(2.0)
replaced = []
for step in range(2):
  with tf.GradientTape() as tape:
    y = x ** 2
  replaced.append(why_none(tape, y, x, names="x"))
  [g] = replaced[-1].gradients
  kind = "tf.Variable" if isinstance(x, tf.Variable) else "tf.Tensor"
  shown = None if g is None else float(g)
  print(f"step {step}: x is a {kind}, its gradient {shown}")
  x = x + 1  # should be x.assign_add(1)
replaced[-1]

# %% [markdown]
# `assign_add` changes the variable in place, so it stays a variable and the tape keeps watching it:

# %%
x = tf.Variable(2.0)
in_place = []
for step in range(2):
  with tf.GradientTape() as tape:
    y = x ** 2
  in_place.append(tape.gradient(y, x))
  x.assign_add(1)
print("gradients:", [float(g) for g in in_place])
x_last = x - 1  # the value the last gradient was taken at
gradlab.compare(lambda x: x ** 2, x_last, tape=in_place[-1:],
                analytic=[2 * x_last], names=["dy/dx, step 1"])

# %% [markdown]
# ## A stateful operation in the way
#
# A variable's value is state. When code writes to a variable and reads it back, the tape sees the
# read, not the computation that produced the value, so the gradient stops at the variable. This is
# the example from TensorFlow's guide:

# %%
x0 = tf.Variable(3.0)
x1 = tf.Variable(0.0)
with tf.GradientTape() as tape:
  x1.assign_add(x0)  # x1 = x1 + x0, as a state change
  y = x1 ** 2        # y = (x1 + x0)**2
stateful = why_none(tape, y, [x0, x1], names=["x0", "x1"])
stateful

# %% [markdown]
# The tape lists what can cut a recorded target off from `x0`. The function's graph shows which:
# the value of `x0` goes into an assignment, and the target reads `x1` afterwards.

# %%
def add_then_square(x0):
  x1.assign_add(x0)
  return x1 ** 2

stateful_named = why_none(add_then_square, x0, names="x0")
stateful_named

# %% [markdown]
# The same holds for values that pass through a `tf.data` iterator or a queue. The fix computes
# the new value with an operation the tape records, uses it, and writes the state afterwards:

# %%
x0 = tf.Variable(3.0)
x1 = tf.Variable(0.0)
with tf.GradientTape() as tape:
  x1_new = x1 + x0   # recorded
  y = x1_new ** 2
grads = tape.gradient(y, [x0, x1])
gradlab.compare(lambda x0, x1: (x1 + x0) ** 2, float(x0), float(x1),
                tape=grads, analytic=[2 * x1_new, 2 * x1_new],
                names=["dy/dx0", "dy/dx1"])

# %%
x1.assign(x1_new)  # the state change, after the tape
print("x1 after the update:", float(x1))

# %% [markdown]
# ## The target computed after the block
#
# A tape records only while its `with` block runs. Here the loss is one line too late:

# %%
w = tf.Variable(0.5)
with tf.GradientTape() as tape:
  p = w * 2.0
loss = p ** 2  # after the with block: not recorded
after_block = why_none(tape, loss, w, names="w")
after_block

# %% [markdown]
# The tape sees only that it recorded nothing that made `loss`, so it names the possibilities;
# the first one is the case here. Moving the line into the block fixes it, and by hand
# `dloss/dw = 8*w`:

# %%
with tf.GradientTape() as tape:
  p = w * 2.0
  loss = p ** 2
dloss_dw = tape.gradient(loss, w)
gradlab.compare(lambda w: (w * 2.0) ** 2, w, tape=[dloss_dw],
                analytic=[8 * w], names=["dloss/dw, inside"])

# %% [markdown]
# ## An operation without a gradient
#
# `tf.round` is flat between its steps, and TensorFlow registers `None` as its gradient (so it
# does for `tf.math.floor` and `tf.math.ceil`; `tf.argmax` and a `tf.cast` to an integer give
# integers, which carry no gradient). The tape recorded the target, but the path stops there:

# %%
def rounded_price(x):
  return tf.round(x) * 3.0

x = tf.Variable(2.3)
with tf.GradientTape() as tape:
  y = rounded_price(x)
rounded = why_none(tape, y, x, names="x")
rounded

# %% [markdown]
# The function's graph names the op, and the line that made it:

# %%
rounded_named = why_none(rounded_price, x, names="x")
rounded_named

# %% [markdown]
# Between two steps the true derivative is zero. Where zero is what you mean, ask the tape for
# zeros instead of `None`; finite differences agree:

# %%
with tf.GradientTape() as tape:
  y = rounded_price(x)
dy_dx_zero = tape.gradient(
    y, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
gradlab.compare(rounded_price, x, tape=[dy_dx_zero],
                analytic=[0 * x], names=["dy/dx, zeros"])

# %% [markdown]
# ## The causes, side by side
#
# Each broken example above, with the kind of cause gradlab named for its missing gradient; the
# last three come from the function's graph rather than the tape:

# %%
broken = {
  "constant without tape.watch": unwatched,
  "integer tensor": not_a_float,
  "numpy inside the tape": through_numpy,
  "variable replaced by a tensor": replaced[-1],
  "state change (assign_add)": stateful,
  "target after the with block": after_block,
  "tf.round": rounded,
  "numpy, given f": numpy_named,
  "state change, given f": stateful_named,
  "tf.round, given f": rounded_named,
}
for label, diagnosis in broken.items():
  missing = [f for f in diagnosis.findings if f.gradient is None]
  names = ", ".join(f"{f.name}: {f.kind}" for f in missing)
  print(f"{label:<28} {names}")

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: numpy inside the tape
#
# This function should return the gradient of `sum(exp(x))`, which is `exp(x)`, but it returns
# `None`. Fix it.

# %%
def exp_gradient():
  x = tf.Variable([0., 1., 2.])
  with tf.GradientTape() as tape:
    y = tf.reduce_sum(np.exp(x))
  return tape.gradient(y, x)

gradlab.exercise(4, 1).check(exp_gradient)

# %% [markdown]
# ### Exercise 2: gradient descent that loses its variable
#
# Three steps of gradient descent on `x**2` from `x = 1`, with a step of a tenth of the gradient.
# The function should return the three gradients; fix it.

# %%
def descent_gradients():
  x = tf.Variable(1.)
  gradients = []
  for step in range(3):
    with tf.GradientTape() as tape:
      y = x ** 2
    g = tape.gradient(y, x)
    gradients.append(g)
    x = x - g / 10
  return gradients

gradlab.exercise(4, 2).check(descent_gradients)
