"""Putting it together

Fit a tiny network with a tape and an optimizer, gradient-checked at the first step, and draw the loss.
"""

# %% [markdown]
# ## Data and a model
#
# A small regression problem: two input features, one noisy target, and a network with one hidden
# layer of `tanh` units. Everything is float64 and seeded, so every run gives the same numbers.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from gradlab.render import line_chart

# %%
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
features = rng.uniform(-2, 2, size=(64, 2))
noise = 0.05 * rng.standard_normal((64, 1))
targets = np.sin(features[:, :1]) + 0.5 * features[:, 1:] + noise

model = keras.Sequential([
    keras.Input(shape=(2,), dtype="float64"),
    keras.layers.Dense(8, activation="tanh", dtype="float64"),
    keras.layers.Dense(1, dtype="float64"),
])

def loss():
  predictions = model(features)
  return tf.reduce_mean((predictions - targets) ** 2)

names = ["W1", "b1", "W2", "b2"]
for name, variable in zip(names, model.trainable_variables):
  print(f"{name}: {tuple(variable.shape)}")

# %% [markdown]
# ## Check the gradient before trusting it
#
# Before the first step, `gradlab.check` compares the tape's gradient of the loss with finite
# differences for every entry of every variable (it nudges the variables themselves, and puts
# them back exactly as they were):

# %%
first_check = gradlab.check(loss, variables=model.trainable_variables,
                            names=names)
first_check

# %% [markdown]
# The last layer is simple enough to do by hand. With hidden activations `h`, predictions
# `h @ W2 + b2` and residuals `r = predictions - targets`, the mean squared error has
# `dL/dW2 = 2 * h.T @ r / N` and `dL/db2 = 2 * mean(r)`:

# %%
with tf.GradientTape() as tape:
  first_loss = loss()
first_grads = tape.gradient(first_loss, model.trainable_variables)

hidden = model.layers[0](features).numpy()
residual = model(features).numpy() - targets
W2, b2 = (v.numpy() for v in model.layers[1].trainable_variables)

def last_layer_loss(W2, b2):
  return tf.reduce_mean((hidden @ W2 + b2 - targets) ** 2)

gradlab.compare(last_layer_loss, W2, b2,
                tape=[first_grads[2], first_grads[3]],
                analytic=[2 * hidden.T @ residual / len(features),
                          2 * residual.mean(axis=0)],
                names=["dL/dW2", "dL/db2"])

# %% [markdown]
# ## Training
#
# Each step records the loss on a tape, asks it for the gradient of every trainable variable,
# and lets the optimizer (Adam) move the variables against it. `tf.function` traces the step once
# so the loop runs quickly.

# %%
optimizer = keras.optimizers.Adam(learning_rate=0.05)

@tf.function
def train_step():
  with tf.GradientTape() as tape:
    value = loss()
  grads = tape.gradient(value, model.trainable_variables)
  optimizer.apply_gradients(zip(grads, model.trainable_variables))
  return value

losses = [float(train_step()) for step in range(200)]
print(f"loss at the first step: {losses[0]:.4f}")
print(f"loss after {len(losses)} steps: {float(loss()):.4f}")

# %% [markdown]
# The loss on a log scale, step by step:

# %%
steps = np.arange(len(losses))
line_chart({"loss": (steps, losses)}, logy=True, width=60, height=13)

# %% [markdown]
# The same curve as a matplotlib figure. The figure is closed right after it is drawn, so it
# appears only where it is displayed: in the notebook as a picture, in the terminal as a short
# description.

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(steps, losses)
ax.set_xlabel("step")
ax.set_ylabel("mean squared error")
ax.set_title("training loss")
ax.grid(True, which="both", alpha=0.3)
plt.close(fig)
fig

# %% [markdown]
# ## Check again where training stopped
#
# A gradient that is right at the start can still go wrong elsewhere (saturated units, large
# weights), so the check is cheap insurance at the end too:

# %%
last_check = gradlab.check(loss, variables=model.trainable_variables,
                           names=names)
print(f"check after training passes: {last_check.ok}; largest relative "
      f"error {last_check.max_rel_error:.1e}")

# %% [markdown]
# ## Exercises
#
# Each cell below grades your answer: replace `...`, or fix the function, then run the cell.
# `gradlab.exercise(lesson, number).solution()` shows a solution.

# %% [markdown]
# ### Exercise 1: the gradient of a mean squared error
#
# For the data in the cell and `L(w, b) = mean((w*x + b - t)**2)`, write `dL/dw` as a function of
# `w` and `b`.

# %%
# L(w, b) = mean((w*x + b - t)**2) over this data
x_data = np.array([1., 2., 3.])
t_data = np.array([1., 3., 2.])

def dL_dw(w, b):
  return ...

gradlab.exercise(14, 1).check(dL_dw)

# %% [markdown]
# ### Exercise 2: one step of gradient descent
#
# Predict `w` after one step `w - dL/dw / 10` from `w = b = 0`:
#
# ```python
# w, b = tf.Variable(0.), tf.Variable(0.)
# x = tf.constant([1., 2.])
# t = tf.constant([2., 4.])
# with tf.GradientTape() as tape:
#   loss = tf.reduce_mean((w * x + b - t) ** 2)
# dw, db = tape.gradient(loss, [w, b])
# w.assign_sub(dw / 10)
# ```

# %%
# your prediction: replace ... with your answer, then run the cell
prediction = ...
gradlab.exercise(14, 2).check(prediction)
