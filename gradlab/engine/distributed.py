"""check_distributed: is the gradient a tf.distribute training step applies the gradient of the global loss?

Under a strategy each replica's tape differentiates that replica's loss on its shard of the global batch, and
the optimizer adds the replicas' gradients up (the SUM all-reduce of optimizer.apply_gradients). The sum is
the gradient of the global loss, the mean over the whole global batch, only when each replica's loss is divided
by the global batch size (tf.nn.compute_average_loss(..., global_batch_size=...)); the classic bug, a mean over
the replica's own batch, makes it N times too large on N replicas. check_distributed puts that sum on the tape
side of gradlab.check and finite differences of the global loss on the other: the same ladder, verdicts and
report, and variables restored bit for bit (every replica's copy).
"""

from dataclasses import dataclass, fields

import numpy as np

from gradlab._tf import tf
from gradlab.engine.check import MODES, UNCONNECTED, GradCheck, check_recorded, choose
from gradlab.engine.inputs import Point, as_output, snapshot, variables_point
from gradlab.engine.numeric import check_method
from gradlab.engine.platform import quiet_internals
from gradlab.engine.restore import claimed, restoring
from gradlab.errors import GradlabError, NotDifferentiableError

#: The options of gradlab.check that a distributed check takes, with check's defaults.
OPTIONS = {"mode": "full", "rtol": None, "atol": None, "seed": 0, "unconnected": "error", "samples": 64,
           "method": "richardson", "nondet_tol": None, "max_memory": None, "max_evaluations": None}
#: A factor is looked into when the tape and numeric values are this close to proportional to it.
FACTOR_CLOSE = 0.05


@dataclass
class DistributedCheck(GradCheck):
    """gradlab.check's result for the all-reduced gradient of a distributed step against the global loss.

    `replicas` is the strategy's num_replicas_in_sync; `factor` is c where the all-reduced gradient was found
    to be c times the global loss's gradient (N or 1/N), else None; `loss` is the global loss and
    `replica_loss_sum` the replicas' losses added up (what strategy.reduce(SUM, loss) would log).
    """

    strategy: str = ""
    replicas: int = 1
    factor: float | None = None
    loss: float = float("nan")
    replica_loss_sum: float = float("nan")


def check_distributed(per_replica_loss, variables, batch, strategy, global_loss=None, names=None,
                      **check_options):
    """Check the gradient a training step under `strategy` applies against finite differences of the global loss.

    `per_replica_loss(shard)` is what the step computes in each replica: the loss of that replica's shard of
    the global `batch` (a tensor, array or nested tuple/dict of them, split along the first axis into
    contiguous shards; a tf.data.Dataset gives its first element), scaled as the step scales it. The tape side
    is strategy.run of its tape gradient with respect to `variables` (e.g. model.trainable_variables, created
    under strategy.scope()), summed over the replicas. The numeric side differentiates `global_loss(batch)`;
    by default per_replica_loss(batch) on the whole batch outside the strategy, which is the global mean for
    tf.nn.compute_average_loss, tf.reduce_mean and Keras' averaging losses; pass global_loss (e.g.
    lambda b: tf.reduce_mean(per_example_loss(b))) when the per-replica loss divides by a fixed number.

    `check_options` are gradlab.check's: mode, rtol, atol, seed, unconnected, samples, method, nondet_tol,
    max_memory, max_evaluations. Returns a DistributedCheck; where the all-reduced gradient is N (or 1/N)
    times the global loss's gradient, confirmed by a second check, the report says so and why.
    """
    options = _options(check_options)
    if not callable(per_replica_loss):
        raise GradlabError(f"per_replica_loss must be a function of a replica's batch, got a "
                           f"{type(per_replica_loss).__name__}")
    if global_loss is not None and not callable(global_loss):
        raise GradlabError(f"global_loss must be a function of the global batch, got a {type(global_loss).__name__}")
    if not isinstance(strategy, tf.distribute.Strategy):
        raise GradlabError(f"strategy must be a tf.distribute.Strategy (e.g. tf.distribute.MirroredStrategy()), "
                           f"got a {type(strategy).__name__}")
    if tf.distribute.has_strategy():
        raise GradlabError("check_distributed is called inside a strategy's scope; build the model inside "
                           "`with strategy.scope():` and call check_distributed outside it")
    replicas = int(strategy.num_replicas_in_sync)
    batch, size = _global_batch(batch, replicas)
    point = variables_point(variables, names)
    if global_loss is None:
        described = f"per_replica_loss on the whole batch of {size} examples, outside the strategy"
        global_loss = per_replica_loss
    else:
        described = f"global_loss on the whole batch of {size} examples"

    def f():
        return global_loss(batch)

    f.__name__ = getattr(global_loss, "__name__", "global_loss")
    copies = [c for v in point.variables for c in strategy.experimental_local_results(v)]
    with claimed(point.variables, point.names):
        point.values = snapshot(point.variables)
        saved = [s for v, s in zip(point.variables, point.values)
                 for _ in strategy.experimental_local_results(v)]
        with restoring(copies, saved), restoring(point.variables, point.values):
            grads, replica_loss_sum = all_reduced_gradient(per_replica_loss, point.variables, batch, strategy)
            y = _scalar(f(), "the global loss")
            moved = Point(point.values, point.names, [_Copies(v) for v in point.variables], False)
            result = check_recorded(f, moved, (y, _AllReduced(grads)), **options)
            factor = _factor(result, f, moved, y, grads, replicas, options) if result.state == "fail" else None
    result = DistributedCheck(**{field.name: getattr(result, field.name) for field in fields(GradCheck)},
                              strategy=_name(strategy), replicas=replicas, factor=factor,
                              loss=float(y.numpy()), replica_loss_sum=replica_loss_sum)
    _explain(result, described)
    return result


def all_reduced_gradient(per_replica_loss, variables, batch, strategy):
    """The gradient optimizer.apply_gradients applies under `strategy`: each replica's tape gradient of
    per_replica_loss on its shard of `batch`, summed over the replicas. Returns (one tensor or None per
    variable, the replicas' losses summed as a float)."""
    replicas = strategy.num_replicas_in_sync
    size = _size(batch)
    unconnected = set()

    def shard(context):
        i = context.replica_id_in_sync_group
        start, stop = _bounds(size, replicas, i)
        return tf.nest.map_structure(lambda t: t[start:stop], batch)

    def step(shard):
        with tf.GradientTape() as tape:
            tape.watch(variables)
            loss = _scalar(per_replica_loss(shard), "per_replica_loss")
        grads = tape.gradient(loss, variables)
        for i, g in enumerate(grads):
            if g is None:
                unconnected.add(i)
        return loss, [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for v, g in zip(variables, grads)]

    def run(shards):
        loss, grads = strategy.run(step, args=(shards,))
        total = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        return total, [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in grads]

    shards = strategy.experimental_distribute_values_from_function(shard)
    try:
        with quiet_internals():  # AutoGraph's notices about functions it cannot read the source of
            total, grads = tf.function(run)(shards)  # as a training step runs: traced, the replicas in parallel
    except (GradlabError, LookupError):
        raise
    except Exception:  # noqa: BLE001 - a loss that cannot be traced runs eagerly, as the user's step must
        unconnected.clear()
        total, grads = run(shards)
    return [None if i in unconnected else g for i, g in enumerate(grads)], float(total.numpy())


class _AllReduced:
    """Stands in for the tape in gradlab.check: the all-reduced gradient, times the cotangent it is given."""

    def __init__(self, grads):
        self.grads = grads

    def gradient(self, y, sources, output_gradients=None):
        if len(sources) != len(self.grads):
            raise GradlabError("the all-reduced gradient has one value per variable")
        scale = 1.0 if output_gradients is None else output_gradients
        return [None if g is None else g * tf.cast(scale, g.dtype) for g in self.grads]


class _Copies:
    """A (mirrored) variable as gradlab's numeric side moves it: every replica's copy at once.

    A MirroredVariable has no scatter_nd_update; assigning the whole updated value moves all its copies.
    """

    def __init__(self, variable):
        self.variable = variable
        self.dtype, self.shape, self.name = variable.dtype, variable.shape, variable.name

    def read_value(self):
        return self.variable.read_value()

    def numpy(self):
        return self.variable.numpy()

    def assign(self, value):
        return self.variable.assign(value)

    def scatter_nd_update(self, indices, updates):
        value = self.variable.read_value()
        return self.variable.assign(tf.tensor_scatter_nd_update(value, indices, tf.cast(updates, value.dtype)))


def _factor(result, f, point, y, grads, replicas, options):
    """N or 1/N where the all-reduced gradient is that many times the global loss's gradient, checked again
    with the gradient divided by it; None where neither holds."""
    if replicas == 1:
        return None
    ratio = _ratio(result)
    for factor in (float(replicas), 1.0 / replicas):
        if np.isfinite(ratio) and abs(ratio / factor - 1.0) <= FACTOR_CLOSE:
            scaled = [None if g is None else g / tf.cast(factor, g.dtype) for g in grads]
            if check_recorded(f, point, (y, _AllReduced(scaled)), **options).ok:
                return factor
    return None


def _ratio(result):
    """The least-squares c in tape = c * numeric over every value compared (NaN where nothing was)."""
    pairs = [(t, n) for t, n in zip(result.tape, result.numeric) if t is not None]
    if result.projection is not None:
        pairs.append((result.projection.tape, result.projection.numeric))
    t, n = (np.concatenate([np.asarray(p[k], dtype=np.float64).reshape(-1) for p in pairs]) if pairs
            else np.zeros(0) for k in (0, 1))
    keep = np.isfinite(t) & np.isfinite(n)
    t, n = t[keep], n[keep]
    scale = float(n @ n)
    if not scale > 0 or not np.allclose(t, (t @ n / scale) * n, rtol=FACTOR_CLOSE, atol=0.0):
        return float("nan")
    return float(t @ n / scale)


def _explain(result, described):
    """The report's notes: what each side is, and where the check failed, why."""
    n = result.replicas
    notes = [note for note in result.notes if not note.startswith("run gradlab.locate(")]
    how = (f"summed over {n} replicas ({result.strategy}) as optimizer.apply_gradients sums them" if n > 1
           else f"on the one replica of {result.strategy}, so nothing to sum")
    sides = (f"tape side: each replica's tape gradient of per_replica_loss on its shard, {how}; numeric side: "
             f"the global loss, {described}")
    head = []
    if result.factor is not None:
        if result.factor > 1:
            head.append(f"the all-reduced gradient is {n} times the gradient of the global loss: the per-replica "
                        "loss is likely divided by the per-replica batch size instead of the global one (use "
                        "tf.nn.compute_average_loss(..., global_batch_size=...))")
        else:
            head.append(f"the all-reduced gradient is 1/{n} of the gradient of the global loss: the per-replica "
                        f"loss is likely divided by the number of replicas on top of the global batch size "
                        "(tf.nn.compute_average_loss(..., global_batch_size=...) already divides by it)")
    elif result.state == "fail":
        head.append("gradlab.check(lambda: global_loss(batch), variables=[...]) checks the global loss's own "
                    "tape without the strategy: if it passes, the replicas' losses are scaled or combined "
                    "differently from the global loss")
    if not np.isclose(result.replica_loss_sum, result.loss, rtol=1e-6, atol=0.0):
        head.append(f"the replicas' losses sum to {result.replica_loss_sum:.6g}, the global loss is "
                    f"{result.loss:.6g}")
    result.notes = [*head, sides, *notes]


def _name(strategy):
    name = type(strategy).__name__
    return "the default strategy" if name.startswith("_Default") else name


def _options(given):
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise GradlabError(f"unknown option {unknown[0]!r} for check_distributed; it takes "
                           f"{', '.join(OPTIONS)}")
    options = {**OPTIONS, **given}
    for name in ("samples", "seed"):
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise GradlabError(f"{name} must be a whole number >= 0, got {value!r}")
    for name in ("nondet_tol", "max_memory", "max_evaluations"):
        value = options[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                                  or not value >= 0):
            raise GradlabError(f"{name} must be a number >= 0, got {value!r}")
    choose("mode", options["mode"], MODES)
    choose("unconnected", options["unconnected"], UNCONNECTED)
    check_method(options["method"])
    limits = (options.pop("max_memory"), options.pop("max_evaluations"))
    return {**options, "reference": None, "limits": limits}


def _global_batch(batch, replicas):
    """The global batch as tensors, and its number of examples (at least one per replica)."""
    if isinstance(batch, tf.data.Dataset):
        element = next(iter(batch.take(1)), None)
        if element is None:
            raise GradlabError("the dataset is empty; pass a dataset of global batches, or one batch")
        batch = element
    if batch is None:
        raise GradlabError("batch is None; pass the global batch (a tensor, an array, or a tuple of them)")
    try:
        batch = tf.nest.map_structure(tf.convert_to_tensor, batch)
    except (TypeError, ValueError) as exc:
        raise GradlabError(f"batch must hold tensors or arrays (a tuple or dict of them), not what it holds "
                           f"({type(exc).__name__})") from None
    size = _size(batch)
    if size < replicas:
        raise GradlabError(f"the batch has {size} examples for {replicas} replicas; give each replica at least "
                           "one (a global batch of at least the number of replicas)")
    return batch, size


def _size(batch):
    sizes = {int(t.shape[0]) if t.shape.rank else None for t in tf.nest.flatten(batch)}
    if None in sizes or not sizes:
        raise GradlabError("every part of the batch needs a first (batch) axis to split across the replicas")
    if len(sizes) > 1:
        raise GradlabError(f"the parts of the batch have different first axes ({', '.join(map(str, sorted(sizes)))}"
                           "); give every part one entry per example")
    return sizes.pop()


def _bounds(size, replicas, i):
    """Replica i's contiguous shard of `size` examples: the first size % replicas shards take one more."""
    base, extra = divmod(size, replicas)
    start = i * base + min(i, extra)
    return start, start + base + (1 if i < extra else 0)


def _scalar(value, what):
    try:
        value = as_output(value)
    except NotDifferentiableError as exc:
        raise NotDifferentiableError(f"{what}: {exc}") from None
    if value.shape.rank != 0:
        raise GradlabError(f"{what} returns shape {tuple(value.shape)}; return one number (e.g. "
                           "tf.nn.compute_average_loss of the per-example losses)")
    return value
