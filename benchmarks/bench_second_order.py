"""Benchmark of gradlab.check(..., order=2): full mode against the floor of any second-order check, and fast
mode on a Keras MLP of about a million weights against one Hessian-vector product.

Run: python benchmarks/bench_second_order.py [--sizes 100 1000] [--repeat K] [--no-mlp]

f(x) = sum(softplus(A x)) in float64, A a seeded n x n matrix. The floor is the least work a full second-order
check with Richardson differences does: the Hessian from nested tapes (tape.jacobian of the tape gradient) plus
4n evaluations of the gradient, vectorized in one traced call (tf.vectorized_map). Each repeat builds fresh
functions, so tracing is paid on both sides; the figure reported is the median over the repeats.
"""

import argparse
import statistics
import time

from gradlab._tf import tf  # first TensorFlow import: quiet start-up

import numpy as np

import gradlab


def problem(n):
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((n, n)) / np.sqrt(n))
    x = rng.standard_normal(n)
    return (lambda x: tf.reduce_sum(tf.nn.softplus(tf.linalg.matvec(a, x)))), x


def floor(f, x):
    """The Hessian by nested tapes and 4n gradient evaluations at moved points, in one vectorized call."""
    x = tf.constant(x)
    n = x.shape[0]

    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return tape.gradient(y, x)

    with tf.GradientTape() as outer:
        outer.watch(x)
        g = gradient(x)
    hessian = outer.jacobian(g, x).numpy()
    steps = 1e-3 * np.array([1.0, -1.0, 0.5, -0.5])
    index = np.tile(np.arange(n), 4)
    moves = np.repeat(steps, n)
    moved = x[None, :] + tf.one_hot(index, n, dtype=x.dtype) * tf.constant(moves)[:, None]
    rows = tf.function(lambda points: tf.vectorized_map(gradient, points))(moved).numpy()
    return hessian, rows


def hessian_vector_product(model, loss, v):
    """One Hessian-vector product of the loss with respect to the model's weights, by nested tapes."""
    variables = model.trainable_variables
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            value = loss()
        grads = inner.gradient(value, variables)
        dot = tf.add_n([tf.reduce_sum(g * u) for g, u in zip(grads, v)])
    return outer.gradient(dot, variables)


def mlp_case(repeat):
    """Fast order=2 on bench_check's MLP (float64, about 10**6 weights), warm, against one warm Hessian-vector
    product of the same loss; first calls too."""
    from bench_check import MLP_BATCH, MLP_LAYERS, build_mlp, mlp_loss

    rng = np.random.default_rng(3)
    inputs = tf.constant(rng.standard_normal((MLP_BATCH, MLP_LAYERS[0])))
    targets = tf.constant(rng.standard_normal((MLP_BATCH, MLP_LAYERS[-1])))
    model = build_mlp()
    loss = mlp_loss(model, inputs, targets)
    v = [tf.constant(rng.standard_normal(w.shape)) for w in model.trainable_variables]
    start = time.perf_counter()
    hessian_vector_product(model, loss, v)
    hvp_first = time.perf_counter() - start
    hvp_warm = median_seconds(lambda: hessian_vector_product(model, loss, v), max(repeat, 3))
    results = []

    def checked():
        results.append(gradlab.check(loss, variables=model.trainable_variables, mode="fast", order=2))

    start = time.perf_counter()
    checked()
    check_first = time.perf_counter() - start
    check_warm = median_seconds(checked, repeat)
    params = sum(int(np.prod(w.shape)) for w in model.trainable_variables)
    result = results[-1]
    print(f"\nfast order=2, Keras MLP {'-'.join(map(str, MLP_LAYERS))} ({params:,} float64 weights, batch "
          f"{MLP_BATCH})")
    print(f"  one Hessian-vector product: first {hvp_first:.3f} s, warm {hvp_warm:.3f} s")
    print(f"  gradlab.check(order=2, mode='fast'): first {check_first:.3f} s, warm {check_warm:.3f} s "
          f"= {check_warm / hvp_warm:.1f}x the warm product (target: within 10x)")
    p = result.projection
    print(f"  {result.state}: v^T H u tape {p.tape:.10g}, numeric {p.numeric:.10g} ± {p.numeric_error:.1e}")


def median_seconds(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-mlp", action="store_true", help="leave out the million-weight MLP")
    options = parser.parse_args()
    tf.function(lambda: tf.constant(1.0) + 1.0)()  # TensorFlow's one-time start-up, charged to no one
    print(f"{'n':>6} {'order=2 full (s)':>17} {'floor (s)':>10} {'ratio':>6}  state")
    for n in options.sizes:
        results = []

        def checked():
            f, x = problem(n)
            results.append(gradlab.check(f, x, order=2))

        def floored():
            f, x = problem(n)
            floor(f, x)

        ours = median_seconds(checked, options.repeat)
        least = median_seconds(floored, options.repeat)
        print(f"{n:>6} {ours:>17.3f} {least:>10.3f} {ours / least:>6.1f}  {results[-1].state} "
              f"(max rel err {results[-1].max_rel_error:.1e}; {results[-1].evaluation})")
    if not options.no_mlp:
        mlp_case(options.repeat)


if __name__ == "__main__":
    main()
