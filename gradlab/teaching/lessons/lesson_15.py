"""Finding the op that makes a gradient wrong

gradlab.locate checks every op of a model alone and names the one whose gradient is wrong, and where a NaN starts.
"""

# %% [markdown]
# ## A model with a mistake in it
#
# A custom layer scales its input by a learned vector `w`, and brings its own gradient with
# `tf.custom_gradient`, as layers with a hand-written backward pass do. The gradient for the input is
# right; the gradient for `w` has a planted mistake, a factor 2 that does not belong there.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import keras
import numpy as np
import tensorflow as tf

# %%
class Scale(keras.layers.Layer):
  """y = x * w, one weight per feature, with a hand-written gradient."""

  def build(self, input_shape):
    self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                             dtype=self.dtype)

  def call(self, x):
    w = self.w.value

    @tf.custom_gradient
    def scale(x):
      def grad(dy, variables=()):
        dx = dy * w
        # the mistake: d(x * w)/dw is x, not 2x
        dw = 2.0 * tf.reduce_sum(dy * x, axis=0)
        return dx, [dw]
      return x * w, grad

    return scale(x)

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input(shape=(3,), dtype="float64"),
    keras.layers.Dense(4, activation="tanh", dtype="float64"),
    Scale(dtype="float64", name="scale"),
    keras.layers.Dense(1, dtype="float64"),
])
features = np.random.default_rng(0).standard_normal((8, 3))
targets = np.random.default_rng(1).standard_normal((8, 1))

def loss():
  return tf.reduce_mean((model(features) - targets) ** 2)

# %% [markdown]
# ## The check says the gradient is wrong, not where
#
# `gradlab.check` compares the tape's gradient for every weight with finite differences. It fails,
# and the worst entries point at the `scale` layer's weight, but in a real model the wrong value
# could come from any op between the weight and the loss:

# %%
wrong_check = gradlab.check(loss, variables=model.trainable_variables)
print("check passes:", wrong_check.ok)
print("inputs that fail:", [r.name for r in wrong_check.inputs if not r.ok])

# %% [markdown]
# ## locate checks each op alone
#
# `gradlab.locate` traces the loss into a graph and runs it once, keeping every value. Then it takes
# each op on the way from the weights to the loss and checks that op's gradient alone, at the values
# the op saw inside the model: its gradient as TensorFlow registered it (or as a custom gradient
# replaced it) against finite differences of the op re-run with its inputs fed. The op whose own
# gradient is wrong is named, with its layer and the line that made it:

# %%
location = gradlab.locate(loss, variables=model.trainable_variables)
location

# %%
culprit = location.wrong[0]
print(f"wrong: {culprit.type} ({culprit.kind}) in layer {culprit.layer}")
passing = [op for op in location.ops if op.state == "ok"]
print(f"checked alone: {len(location.ops)} ops, {len(passing)} ok")

# %% [markdown]
# ## The fix
#
# The derivative of `x * w` with respect to `w` is `x`, summed over the batch. With the factor 2
# gone, both the check and locate pass:

# %%
def fixed_call(self, x):
  w = self.w.value

  @tf.custom_gradient
  def scale(x):
    def grad(dy, variables=()):
      return dy * w, [tf.reduce_sum(dy * x, axis=0)]
    return x * w, grad

  return scale(x)

Scale.call = fixed_call
fixed_check = gradlab.check(loss, variables=model.trainable_variables)
fixed_location = gradlab.locate(loss, variables=model.trainable_variables)
print("check passes:", fixed_check.ok, "  locate finds nothing wrong:",
      fixed_location.ok)

# %% [markdown]
# By hand, with hidden values `h`, the layer's output `h * w`, the last layer's kernel `W2` and the
# residuals `r = prediction - target`, the mean squared error has `dL/dw = 2 * mean(r * W2 * h)`
# over the batch. The layer's own gradient now agrees with it and with finite differences:

# %%
with tf.GradientTape() as tape:
  fixed_loss = loss()
layer_gradient = tape.gradient(fixed_loss, model.layers[1].w)

h = model.layers[0](features).numpy()
W2 = model.layers[2].kernel.numpy()[:, 0]
w = model.layers[1].w.numpy()
r = (h * w) @ W2 + model.layers[2].bias.numpy()[0] - targets[:, 0]
by_hand = 2 * (r[:, None] * W2 * h).mean(axis=0)

def loss_at(w):
  prediction = model.layers[2](model.layers[0](features) * w)
  return tf.reduce_mean((prediction - targets) ** 2)

gradlab.compare(loss_at, w, tape=[layer_gradient], analytic=[by_hand],
                names=["w"])

# %% [markdown]
# ## A NaN gradient from the branch tf.where did not take
#
# `tf.where(x > 0, tf.math.log(x), 0)` looks safe: where `x <= 0` the result is `0`. The value is
# finite, but the gradient is not. `tf.where` passes a gradient of 0 to the branch it did not
# select, and the tape still differentiates that branch: at `x = 0` that is `0 × (1/0) = nan`.

# %%
x = tf.constant([-1.0, 0.0, 2.0], dtype=tf.float64)

def guarded_log(x):
  return tf.reduce_sum(tf.where(x > 0, tf.math.log(x), 0.0))

with tf.GradientTape() as tape:
  tape.watch(x)
  y = guarded_log(x)
print("value:", float(y), "  gradient:", tape.gradient(y, x).numpy())

# %% [markdown]
# locate follows the NaN back to where it starts, forward (the first value that is not finite) and
# backward (the first op whose gradient is not finite although what it received was), and names the
# cause:

# %%
nan_location = gradlab.locate(guarded_log, x)
nan_location

# %% [markdown]
# The safe form gives the op a harmless input where the branch is not taken, so that neither its
# value nor its gradient is ever infinite:

# %%
def safe_log(x):
  harmless = tf.where(x > 0, x, 1.0)
  return tf.reduce_sum(tf.where(x > 0, tf.math.log(harmless), 0.0))

with tf.GradientTape() as tape:
  tape.watch(x)
  y = safe_log(x)
safe_gradient = tape.gradient(y, x)
print("value:", float(y), "  gradient:", safe_gradient.numpy())
print("locate finds nothing wrong:", gradlab.locate(safe_log, x).ok)

# %% [markdown]
# The folklore example is `tf.sqrt` in the same place. This version of TensorFlow already makes the
# gradient of `tf.sqrt` zero where it receives zero, so that one is safe; the same square root
# written as a power is not:

# %%
branches = [("tf.sqrt(x)", tf.sqrt), ("x ** 0.5", lambda x: x**0.5)]
for name, branch in branches:
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.reduce_sum(tf.where(x > 0, branch(x), 0.0))
  print(f"{name:>10}: gradient", tape.gradient(y, x).numpy())

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: a NaN from the branch tf.where did not take
#
# This function should return the gradient of the guarded square root, `1/(2*sqrt(x))` where `x >
# 0` and zero elsewhere. It returns NaN; fix it.

# %%
def sqrt_gradient():
  x = tf.constant([-1., 0., 4.])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.reduce_sum(tf.where(x > 0, x ** 0.5, 0.))
  return tape.gradient(y, x)

gradlab.exercise(15, 1).check(sqrt_gradient)

# %% [markdown]
# ### Exercise 2: the scale layer's gradient
#
# `scale(x, w) = x * w` scales a batch `x` (one row per example) by one weight per feature.
# Complete its custom gradient: `grad(dy)` returns the gradient for `x` and the one for `w`. The
# grader compares the whole Jacobian for both with the tape's.

# %%
@tf.custom_gradient
def scale(x, w):
  def grad(dy):
    return dy * w, ...  # the gradient for w
  return x * w, grad

gradlab.exercise(15, 2).check(scale)
