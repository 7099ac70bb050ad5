"""why_none: each way a tape returns None, named by its kind; the gradients equal tape.gradient's."""

from __future__ import annotations

import numpy as np
import pytest

from gradlab._tf import tf
from gradlab.diagnosis.why_none import CAUSES, Diagnosis, why_none
from gradlab.errors import GradlabError


def _unwatched_constant(persistent=False):
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=persistent) as tape:
        y = x ** 2
    return tape, y, [x]


def _watched_constant(persistent=False):
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=persistent) as tape:
        tape.watch(x)
        y = x ** 2
    return tape, y, [x]


def _integer(persistent=False):
    n = tf.constant(3)
    with tf.GradientTape(persistent=persistent) as tape:
        tape.watch(n)
        y = tf.cast(n, tf.float32) ** 2
    return tape, y, [n]


def _numpy_on_a_variable(persistent=False):
    x = tf.Variable([1.0, 2.0])
    with tf.GradientTape(persistent=persistent) as tape:
        y = tf.reduce_sum(np.square(x))
    return tape, y, [x]


def _dot_numpy_on_a_watched_tensor(persistent=False):
    x = tf.constant(2.0)
    with tf.GradientTape(persistent=persistent) as tape:
        tape.watch(x)
        y = tf.constant(x.numpy() ** 2) * 1.0
    return tape, y, [x]


def _variable_replaced_by_a_tensor(persistent=False):
    x = tf.Variable(2.0)
    x = x + 1
    with tf.GradientTape(persistent=persistent) as tape:
        y = x ** 2
    return tape, y, [x]


def _assign_add(persistent=False):
    x0, x1 = tf.Variable(3.0), tf.Variable(0.0)
    with tf.GradientTape(persistent=persistent) as tape:
        x1.assign_add(x0)
        y = x1 ** 2
    return tape, y, [x0, x1]


def _frozen_variable(persistent=False):
    v = tf.Variable(2.0, trainable=False)
    with tf.GradientTape(persistent=persistent) as tape:
        y = v ** 2
    return tape, y, [v]


def _watch_accessed_variables_false(persistent=False):
    a, b = tf.Variable(2.0), tf.Variable(3.0)
    with tf.GradientTape(persistent=persistent, watch_accessed_variables=False) as tape:
        tape.watch(a)
        y = a * b
    return tape, y, [a, b]


def _variable_not_read(persistent=False):
    a, b = tf.Variable(2.0), tf.Variable(3.0)
    with tf.GradientTape(persistent=persistent) as tape:
        y = a * 2.0
    return tape, y, [a, b]


def _loss_after_the_block(persistent=False):
    w = tf.Variable(0.5)
    with tf.GradientTape(persistent=persistent) as tape:
        p = w * 2.0
    loss = p ** 2
    return tape, loss, [w]


def _numpy_beside_a_recorded_part(persistent=False):
    a, b = tf.Variable(2.0), tf.Variable(1.0)
    with tf.GradientTape(persistent=persistent) as tape:
        y = tf.constant(np.square(a.numpy())) + b
    return tape, y, [a, b]


def _round(persistent=False):
    x = tf.Variable(2.3)
    with tf.GradientTape(persistent=persistent) as tape:
        y = tf.round(x) ** 2
    return tape, y, [x]


def _argmax(persistent=False):
    x = tf.Variable([1.0, 3.0, 2.0])
    with tf.GradientTape(persistent=persistent) as tape:
        y = tf.cast(tf.argmax(x), tf.float32)
    return tape, y, [x]


def _intermediate_tensor(persistent=False):
    x = tf.Variable(2.0)
    with tf.GradientTape(persistent=persistent) as tape:
        h = x * 3.0
        y = h ** 2
    return tape, y, [h, x]


def _python_float_source(persistent=False):
    x = tf.Variable(2.0)
    with tf.GradientTape(persistent=persistent) as tape:
        y = x ** 2
    return tape, y, [x, 2.0]


def _numpy_target(persistent=False):
    x = tf.Variable(2.0)
    with tf.GradientTape(persistent=persistent) as tape:
        y = np.float32(x.numpy() ** 2)
    return tape, y, [x]


def _list_of_targets(persistent=False):
    x = tf.constant(2.0)
    with tf.GradientTape(persistent=persistent) as tape:
        tape.watch(x)
        a, b = x ** 2, 3.0 * x
    return tape, [a, b], [x]


# (case, build -> (tape, target, sources), the kind for each source ("" = has a gradient), the gradients)
CASES = [
    ("unwatched constant", _unwatched_constant, ["unwatched tensor"], [None]),
    ("watched constant", _watched_constant, [""], [6.0]),
    ("integer", _integer, ["not a float"], [None]),
    ("numpy on a variable", _numpy_on_a_variable, ["target not recorded"], [None]),
    (".numpy() on a watched tensor", _dot_numpy_on_a_watched_tensor, ["target not recorded"], [None]),
    ("numpy beside a recorded part", _numpy_beside_a_recorded_part, ["disconnected", ""], [None, 1.0]),
    ("variable replaced by a tensor", _variable_replaced_by_a_tensor, ["unwatched tensor"], [None]),
    ("assign_add", _assign_add, ["disconnected", ""], [None, 6.0]),
    ("frozen variable", _frozen_variable, ["frozen variable"], [None]),
    ("watch_accessed_variables=False", _watch_accessed_variables_false,
     ["", "unwatched variable"], [3.0, None]),
    ("variable not read", _variable_not_read, ["", "unwatched variable"], [2.0, None]),
    ("loss after the block", _loss_after_the_block, ["target not recorded"], [None]),
    ("tf.round", _round, ["disconnected"], [None]),
    ("tf.argmax", _argmax, ["target not recorded"], [None]),
    ("intermediate tensor", _intermediate_tensor, ["", ""], [12.0, 36.0]),
    ("python float source", _python_float_source, ["", "not a tensor"], [4.0, None]),
    ("numpy target", _numpy_target, ["target outside TensorFlow"], [None]),
    ("list of targets", _list_of_targets, [""], [7.0]),
]


def _plain(gradient):
    return None if gradient is None else float(np.sum(tf.convert_to_tensor(gradient).numpy()))


IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("build", "kinds", "gradients"), [case[1:] for case in CASES], ids=IDS)
def test_each_cause_is_named(build, kinds, gradients):
    tape, target, sources = build()
    diagnosis = why_none(tape, target, sources)
    assert [f.kind for f in diagnosis.findings] == kinds
    assert [_plain(g) for g in diagnosis.gradients] == gradients
    assert diagnosis.ok == all(g is not None for g in gradients)
    for finding in diagnosis.findings:
        assert bool(finding.cause) == bool(finding.fix) == bool(finding.kind)


@pytest.mark.parametrize("build", [case[1] for case in CASES], ids=IDS)
def test_gradients_equal_what_tape_gradient_returns(build):
    tape, target, sources = build(persistent=True)
    found = why_none(tape, target, sources)
    skipped = ("not a tensor", "not a float")
    differentiable = [i for i, f in enumerate(found.findings) if f.kind not in skipped]
    if not differentiable or found.findings[0].kind == "target outside TensorFlow":
        return
    expected = tape.gradient(target, [sources[i] for i in differentiable])
    assert [_plain(found.gradients[i]) for i in differentiable] == [_plain(g) for g in expected]


def test_a_persistent_tape_still_answers_afterwards():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x ** 3
    first = why_none(tape, y, x)
    assert float(first.gradients[0]) == 27.0
    assert float(tape.gradient(y, x)) == 27.0
    assert float(why_none(tape, y, x).gradients[0]) == 27.0


@pytest.mark.parametrize(
    ("misuse", "message"),
    [
        ("used", "holds no record"),
        ("inside", "after the with block"),
        ("names", "names has 1 entries for 2 sources"),
    ],
)
def test_misuse_is_a_gradlab_error(misuse, message):
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x ** 2
        if misuse == "inside":
            with pytest.raises(GradlabError, match=message):
                why_none(tape, y, x)
            return
    if misuse == "used":
        tape.gradient(y, x)
        with pytest.raises(GradlabError, match=message):
            why_none(tape, y, x)
    else:
        with pytest.raises(GradlabError, match=message):
            why_none(tape, y, [x, x], names=["x"])


@pytest.mark.parametrize(
    ("names", "shown"),
    [(None, "source"), ("w", "w"), (["w"], "w")],
)
def test_names(names, shown):
    tape, y, sources = _unwatched_constant()
    assert why_none(tape, y, sources[0], names=names).findings[0].name == shown


def test_default_names_number_several_sources():
    tape, y, sources = _assign_add()
    assert [f.name for f in why_none(tape, y, sources).findings] == ["sources[0]", "sources[1]"]


def test_the_view_shows_gradients_and_each_cause_with_its_fix():
    tape, y, sources = _assign_add()
    diagnosis = why_none(tape, y, sources, names=["x0", "x1"])
    text = " ".join(str(diagnosis).split())
    assert isinstance(diagnosis, Diagnosis)
    assert "✗ x0: None (disconnected)" in text and "✓ x1: gradient 6" in text
    assert "why: the tape watched it" in text and "fix: compute the target from x0" in text


@pytest.mark.parametrize("kind", sorted(CAUSES))
def test_every_cause_names_a_fix(kind):
    cause, fix = CAUSES[kind]
    words = {"name": "x", "what": "a float", "op": "tf.round"}
    assert cause.format(**words) and fix.format(**words)


def test_keras_3_variables_get_their_gradients_and_their_paths():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="hidden")])
    x = tf.constant([[1.0, 2.0, 3.0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    diagnosis = why_none(tape, loss, model.trainable_variables)
    assert diagnosis.ok and [f.name for f in diagnosis.findings] == [v.path for v in model.trainable_variables]
    assert diagnosis.findings[0].name.endswith("hidden/kernel")
    assert all(g is not None and g.shape == v.shape for g, v in zip(diagnosis.gradients, model.trainable_variables))


def test_a_named_tf_variable_is_called_by_its_name():
    w = tf.Variable(2.0, name="weight")
    with tf.GradientTape() as tape:
        y = tf.constant(3.0) * 2.0
    assert why_none(tape, y, [w]).findings[0].name == "weight"


def test_a_keras_layer_left_out_of_the_tape_is_named_as_not_read():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    unused = keras.layers.Dense(4)
    unused.build((None, 3))
    variables = model.trainable_variables + unused.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.constant([[1.0, 2.0, 3.0]])) ** 2)
    findings = why_none(tape, loss, variables).findings
    assert [(f.name, f.kind) for f in findings[2:]] == [(v.path, "unwatched variable") for v in unused.trainable_variables]
    assert all("not read inside the with block" in f.cause for f in findings[2:])


# f's graph names each cause the tape alone leaves as a list
_x1 = tf.Variable(0.0)


def _assign_then_read(x0):
    _x1.assign_add(x0)
    return _x1 ** 2


# (case, f, args, the kind for each argument, a word of the first cause)
TRACED = [
    ("np.square", lambda x: tf.reduce_sum(np.square(x)), [tf.Variable([1.0, 2.0])], ["through numpy"], "numpy"),
    (".numpy()", lambda x: tf.constant(x.numpy() ** 2) * 1.0, [2.0], ["through numpy"], ".numpy()"),
    ("float()", lambda x: tf.constant(float(x) ** 2), [2.0], ["through numpy"], "float()"),
    ("numpy beside an unused argument", lambda a, b: tf.reduce_sum(np.square(a)) + 1.0, [[1.0, 2.0], 3.0],
     ["through numpy", "not used"], "numpy"),
    ("assign_add", _assign_then_read, [3.0], ["stateful op"], "assign_add"),
    ("tf.round", lambda x: tf.round(x) ** 2, [2.3], ["no gradient"], "flat between its steps"),
    ("tf.math.floor", lambda x: tf.math.floor(x) * 2.0, [2.3], ["no gradient"], "tf.math.floor"),
    ("tf.argmax", lambda x: tf.cast(tf.argmax(x), tf.float32), [[1.0, 3.0, 2.0]], ["no gradient"], "int64"),
    ("cast to an integer", lambda x: tf.cast(tf.cast(x, tf.int32), tf.float32), [2.5], ["no gradient"], "int32"),
    ("tf.stop_gradient", lambda x: tf.stop_gradient(x) * 2.0, [2.5], ["no gradient"], "by design"),
    ("unused argument", lambda a, b: a * 2.0, [1.0, 2.0], ["", "not used"], "does not depend"),
    ("all connected", lambda a, b: a * b, [1.0, 2.0], ["", ""], ""),
]


@pytest.mark.parametrize(("f", "args", "kinds", "word"), [case[1:] for case in TRACED],
                         ids=[case[0] for case in TRACED])
def test_the_function_form_names_the_cause_from_the_graph(f, args, kinds, word):
    diagnosis = why_none(f, *args)
    assert [finding.kind for finding in diagnosis.findings] == kinds
    assert word in next((finding.cause for finding in diagnosis.findings if finding.kind), "")


def test_the_function_form_gives_the_tape_gradient_and_leaves_arguments_alone():
    x = tf.Variable([1.0, 2.0])
    diagnosis = why_none(lambda x, c: tf.reduce_sum(x ** 2) * c, x, 3.0, names=["x", "c"])
    assert [f.name for f in diagnosis.findings] == ["x", "c"]
    assert diagnosis.gradients[0].numpy().tolist() == [6.0, 12.0] and float(diagnosis.gradients[1]) == 5.0
    assert x.numpy().tolist() == [1.0, 2.0]


def test_the_function_form_names_an_unused_keras_layer_and_restores_the_variables():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    unused = keras.layers.Dense(4)
    unused.build((None, 3))
    variables = model.trainable_variables + unused.trainable_variables
    before = [v.numpy().copy() for v in variables]
    diagnosis = why_none(lambda: tf.reduce_sum(model(tf.constant([[1.0, 2.0, 3.0]])) ** 2), variables=variables)
    assert [f.name for f in diagnosis.findings] == [v.path for v in variables]
    assert [f.kind for f in diagnosis.findings] == ["", "", "not used", "not used"]
    assert all(g.shape == v.shape for g, v in zip(diagnosis.gradients[:2], variables))
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: why_none(lambda x: x), "arguments of f"),
        (lambda: why_none(lambda x: x, 1.0, variables=[tf.Variable(1.0)]), "not both"),
        (lambda: why_none(tf.GradientTape(), tf.constant(1.0)), "the target and the sources"),
        (lambda: why_none(3.0, 1.0, 2.0), "tf.GradientTape"),
    ],
)
def test_misused_forms_are_gradlab_errors(call, message):
    with pytest.raises(GradlabError, match=message):
        call()


def test_the_function_form_names_arguments_by_f_s_parameters():
    diagnosis = why_none(lambda x, unused: x * 2.0, 1.0, 2.0)
    assert [finding.name for finding in diagnosis.findings] == ["x", "unused"]
    assert diagnosis.findings[1].kind == "not used"
