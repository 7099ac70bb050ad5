"""Higher-order derivatives

Nested tapes give second derivatives, Hessians and Hessian-vector products, each checked numerically.
"""

# %% [markdown]
# ## A second derivative with nested tapes
#
# A tape records the operations that run inside its block, and that includes the work another tape
# does in `gradient`. So an outer tape can differentiate the gradient that an inner tape computed:
# `y = x**3` has `dy/dx = 3*x**2` and `d2y/dx2 = 6*x`.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import numpy as np
import tensorflow as tf

# %%
x = tf.Variable(1.5, dtype=tf.float64)
with tf.GradientTape() as outer:
  with tf.GradientTape() as inner:
    y = x ** 3
  dy_dx = inner.gradient(y, x)
d2y_dx2 = outer.gradient(dy_dx, x)
print(f"dy/dx = {float(dy_dx)}, d2y/dx2 = {float(d2y_dx2)}, "
      f"6x = {6 * float(x)}")

# %% [markdown]
# For the numeric side, the first derivative becomes a function of `x` (the tape inside it), and
# `gradlab.compare` takes finite differences of that function:

# %%
def first_derivative(x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = x ** 3
  return tape.gradient(y, x)

gradlab.compare(first_derivative, x, tape=[d2y_dx2], analytic=[6 * x],
                names=["d2y/dx2"])

# %% [markdown]
# The classic estimate needs only values of `y`: the *central second difference*
# `(y(x+h) - 2*y(x) + y(x-h)) / h**2`. Round-off is now divided by `h**2`, so the best step is
# larger than for a first derivative, and the result is less precise:

# %%
def cube(x):
  return x ** 3

for h in [1e-2, 1e-4, 1e-6]:
  second = (cube(x + h) - 2 * cube(x) + cube(x - h)) / h**2
  print(f"h = {h:.0e}: {float(second):.12f}, "
        f"off by {abs(float(second) - 6 * float(x)):.1e}")

# %% [markdown]
# ## A Hessian: the Jacobian of the gradient
#
# For a function of a vector, the second derivatives form the *Hessian* matrix
# `H[i, j] = d2f / dx[i] dx[j]`. The inner tape gives the gradient, a vector; the outer tape's
# `jacobian` differentiates each of its entries.

# %%
def f(x):
  return x[0]**2 * x[1] + x[1] * tf.sin(x[2])

x = tf.constant([1.0, 2.0, 0.5], dtype=tf.float64)
with tf.GradientTape() as outer:
  outer.watch(x)
  with tf.GradientTape() as inner:
    inner.watch(x)
    y = f(x)
  grad = inner.gradient(y, x)
hessian = outer.jacobian(grad, x)
hessian

# %% [markdown]
# By hand, with `f = x0**2 * x1 + x1 * sin(x2)`, and numerically as the Jacobian of the gradient
# (finite differences of the tape's gradient, column by column):

# %%
x0, x1, x2 = x.numpy()
exact = np.array([[2 * x1, 2 * x0, 0],
                  [2 * x0, 0, np.cos(x2)],
                  [0, np.cos(x2), -x1 * np.sin(x2)]])

def gradient(x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = f(x)
  return tape.gradient(y, x)

gradlab.compare(gradient, x, tape=[hessian], analytic=[exact],
                names=["H"])

# %% [markdown]
# As pictures: the tape's Hessian, the finite-difference one, and their difference on its own
# scale. The first two are symmetric; the difference is noise far below the entries.

# %%
numeric_hessian = gradlab.numeric_gradient(gradient, x).value[0]
gradlab.matrix_maps(hessian, numeric_hessian, "the Hessian of f at x")

# %% [markdown]
# Second derivatives do not depend on the order of differentiation (for smooth `f`), so the
# Hessian is symmetric. The same matrix also follows from values of `f` alone, by central
# second differences in two directions at once:

# %%
def second_differences(f, x, h=1e-4):
  n = x.shape[0]
  step = h * np.eye(n)
  def at(*moves):
    return float(f(x + sum(moves)))
  return np.array([[(at(step[i], step[j]) - at(step[i], -step[j])
                     - at(-step[i], step[j]) + at(-step[i], -step[j]))
                    / (4 * h * h) for j in range(n)] for i in range(n)])

from_values = second_differences(f, x)
H = hessian.numpy()
print(f"largest |H - H.T|: {np.abs(H - H.T).max():.1e}")
print(f"largest |H - second differences|: "
      f"{np.abs(H - from_values).max():.1e}")
print(f"largest |H - exact|: {np.abs(H - exact).max():.1e}")

# %% [markdown]
# ## Hessian-vector products
#
# A Hessian of `n` inputs takes `n` gradient computations. Often only `H @ v` is needed (Newton
# and conjugate-gradient steps, curvature along a direction), and that costs about two: take the
# gradient of `grad . v`, which is still a scalar. The dot product is computed inside the outer
# tape so that it is recorded.

# %%
v = tf.constant([1.0, -1.0, 2.0], dtype=tf.float64)
with tf.GradientTape() as outer:
  outer.watch(x)
  with tf.GradientTape() as inner:
    inner.watch(x)
    y = f(x)
  grad = inner.gradient(y, x)
  grad_dot_v = tf.reduce_sum(grad * v)
hvp = outer.gradient(grad_dot_v, x)
hvp

# %% [markdown]
# `H @ v` is the derivative of the gradient along `v`: `d/dt gradient(x + t*v)` at `t = 0`. Finite
# differences in the one number `t` estimate it:

# %%
gradlab.compare(lambda t: gradient(x + t * v), 0.0,
                tape=[hvp], analytic=[exact @ v.numpy()], names=["Hv"])

# %%
difference = np.abs(hvp.numpy() - H @ v.numpy()).max()
print(f"largest |hvp - H @ v|: {difference:.1e}")

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: a second derivative
#
# Predict what two nested tapes give for `d2y/dx2` of `y = x**4` at `x = 2`.

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(10, 1).check(prediction)

# %% [markdown]
# ### Exercise 2: an outer tape that saw nothing
#
# This function should return the second derivative of `x**3` at `x = 2`, but it returns `None`.
# Fix it.

# %%
def second_derivative():
  x = tf.Variable(2.)
  with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
      y = x ** 3
  dy_dx = inner.gradient(y, x)
  return outer.gradient(dy_dx, x)

gradlab.exercise(10, 2).check(second_derivative)
