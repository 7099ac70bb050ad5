"""Benchmark of gradlab.locate against one full gradlab.check of the same loss, on a Keras MLP and a small CNN.

Run: python benchmarks/bench_locate.py [--json FILE]

Each model is float32 with seeded weights; the loss is a mean squared error on a fixed batch. For each model
this prints the number of ops in the loss's graph and how many locate checked alone, locate's time, and the
time of one full gradlab.check of the same loss (with respect to the input batch, and with respect to every
weight in variables mode), with the ratios. The target: locate on hundreds of ops in seconds.
"""

import argparse
import json
import os
import time

from gradlab._tf import tf  # first TensorFlow import: quiet start-up

import keras
import numpy as np
from rich.console import Console
from rich.table import Table

import gradlab

TARGET_SECONDS = 10.0


def mlp():
    keras.utils.set_random_seed(0)
    layers = [keras.Input((16,))]
    for k in range(24):
        layers.append(keras.layers.Dense(16, activation=("relu", "tanh")[k % 2]))
    model = keras.Sequential(layers + [keras.layers.Dense(1)])
    return "MLP, 24 Dense(16) layers", model, np.random.default_rng(0).standard_normal((8, 16)).astype("float32")


def cnn():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.BatchNormalization(),
        keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.LayerNormalization(),
        keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"), keras.layers.Dropout(0.2),
        keras.layers.Dense(1)])
    return "CNN, 3 Conv2D + norms + Dense", model, np.random.default_rng(0).standard_normal((4, 12, 12, 3)).astype(
        "float32")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure(name, model, batch):
    x = tf.constant(batch)
    target = tf.constant(np.random.default_rng(1).standard_normal((batch.shape[0], 1)).astype("float32"))

    def of_input(x):
        return tf.reduce_mean((model(x, training=False) - target) ** 2)

    def of_weights():
        return tf.reduce_mean((model(x, training=False) - target) ** 2)

    row = {"model": name, "parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
           "input_entries": int(batch.size)}
    row["locate_s"], location = timed(lambda: gradlab.locate(of_input, x))
    row["graph_ops"], row["checked_ops"], row["located_ok"] = location.total_ops, len(location.ops), location.ok
    row["check_input_s"], _ = timed(lambda: gradlab.check(of_input, x, mode="full"))
    row["locate_variables_s"], by_weights = timed(lambda: gradlab.locate(of_weights, variables=model.trainable_variables))
    row["checked_ops_variables"] = len(by_weights.ops)
    row["check_variables_s"], _ = timed(lambda: gradlab.check(of_weights, variables=model.trainable_variables,
                                                              mode="full", max_evaluations=10**7))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this file")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    rows = [measure(*case()) for case in (mlp, cnn)]
    table = Table(title=f"gradlab.locate against one full gradlab.check (float32; load {load:.1f} → "
                        f"{os.getloadavg()[0]:.1f})")
    for heading in ("model", "with respect to", "ops checked", "locate", "full check", "locate/check", "target"):
        table.add_column(heading, justify="left" if heading in ("model", "with respect to") else "right")
    for r in rows:
        model = f"{r['model']}: {r['graph_ops']} ops, {r['parameters']:,} weights"
        for what, ops, located, checked in (
                (f"input ({r['input_entries']:,} entries)", r["checked_ops"], r["locate_s"], r["check_input_s"]),
                ("every weight", r["checked_ops_variables"], r["locate_variables_s"], r["check_variables_s"])):
            met = "PASS" if located <= TARGET_SECONDS else "MISS"
            table.add_row(model, what, str(ops), f"{located:.2f} s", f"{checked:.2f} s", f"{located / checked:.2f}×",
                          f"{met} ≤ {TARGET_SECONDS:g} s")
            model = ""
    Console(width=max(Console().width, 120)).print(table)
    if options.json:
        with open(options.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
