"""Forward mode

ForwardAccumulator gives J u and the tape v J: a Jacobian costs one pass per input, or one per output.
"""

# %% [markdown]
# ## Two products with the Jacobian
#
# For `y = f(x)` with `n` inputs and `m` outputs, the Jacobian `J` is `m × n`. Automatic
# differentiation never builds it unless asked; it computes products with it:
#
# - *forward mode* (`tf.autodiff.ForwardAccumulator`) carries a direction `u` in input space
#   along with the computation and returns the Jacobian-vector product `J @ u` (JVP);
# - *reverse mode* (`tf.GradientTape`) records the computation, then carries a weighting `v` of
#   the outputs back through it and returns the vector-Jacobian product `v @ J` (VJP).

# %%
import time

import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import numpy as np
import tensorflow as tf

from gradlab.render import line_chart

# %%
def layer(A, x):
  return tf.tanh(tf.linalg.matvec(A, x))

rng = np.random.default_rng(0)
n, m = 4, 3
A = tf.constant(rng.standard_normal((m, n)))
x = tf.constant(rng.standard_normal(n))
u = tf.constant(rng.standard_normal(n))  # a direction of the inputs
v = tf.constant(rng.standard_normal(m))  # a weighting of the outputs

def f(x):
  return layer(A, x)

with tf.autodiff.ForwardAccumulator(primals=x, tangents=u) as acc:
  y = f(x)
jvp = acc.jvp(y)

with tf.GradientTape() as tape:
  tape.watch(x)
  y = f(x)
vjp = tape.gradient(y, x, output_gradients=v)
print("J @ u from forward mode:", jvp.numpy())
print("v @ J from reverse mode:", vjp.numpy())

# %% [markdown]
# By hand, `J = (1 - y**2)[:, None] * A` (the derivative of `tanh` is `1 - tanh**2`). Numerically,
# `J @ u` is the derivative of `f(x + t*u)` in the one number `t`, and `v @ J` is the gradient of
# the scalar `v . f(x)`:

# %%
J = (1 - y.numpy() ** 2)[:, None] * A.numpy()
(
    gradlab.compare(lambda t: f(x + t * u), 0.0, tape=[jvp],
                    analytic=[J @ u.numpy()], names=["J u"])
    + gradlab.compare(lambda x: tf.reduce_sum(v * f(x)), x, tape=[vjp],
                      analytic=[v.numpy() @ J], names=["v J"])
)

# %% [markdown]
# ## The whole Jacobian, both ways
#
# Forward mode gives one *column* of `J` per pass (`u` = each unit vector of the inputs: `n`
# passes); reverse mode gives one *row* per pass (`v` = each unit vector of the outputs: `m`
# passes). Each pass evaluates `f` once together with its derivative, so here both are traced
# with `tf.function` to make one pass cost the same small amount either way.

# %%
@tf.function(reduce_retracing=True)
def jvp_of(A, x, u):
  with tf.autodiff.ForwardAccumulator(primals=x, tangents=u) as acc:
    y = layer(A, x)
  return acc.jvp(y)

@tf.function(reduce_retracing=True)
def vjp_of(A, x, v):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer(A, x)
  return tape.gradient(y, x, output_gradients=v)

def forward_jacobian(A, x):
  columns = [jvp_of(A, x, e) for e in tf.eye(x.shape[0], dtype=x.dtype)]
  return tf.stack(columns, axis=1)

def reverse_jacobian(A, x):
  rows = [vjp_of(A, x, e) for e in tf.eye(A.shape[0], dtype=x.dtype)]
  return tf.stack(rows)

J_forward = forward_jacobian(A, x)
J_reverse = reverse_jacobian(A, x)
agree = np.abs(J_forward.numpy() - J_reverse.numpy()).max()
print(f"largest |forward - reverse| over the {m}x{n} Jacobian: {agree:.1e}")

# %%
gradlab.compare(f, x, tape=[J_forward], analytic=[J], names=["J"])

# %% [markdown]
# ## What each costs
#
# With `m` outputs fixed, the time forward mode needs for the Jacobian grows with the number of
# inputs `n`, while reverse mode's stays put. The times below are measured on this machine (the
# best of a few runs), so they differ from run to run; the shape of the curves is what to look at.

# %%
def seconds(build, A, x, repeats=7):
  build(A, x)  # the first call traces
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    build(A, x)
    best = min(best, time.perf_counter() - start)
  return best

outputs = 16
inputs = [2, 4, 8, 16, 32, 64]
times = {"forward": [], "reverse": []}
largest_gap = 0.0
for n_in in inputs:
  A_n = tf.constant(rng.standard_normal((outputs, n_in)))
  x_n = tf.constant(rng.standard_normal(n_in))
  times["forward"].append(seconds(forward_jacobian, A_n, x_n))
  times["reverse"].append(seconds(reverse_jacobian, A_n, x_n))
  gap = forward_jacobian(A_n, x_n) - reverse_jacobian(A_n, x_n)
  largest_gap = max(largest_gap, float(tf.reduce_max(tf.abs(gap))))

print(f"m = {outputs} outputs")
print("n inputs   forward (n JVPs)   reverse (m VJPs)")
for k, n_in in enumerate(inputs):
  print(f"{n_in:>8}   {times['forward'][k] * 1e3:13.2f} ms"
        f"   {times['reverse'][k] * 1e3:13.2f} ms")
print(f"the two Jacobians agree to {largest_gap:.1e} at every size")

# %%
milliseconds = {name: np.array(t) * 1e3 for name, t in times.items()}
print(f"milliseconds against n, for m = {outputs}:")
line_chart({"forward (n JVPs)": (inputs, milliseconds["forward"]),
            "reverse (m VJPs)": (inputs, milliseconds["reverse"])},
           width=56, height=12,
           markers={"forward (n JVPs)": "F", "reverse (m VJPs)": "R"})

# %% [markdown]
# The curves cross where `n` is about `m`. A loss is one number (`m = 1`) of many parameters, so
# training uses reverse mode: one backward pass gives the whole gradient. Forward mode wins for
# few inputs and many outputs, and needs no record of the computation, so its memory does not
# grow with the length of the computation.

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: a Jacobian-vector product
#
# For `f(x) = [x0*x1, x0 + x1]` at `x = [2, 3]`, predict the JVP that
# `tf.autodiff.ForwardAccumulator` gives along `u = [1, 0]`.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(13, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: a vector-Jacobian product
#
# For the same `f` and `x`, predict `tape.gradient(y, x, output_gradients=v)` with `v = [1, -1]`.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(13, 2).check(prediction)
