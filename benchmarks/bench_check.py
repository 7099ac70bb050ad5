"""Benchmark of gradlab.check against tf.test.compute_gradient, numdifftools and a plain tape gradient: time, accuracy, memory.

Run: python benchmarks/bench_check.py [--quick] [--repeat K] [--no-ops] [--json FILE]

All tools run in one process, on the same functions, in float64. Before anything is timed TensorFlow is
warmed up once (an unrelated tf.function and an eager op) and gradlab's modules are imported, so the
process's one-time start-up is not charged to whichever tool runs first, and each case's f is called once
(its eager kernels are shared by all tools). "first call" builds a fresh Python
function (and, for the MLP, a fresh model with the same weights) for each tool, so no tf.function, Keras or
gradlab trace from another call is reused.

The floor of a full check is the time of its 4n evaluations of f alone (Richardson and central; 2n forward): f under
tf.vectorized_map over chunks of perturbed points of the size gradlab uses, XLA where gradlab would compile,
traced and compiled before timing. gradlab's time over the floor is what its tracing, checks and bookkeeping
add to that.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

from gradlab._tf import tf  # first TensorFlow import: quiet start-up

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import gradlab

DTYPE = np.float64
SCALAR_SIZES = (100, 1000, 10_000)
QUICK_SCALAR_SIZES = (100, 1000)
NUMDIFFTOOLS_SIZES = (100, 1000)
ELEMENTWISE_SIZE = 1000
MLP_LAYERS = (256, 1024, 768, 10)
MLP_BATCH = 64
MEMORY_SIZES = (1000, 10_000)
#: f evaluations per entry in a full check (richardson): the floor's count.
EVALUATIONS_PER_ENTRY = 4
#: compute_gradient is run once (first call only) at and above this size: ~10 s per call.
SINGLE_CALL_FROM = 10_000

TARGETS = {
    "full_speed_100": 1.0,
    "full_speed_1000": 5.0,
    "full_speed_10000": 10.0,
    "floor_10000": 1.5,
    "error_ratio": 1000.0,
    "fast_vs_tape": 3.0,
    "rel_error": 1e-10,
    "variables_speedup": 20.0,  # against VARIABLES_BEFORE_S
    "variables_vs_arguments": 2.0,
    "conv_full_s": 10.0,
    "ops_vs_compute_gradient": 1.0,  # every op of the op table, first calls
}
#: Full mode on the 771-parameter MLP's variables when they were evaluated one eager call per perturbation
#: (the measurement the variables target is set against).
VARIABLES_BEFORE_S = 13.0


# measuring ------------------------------------------------------------------------------------------------------


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median_time(fn, k):
    times = []
    out = None
    for _ in range(k):
        seconds, out = timed(fn)
        times.append(seconds)
    return (statistics.median(times) if times else None), times, out


def _status_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _release_free_memory():
    """Return freed heap memory to the OS (glibc malloc_trim), so a call's peak is not hidden by reuse."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    _release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def peak_rss_increase(fn):
    """(result, bytes by which peak RSS rose above the RSS at the start of fn, how it was measured)."""
    if os.path.exists("/proc/self/status") and _reset_peak():
        before = _status_kb("VmRSS")
        out = fn()
        return out, (_status_kb("VmHWM") - before) * 1024, "VmHWM reset via /proc/self/clear_refs"
    import resource

    _release_free_memory()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = fn()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return out, (after - before) * scale, "ru_maxrss delta (only rises above the earlier peak count)"


def warm_up():
    """One unrelated tf.function and eager op, so TensorFlow's one-time start-up is charged to no tool."""

    @tf.function
    def unrelated(a):
        return tf.reduce_sum(tf.tanh(a @ tf.transpose(a)))

    a = tf.constant(np.linspace(0.0, 1.0, 64 * 32).reshape(64, 32))
    with tf.GradientTape() as tape:
        tape.watch(a)
        value = unrelated(a)
    tape.gradient(value, a).numpy()
    (tf.exp(a) * 2.0).numpy()
    gradlab.check  # imports gradlab's engine: module loading, not a call


# the evaluation floor ---------------------------------------------------------------------------------------------


def floor_seconds(make_f, x, per_entry=EVALUATIONS_PER_ENTRY):
    """The time of a full check's per_entry * n evaluations of f alone, each at x with one entry moved: f under
    tf.vectorized_map over chunks of gradlab's size, XLA where gradlab compiles, traced before timing."""
    from gradlab.engine.tolerances import CHUNK_ELEMENTS, XLA_THRESHOLD

    f = make_f()
    n = x.size
    outputs = tf.convert_to_tensor(f(tf.constant(x))).shape.num_elements()
    evaluations = per_entry * n
    rows = int(min(evaluations, max(1, CHUNK_ELEMENTS // max(n, outputs))))
    moved = np.tile(x, (rows, 1))
    moved[np.arange(rows), np.arange(rows) % n] += 1e-4
    moved = tf.constant(moved)
    batched = tf.function(lambda points: tf.vectorized_map(f, points), jit_compile=evaluations * n >= XLA_THRESHOLD)
    batched(moved).numpy()
    chunks = -(-evaluations // rows)
    start = time.perf_counter()
    for _ in range(chunks):
        batched(moved).numpy()
    return time.perf_counter() - start


# functions under test ---------------------------------------------------------------------------------------------


def make_scalar_tf():
    def f(x):
        return tf.reduce_sum(tf.sin(x) * x**2)

    return f


def scalar_np(x):
    return np.sum(np.sin(x) * x**2)


def scalar_grad(x):
    return np.cos(x) * x**2 + 2.0 * x * np.sin(x)


def make_elementwise_tf():
    def f(x):
        return tf.sin(x) * x

    return f


def elementwise_jacobian(x):
    return np.diag(np.cos(x) * x + np.sin(x))


def point(n, seed):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, n).astype(DTYPE)


# tools ------------------------------------------------------------------------------------------------------------


def run_gradlab(make_f, x):
    result = gradlab.check(make_f(), x)
    return {"numeric": np.asarray(result.numeric[0]), "tape": np.asarray(result.tape[0]), "ok": bool(result.ok),
            "evaluation": result.evaluation, "max_rel_error": float(result.max_rel_error)}


def run_compute_gradient(make_f, x):
    theoretical, numerical = tf.test.compute_gradient(make_f(), [tf.constant(x)])
    return {"numeric": np.asarray(numerical[0]), "tape": np.asarray(theoretical[0])}


def run_numdifftools(x):
    import numdifftools

    return {"numeric": np.asarray(numdifftools.Gradient(scalar_np)(x)), "tape": None}


def errors_against(out, analytic):
    numeric = np.reshape(out["numeric"], analytic.shape)
    diff = np.abs(numeric - analytic)
    nonzero = analytic != 0
    result = {
        "err_numeric": float(diff.max()),
        "rel_err_normwise": float(diff.max() / np.abs(analytic).max()),
        "rel_err_elementwise": float((diff[nonzero] / np.abs(analytic[nonzero])).max()),
        "err_tape": None,
    }
    if out.get("tape") is not None:
        result["err_tape"] = float(np.abs(np.reshape(out["tape"], analytic.shape) - analytic).max())
    return result


def bench_tool(case, n, tool, first, again, analytic, repeat, memory=None):
    """Time a first call and `repeat` more of one tool; errors are taken from the first call's output."""
    if memory is not None:
        (seconds, out), grew, how = peak_rss_increase(lambda: timed(first))
        memory.append({"case": case, "n": n, "tool": tool, "peak_rss_increase_bytes": grew, "how": how})
    else:
        seconds, out = timed(first)
    repeat_s, repeat_times, _ = median_time(again, repeat)
    row = {"case": case, "n": n, "tool": tool, "first_s": seconds, "repeat_s": repeat_s,
           "repeat_times_s": repeat_times, "repeat_k": repeat}
    row.update(errors_against(out, analytic))
    for key in ("ok", "evaluation", "max_rel_error"):
        if key in out:
            row[key] = out[key]
    return row


def scalar_case(n, repeat, memory):
    x = point(n, seed=n)
    make_scalar_tf()(tf.constant(x))  # f's eager kernels exist before either tool's first call
    analytic = scalar_grad(x)
    case = f"1 scalar n={n}"
    rows = []
    track = memory if n in MEMORY_SIZES else None
    rows.append(bench_tool(case, n, "gradlab", lambda: run_gradlab(make_scalar_tf, x),
                           lambda: run_gradlab(make_scalar_tf, x), analytic, repeat, track))
    rows[-1]["floor_s"] = floor_seconds(make_scalar_tf, x)
    cg_repeat = 0 if n >= SINGLE_CALL_FROM else repeat
    rows.append(bench_tool(case, n, "compute_gradient", lambda: run_compute_gradient(make_scalar_tf, x),
                           lambda: run_compute_gradient(make_scalar_tf, x), analytic, cg_repeat, track))
    if n in NUMDIFFTOOLS_SIZES:
        rows.append(bench_tool(case, n, "numdifftools", lambda: run_numdifftools(x),
                               lambda: run_numdifftools(x), analytic, repeat))
    return rows


def elementwise_case(n, repeat):
    x = point(n, seed=7)
    make_elementwise_tf()(tf.constant(x))  # f's eager kernels exist before either tool's first call
    analytic = elementwise_jacobian(x)
    case = f"2 Jacobian {n}→{n}"
    rows = [
        bench_tool(case, n, "gradlab", lambda: run_gradlab(make_elementwise_tf, x),
                   lambda: run_gradlab(make_elementwise_tf, x), analytic, repeat),
        bench_tool(case, n, "compute_gradient", lambda: run_compute_gradient(make_elementwise_tf, x),
                   lambda: run_compute_gradient(make_elementwise_tf, x), analytic, repeat),
    ]
    rows[0]["floor_s"] = floor_seconds(make_elementwise_tf, x)
    return rows


# the Keras MLP ----------------------------------------------------------------------------------------------------


def build_mlp(weights=None):
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input((MLP_LAYERS[0],), dtype="float64")]
    for width in MLP_LAYERS[1:-1]:
        layers.append(keras.layers.Dense(width, activation="tanh", dtype="float64"))
    layers.append(keras.layers.Dense(MLP_LAYERS[-1], dtype="float64"))
    model = keras.Sequential(layers)
    if weights is not None:
        model.set_weights(weights)
    return model


def mlp_loss(model, inputs, targets):
    return lambda: tf.reduce_mean((model(inputs) - targets) ** 2)


def tape_gradient_once(model, loss):
    with tf.GradientTape() as tape:
        value = loss()
    return [g.numpy() for g in tape.gradient(value, model.trainable_variables)]


def fast_row(result, row, tape_first, tape_warm):
    p = result.projection
    row.update(ok=bool(result.ok), evaluation=result.evaluation, projection_tape=float(p.tape),
               projection_numeric=float(p.numeric), projection_abs_error=float(abs(p.tape - p.numeric)),
               projection_rel_error=float(abs(p.tape - p.numeric) / abs(p.numeric)),
               projection_estimated_error=float(p.numeric_error))
    if row.get("first_s") is not None:
        row["first_over_tape"] = row["first_s"] / tape_first
    row["repeat_over_tape"] = row["repeat_s"] / tape_warm
    return row


def mlp_case(repeat):
    rng = np.random.default_rng(3)
    inputs = tf.constant(rng.standard_normal((MLP_BATCH, MLP_LAYERS[0])))
    targets = tf.constant(rng.standard_normal((MLP_BATCH, MLP_LAYERS[-1])))
    weights = build_mlp().get_weights()
    info = {"params": int(sum(w.size for w in weights)), "layers": list(MLP_LAYERS), "batch": MLP_BATCH,
            "loss": "MSE", "rows": []}

    tape_model = build_mlp(weights)
    tape_loss = mlp_loss(tape_model, inputs, targets)
    tape_first, _ = timed(lambda: tape_gradient_once(tape_model, tape_loss))
    tape_k = max(repeat, 3)
    tape_warm, tape_times, _ = median_time(lambda: tape_gradient_once(tape_model, tape_loss), tape_k)
    info["rows"].append({"tool": "tape gradient", "samples": None, "first_s": tape_first, "repeat_s": tape_warm,
                         "repeat_times_s": tape_times, "repeat_k": tape_k})

    check_model = build_mlp(weights)
    check_loss = mlp_loss(check_model, inputs, targets)

    def check(samples):
        return gradlab.check(check_loss, variables=check_model.trainable_variables, mode="fast", samples=samples)

    first_s, _ = timed(lambda: check(64))
    repeat_s, times, result = median_time(lambda: check(64), repeat)
    info["rows"].append(fast_row(result, {"tool": "gradlab fast", "samples": 64, "first_s": first_s,
                                          "repeat_s": repeat_s, "repeat_times_s": times, "repeat_k": repeat},
                                 tape_first, tape_warm))
    repeat_s, times, result = median_time(lambda: check(0), repeat)
    info["rows"].append(fast_row(result, {"tool": "gradlab fast", "samples": 0, "first_s": None,
                                          "repeat_s": repeat_s, "repeat_times_s": times, "repeat_k": repeat},
                                 tape_first, tape_warm))
    return info


# variables mode ---------------------------------------------------------------------------------------------------

VARIABLES_LAYERS = (8, 64, 3)
VARIABLES_BATCH = 32
#: A small float64 CNN of about 10,000 parameters: input shape, the Conv2D filters, the Dense width, outputs.
CONV_INPUT = (8, 8, 2)
CONV_FILTERS = (16, 16)
CONV_DENSE = 28
CONV_OUTPUTS = 3
CONV_BATCH = 8


def variables_case():
    """Full mode on a small Keras MLP's weights (variables=) against the same loss written as a function of its
    weights (arguments mode), and full mode on a small CNN's weights; first calls, fresh models."""
    import keras

    def build():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((VARIABLES_LAYERS[0],), dtype="float64"),
                                 keras.layers.Dense(VARIABLES_LAYERS[1], activation="tanh", dtype="float64"),
                                 keras.layers.Dense(VARIABLES_LAYERS[2], dtype="float64")])

    rng = np.random.default_rng(4)
    inputs = tf.constant(rng.standard_normal((VARIABLES_BATCH, VARIABLES_LAYERS[0])))
    targets = tf.constant(rng.standard_normal((VARIABLES_BATCH, VARIABLES_LAYERS[-1])))
    model = build()
    before = [v.numpy().tobytes() for v in model.trainable_variables]
    seconds, result = timed(lambda: gradlab.check(lambda: tf.reduce_mean((model(inputs) - targets) ** 2),
                                                  variables=model.trainable_variables))
    restored = [v.numpy().tobytes() for v in model.trainable_variables] == before
    weights = [w.numpy() for w in build().trainable_variables]

    def as_arguments(w1, b1, w2, b2):
        hidden = tf.tanh(tf.matmul(inputs, w1) + b1)
        return tf.reduce_mean((tf.matmul(hidden, w2) + b2 - targets) ** 2)

    arguments_seconds, arguments = timed(lambda: gradlab.check(as_arguments, *weights))
    conv = conv_case()
    return {"layers": list(VARIABLES_LAYERS), "params": int(sum(w.size for w in weights)),
            "variables_s": seconds, "variables_ok": bool(result.ok), "variables_evaluation": result.evaluation,
            "variables_restored": restored, "arguments_s": arguments_seconds, "arguments_ok": bool(arguments.ok),
            "arguments_evaluation": arguments.evaluation, "ratio": seconds / arguments_seconds,
            "speedup": VARIABLES_BEFORE_S / seconds, "conv": conv}


def conv_case():
    """Full mode on every weight of a small float64 CNN (two Conv2D, two Dense), first call."""
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input(CONV_INPUT, dtype="float64")]
    layers += [keras.layers.Conv2D(filters, 3, activation="tanh", dtype="float64") for filters in CONV_FILTERS]
    layers += [keras.layers.Flatten(dtype="float64"), keras.layers.Dense(CONV_DENSE, activation="tanh", dtype="float64"),
               keras.layers.Dense(CONV_OUTPUTS, dtype="float64")]
    model = keras.Sequential(layers)
    rng = np.random.default_rng(5)
    inputs = tf.constant(rng.standard_normal((CONV_BATCH, *CONV_INPUT)))
    targets = tf.constant(rng.standard_normal((CONV_BATCH, CONV_OUTPUTS)))
    before = [v.numpy().tobytes() for v in model.trainable_variables]
    seconds, result = timed(lambda: gradlab.check(lambda: tf.reduce_mean((model(inputs) - targets) ** 2),
                                                  variables=model.trainable_variables))
    return {"params": int(model.count_params()), "seconds": seconds, "ok": bool(result.ok),
            "evaluations": int(result.evaluations), "evaluation": result.evaluation,
            "restored": [v.numpy().tobytes() for v in model.trainable_variables] == before}


def variables_table(info):
    conv = info["conv"]
    table = Table(title=f"Case 5: full mode on Keras weights, first calls: an MLP {'→'.join(map(str, info['layers']))} "
                        f"({info['params']} float64 parameters) and a CNN ({conv['params']:,} parameters)",
                  title_justify="left")
    for name in ("how", "time", "ok", "restored", "f evaluated"):
        table.add_column(name, justify="right" if name == "time" else "left")
    table.add_row("MLP: check(loss, variables=model.trainable_variables)", fmt_s(info["variables_s"]),
                  str(info["variables_ok"]), str(info["variables_restored"]), escape(info["variables_evaluation"]))
    table.add_row("MLP: check(loss_of_weights, *weights)", fmt_s(info["arguments_s"]), str(info["arguments_ok"]),
                  "", escape(info["arguments_evaluation"]))
    table.add_row(f"CNN {CONV_INPUT} → Conv2D {CONV_FILTERS} → Dense {CONV_DENSE} → {CONV_OUTPUTS}, batch "
                  f"{CONV_BATCH}: check(loss, variables=...)", fmt_s(conv["seconds"]), str(conv["ok"]),
                  str(conv["restored"]), escape(conv["evaluation"]))
    return table


# the op table -----------------------------------------------------------------------------------------------------

OP_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests", "test_op_table.py")


def ops_case():
    """First calls of gradlab.check and compute_gradient on every float64 op of tests/test_op_table.py (the
    scalar sum(op(*args) * w) the tests check), each on a fresh function; None without that file."""
    import importlib.util

    if not os.path.exists(OP_TABLE):
        return None
    spec = importlib.util.spec_from_file_location("op_table", OP_TABLE)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    rows = []
    for name in table.NAMES:
        args = table.case_point(name, "float64", 0)
        op = table.CASES[name][0]
        seconds, result = timed(lambda: gradlab.check(table.scalar(op, args), *args))
        cg_seconds, _ = timed(lambda: tf.test.compute_gradient(table.scalar(op, args), [tf.constant(a) for a in args]))
        rows.append({"op": name, "entries": int(sum(np.size(a) for a in args)), "gradlab_s": seconds,
                     "compute_gradient_s": cg_seconds, "ratio": cg_seconds / seconds, "ok": bool(result.ok),
                     "evaluation": result.evaluation})
    rows.sort(key=lambda row: row["ratio"])
    return rows


def ops_table(rows, shown=12):
    ratios = np.array([row["ratio"] for row in rows])
    table = Table(title=f"Case 6: the op table ({len(rows)} float64 ops, small sizes), first calls: the "
                        f"{shown} with the lowest compute_gradient/gradlab time; median {np.median(ratios):.2f}×, "
                        f"{int(np.sum(ratios < 1))} slower than compute_gradient", title_justify="left")
    for name in ("op", "entries", "gradlab", "compute_gradient", "cg/gradlab", "ok", "f evaluated"):
        table.add_column(name, justify="left" if name in ("op", "ok", "f evaluated") else "right")
    for row in rows[:shown]:
        table.add_row(row["op"], str(row["entries"]), fmt_s(row["gradlab_s"]), fmt_s(row["compute_gradient_s"]),
                      fmt_x(row["ratio"]), str(row["ok"]), escape(row["evaluation"]))
    return table


# report -----------------------------------------------------------------------------------------------------------


def fmt_s(seconds):
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_e(value):
    return "—" if value is None else f"{value:.1e}"


def fmt_x(value):
    return "—" if value is None else f"{value:.1f}×" if value < 100 else f"{value:.3g}×"


def add_ratios(rows):
    by_case = {}
    for row in rows:
        by_case.setdefault(row["case"], {})[row["tool"]] = row
    for tools in by_case.values():
        cg = tools.get("compute_gradient")
        for row in tools.values():
            row["cg_over_tool_first"] = cg["first_s"] / row["first_s"] if cg else None
            both = cg and cg["repeat_s"] is not None and row["repeat_s"] is not None
            row["cg_over_tool_repeat"] = cg["repeat_s"] / row["repeat_s"] if both else None
            row["cg_err_over_tool_err"] = cg["err_numeric"] / row["err_numeric"] if cg and row["err_numeric"] else None


def accuracy_table(rows):
    table = Table(title="Cases 1–2: time and max |error| against the analytic gradient (float64)", title_justify="left")
    for name, justify in (("case", "left"), ("tool", "left"), ("first call", "right"), ("repeated (median)", "right"),
                          ("floor", "right"), ("1st ÷ floor", "right"), ("numeric err", "right"), ("tape err", "right"),
                          ("cg/tool time 1st", "right"), ("cg/tool time rep", "right"), ("cg/tool err", "right")):
        table.add_column(name, justify=justify)
    previous = None
    for row in rows:
        repeated = fmt_s(row["repeat_s"]) + (f" (k={row['repeat_k']})" if row["repeat_s"] is not None else " (not run)")
        floor = row.get("floor_s")
        table.add_row(row["case"] if row["case"] != previous else "", row["tool"], fmt_s(row["first_s"]), repeated,
                      fmt_s(floor), fmt_x(floor and row["first_s"] / floor), fmt_e(row["err_numeric"]),
                      fmt_e(row["err_tape"]), fmt_x(row["cg_over_tool_first"]), fmt_x(row["cg_over_tool_repeat"]),
                      fmt_x(row["cg_err_over_tool_err"]), end_section=False)
        previous = row["case"]
    return table


def mlp_table(info):
    title = (f"Case 3: Keras MLP {'→'.join(map(str, info['layers']))} (tanh), {info['params']:,} float64 parameters, "
             f"batch {info['batch']}, MSE loss")
    table = Table(title=title, title_justify="left")
    for name, justify in (("tool", "left"), ("first call", "right"), ("repeated (median)", "right"),
                          ("÷ tape 1st", "right"), ("÷ tape warm", "right"), ("projection rel err", "right"),
                          ("ok", "left")):
        table.add_column(name, justify=justify)
    for row in info["rows"]:
        tool = row["tool"] + ("" if row["samples"] is None else f", samples={row['samples']}")
        repeated = fmt_s(row["repeat_s"]) + f" (k={row['repeat_k']})"
        table.add_row(tool, fmt_s(row.get("first_s")), repeated, fmt_x(row.get("first_over_tape")),
                      fmt_x(row.get("repeat_over_tape")), fmt_e(row.get("projection_rel_error")),
                      "" if "ok" not in row else str(row["ok"]))
    return table


def memory_table(memory):
    table = Table(title="Case 4: peak RSS increase during the first call (above RSS at its start)", title_justify="left")
    for name in ("n", "tool", "peak RSS increase", "one dense n×n float64", "4 n² float64 (all rows at once)"):
        table.add_column(name, justify="left" if name == "tool" else "right")
    for m in memory:
        n = m["n"]
        table.add_row(str(n), m["tool"], f"{m['peak_rss_increase_bytes'] / 2**20:.1f} MiB", f"{n * n * 8 / 2**20:.1f} MiB",
                      f"{4 * n * n * 8 / 2**20:.1f} MiB")
    return table


def evaluate_targets(rows, info, variables, ops):
    targets = []

    def add(name, measured, target, passed, shown):
        targets.append({"target": name, "measured": measured, "goal": target,
                        "pass": None if measured is None else bool(passed), "shown": shown})

    for n, key in ((100, "full_speed_100"), (1000, "full_speed_1000"), (10_000, "full_speed_10000")):
        row = next((r for r in rows if r["n"] == n and r["tool"] == "gradlab" and r["case"].startswith("1")), None)
        ratio = row and row["cg_over_tool_first"]
        add(f"full mode ≥ {TARGETS[key]:g}× as fast as compute_gradient, n={n}, first call", ratio,
            f"≥ {TARGETS[key]:g}×", ratio is not None and ratio >= TARGETS[key], fmt_x(ratio))
    row = next((r for r in rows if r["n"] == 10_000 and r["tool"] == "gradlab" and r["case"].startswith("1")), None)
    ratio = row and row["first_s"] / row["floor_s"]
    add(f"full mode within {TARGETS['floor_10000']:g}× its evaluation floor, n=10000, first call", ratio,
        f"≤ {TARGETS['floor_10000']:g}×", ratio is not None and ratio <= TARGETS["floor_10000"], fmt_x(ratio))
    speedup = variables["speedup"]
    add(f"variables full mode, {variables['params']}-parameter MLP, ≥ {TARGETS['variables_speedup']:g}× faster than "
        f"one eager call per perturbation ({VARIABLES_BEFORE_S:g} s)", speedup, f"≥ {TARGETS['variables_speedup']:g}×",
        speedup >= TARGETS["variables_speedup"], f"{fmt_x(speedup)} ({fmt_s(variables['variables_s'])})")
    ratio = variables["ratio"]
    add(f"variables full mode within {TARGETS['variables_vs_arguments']:g}× arguments mode on the same loss", ratio,
        f"≤ {TARGETS['variables_vs_arguments']:g}×", ratio <= TARGETS["variables_vs_arguments"], fmt_x(ratio))
    conv = variables["conv"]
    add(f"variables full mode on a {conv['params']:,}-parameter Conv2D model under {TARGETS['conv_full_s']:g} s",
        conv["seconds"], f"< {TARGETS['conv_full_s']:g} s", conv["seconds"] < TARGETS["conv_full_s"],
        fmt_s(conv["seconds"]))
    if ops is not None:
        worst = ops[0]
        add(f"no op of the op table slower than compute_gradient, first calls ({len(ops)} ops; worst shown)",
            worst["ratio"], f"≥ {TARGETS['ops_vs_compute_gradient']:g}×",
            worst["ratio"] >= TARGETS["ops_vs_compute_gradient"], f"{fmt_x(worst['ratio'])} ({worst['op']})")
    for row in rows:
        if row["tool"] != "gradlab":
            continue
        ratio = row["cg_err_over_tool_err"]
        add(f"≥ {TARGETS['error_ratio']:g}× smaller max error than compute_gradient: {row['case']}", ratio,
            f"≥ {TARGETS['error_ratio']:g}×", ratio is not None and ratio >= TARGETS["error_ratio"], fmt_x(ratio))
    fast = next(r for r in info["rows"] if r["tool"] == "gradlab fast" and r["samples"] == 64)
    ratio = fast["repeat_over_tape"]
    add(f"fast mode (samples=64) within {TARGETS['fast_vs_tape']:g}× one tape gradient, {info['params']:,} params, warm",
        ratio, f"≤ {TARGETS['fast_vs_tape']:g}×", ratio is not None and ratio <= TARGETS["fast_vs_tape"], fmt_x(ratio))
    first = fast["first_over_tape"]
    add(f"fast mode (samples=64) within {TARGETS['fast_vs_tape']:g}× one tape gradient, first calls",
        first, f"≤ {TARGETS['fast_vs_tape']:g}×", first is not None and first <= TARGETS["fast_vs_tape"], fmt_x(first))
    projection_only = next(r for r in info["rows"] if r["tool"] == "gradlab fast" and r["samples"] == 0)
    ratio = projection_only["repeat_over_tape"]
    add(f"fast mode (samples=0) within {TARGETS['fast_vs_tape']:g}× one tape gradient, warm",
        ratio, f"≤ {TARGETS['fast_vs_tape']:g}×", ratio <= TARGETS["fast_vs_tape"], fmt_x(ratio))
    for row in rows:
        if row["tool"] != "gradlab":
            continue
        value = row["rel_err_normwise"]
        add(f"rel error ≤ {TARGETS['rel_error']:.0e} (max|numeric−analytic| / max|analytic|): {row['case']}",
            value, f"≤ {TARGETS['rel_error']:.0e}", value <= TARGETS["rel_error"],
            f"{value:.1e} (entrywise max {row['rel_err_elementwise']:.1e})")
    if fast is not None:
        value = fast["projection_rel_error"]
        add(f"rel error ≤ {TARGETS['rel_error']:.0e}: MLP projection |p.tape−p.numeric|/|p.numeric|", value,
            f"≤ {TARGETS['rel_error']:.0e}", value <= TARGETS["rel_error"], f"{value:.1e}")
    return targets


def targets_table(targets):
    table = Table(title="Targets", title_justify="left")
    for name, justify in (("target", "left"), ("measured", "right"), ("goal", "right"), ("verdict", "left")):
        table.add_column(name, justify=justify)
    for t in targets:
        verdict = "[green]PASS[/]" if t["pass"] else "[red]MISS[/]" if t["pass"] is False else "[yellow]not run[/]"
        table.add_row(t["target"], t["shown"], t["goal"], verdict)
    return table


def load_average():
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def environment():
    import keras
    import numdifftools

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "numdifftools": numdifftools.__version__, "gradlab": gradlab.__version__,
            "cpus": os.cpu_count(), "machine": platform.machine(), "platform": platform.platform()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small n only: skip n=10000 (cases 1 and 4)")
    parser.add_argument("--repeat", type=int, default=3, help="repeated calls per timing (median reported; default 3)")
    parser.add_argument("--no-ops", action="store_true", help="skip the op table (case 6)")
    parser.add_argument("--json", metavar="FILE", help="write the raw numbers to FILE")
    options = parser.parse_args(argv)
    repeat = max(1, options.repeat)
    console = Console(width=None if sys.stdout.isatty() else 150)
    started = time.perf_counter()
    load_start = load_average()

    env = environment()
    console.print(f"gradlab {env['gradlab']} · TensorFlow {env['tensorflow']} · Keras {env['keras']} · numpy "
                  f"{env['numpy']} · numdifftools {env['numdifftools']} · Python {env['python']} · {env['cpus']} CPUs")
    warm_seconds, _ = timed(warm_up)
    console.print(f"TensorFlow warmed up once before any timing (an unrelated tf.function and eager op, "
                  f"{fmt_s(warm_seconds)}), so process start-up is charged to no tool. float64 throughout; "
                  f"repeated = median of k calls; errors from the first call's output.")

    notes, memory, rows = [], [], []
    for n in QUICK_SCALAR_SIZES if options.quick else SCALAR_SIZES:
        rows += scalar_case(n, repeat, memory)
    rows += elementwise_case(ELEMENTWISE_SIZE, repeat)
    add_ratios(rows)
    load_cases = load_average()
    info = mlp_case(repeat)
    variables = variables_case()
    ops = None if options.quick or options.no_ops else ops_case()
    targets = evaluate_targets(rows, info, variables, ops)

    console.print(accuracy_table(rows))
    console.print("case 1: f(x) = Σ sin(x)·x², x ~ U(−1, 1), analytic gradient cos(x)·x² + 2x·sin(x); case 2: f(x) = "
                  "sin(x)·x elementwise, analytic Jacobian diag(cos(x)·x + sin(x)). cg = tf.test.compute_gradient. numdifftools.Gradient "
                  f"(on a numpy version of f) applies to scalar f only: case 1, n ≤ {max(NUMDIFFTOOLS_SIZES)}.")
    console.print("numeric err: the finite-difference estimate (gradlab: check(...).numeric; compute_gradient: its "
                  "numerical Jacobian; numdifftools: Gradient). tape err: gradlab's tape / compute_gradient's "
                  f"theoretical Jacobian. compute_gradient at n ≥ {SINGLE_CALL_FROM} is run once (first call only).")
    console.print(f"floor: the {EVALUATIONS_PER_ENTRY}n evaluations of f alone, vectorized in gradlab's chunks and "
                  "compiled before timing (what no full check can go below); 1st ÷ floor = gradlab's first call over it.")
    evaluations = sorted({r["evaluation"] for r in rows if r.get("evaluation")})
    console.print("gradlab evaluation: " + "; ".join(evaluations)
                  + f"; all checks ok: {all(r.get('ok', True) for r in rows)}")
    console.print(mlp_table(info))
    console.print("÷ tape: gradlab.check time / one plain tf.GradientTape gradient of the same loss (first call: "
                  "fresh model with the same weights; warm: median). projection rel err = |p.tape − p.numeric| / "
                  "|p.numeric| for v^T J u.")
    evaluations = sorted({r["evaluation"] for r in info["rows"] if r.get("evaluation")})
    if evaluations:
        console.print("gradlab evaluation (MLP): " + "; ".join(evaluations))
    console.print(variables_table(variables))
    console.print(f"variables mode takes {variables['ratio']:.1f}× the time of arguments mode on the same loss, and "
                  f"{1 / variables['speedup']:.3f}× the {VARIABLES_BEFORE_S:g} s of one eager call per perturbation")
    if ops is not None:
        console.print(ops_table(ops))
    if memory:
        console.print(memory_table(memory))
        console.print(f"measured with {memory[0]['how']}; gradlab evaluates perturbations in chunks of at most "
                      f"4M elements, so its peak should not grow like n² · 8 bytes.")
    console.print(targets_table(targets))
    for note in notes:
        console.print("[yellow]note:[/] " + escape(note))
    total = time.perf_counter() - started
    load_end = load_average()
    console.print(f"total benchmark time {total:.1f} s; 1-min load average {load_start} at start, {load_cases} after "
                  f"cases 1–2, {load_end} at end (first calls are single measurements and move with machine load)")

    if options.json:
        with open(options.json, "w") as out:
            json.dump({"environment": env, "options": vars(options), "warm_up_s": warm_seconds, "cases": rows,
                       "mlp": info, "variables": variables, "ops": ops, "memory": memory, "targets": targets,
                       "notes": notes, "total_s": total, "load_average": [load_start, load_cases, load_end]},
                      out, indent=2, default=float)
        console.print(f"raw numbers written to {options.json}")


if __name__ == "__main__":
    main()
