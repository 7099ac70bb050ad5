"""The chain rule with a persistent tape

y2 depends on w1 through y1: the tape applies the chain rule; a persistent tape answers many calls.
"""

# %% [markdown]
# ## Illustration 3: the chain rule through two steps
#
# Two steps, like two layers of a tiny network: `y1 = x*w1 + b1`, then `y2 = y1*w2 + b2`. The
# chain rule says `dy2/dw1 = dy2/dy1 * dy1/dw1`. A tape can only be asked for gradients once,
# unless it is created with `persistent=True`.

# %%
import gradlab  # first: TensorFlow's start-up log lines then stay hidden
import tensorflow as tf

# %%
x = tf.constant(1.); w1 = tf.constant(2.); b1 = tf.constant(1.)
w2 = tf.constant(2.); b2 = tf.constant(1.)
# persistent=True: one recording answers several tape.gradient calls
with tf.GradientTape(persistent=True) as tape:
  tape.watch([w1, b1, w2, b2])
  y1 = x * w1 + b1
  y2 = y1 * w2 + b2

# %%
dy2_dy1 = tape.gradient(y2, [y1])[0]
dy1_dw1 = tape.gradient(y1, [w1])[0]
dy2_dw1 = tape.gradient(y2, [w1])[0]
dy2_dw2 = tape.gradient(y2, [w2])[0]
dy2_db2 = tape.gradient(y2, [b2])[0]
dy1_db1 = tape.gradient(y1, [b1])[0]
# the chain rule: dy2/dy1 * dy1/dw1, and what the tape gives for dy2/dw1
print(dy2_dy1 * dy1_dw1); print(dy2_dw1)

# %% [markdown]
# Each of these gradients, checked against a numeric estimate and the exact value. Every row
# differentiates a small function of the one input it is about, with the other values held fixed:
# for example `dy2/dy1` treats `y2 = y1*w2 + b2` as a function of `y1`, so its exact value is `w2`.

# %%
(
    gradlab.compare(lambda y1: y1 * w2 + b2, y1,
                    tape=[dy2_dy1], analytic=[w2], names=["dy2/dy1"])
    + gradlab.compare(lambda w1: x * w1 + b1, w1,
                      tape=[dy1_dw1], analytic=[x], names=["dy1/dw1"])
    + gradlab.compare(lambda w1: (x * w1 + b1) * w2 + b2, w1,
                      tape=[dy2_dw1], analytic=[x * w2], names=["dy2/dw1"])
    + gradlab.compare(lambda w2: y1 * w2 + b2, w2,
                      tape=[dy2_dw2], analytic=[y1], names=["dy2/dw2"])
    + gradlab.compare(lambda b2: y1 * w2 + b2, b2,
                      tape=[dy2_db2], analytic=[1.0], names=["dy2/db2"])
    + gradlab.compare(lambda b1: x * w1 + b1, b1,
                      tape=[dy1_db1], analytic=[1.0], names=["dy1/db1"])
)

# %%
product = float(dy2_dy1) * float(dy1_dw1)
direct = float(dy2_dw1)
verdict = "the chain rule holds" if product == direct else "they differ"
print(f"dy2/dy1 * dy1/dw1 = {float(dy2_dy1)} * {float(dy1_dw1)}")
print(f"                  = {product}")
print(f"dy2/dw1 from the tape = {direct}: {verdict}.")

# %% [markdown]
# ## Release a persistent tape
#
# A persistent tape keeps every intermediate tensor it recorded alive, so that it can answer the
# next `tape.gradient` call. Nothing is freed until the tape itself goes away, so delete it as
# soon as the last gradient is computed:

# %%
del tape

# %% [markdown]
# A tape created without `persistent=True` frees those tensors as soon as `tape.gradient` returns,
# so a second call fails:

# %%
with tf.GradientTape() as tape:
  tape.watch([w1])
  y1 = x * w1 + b1
  y2 = y1 * w2 + b2
print(tape.gradient(y2, w1))
try:
  tape.gradient(y1, w1)
except RuntimeError as error:
  print("RuntimeError:", error)
