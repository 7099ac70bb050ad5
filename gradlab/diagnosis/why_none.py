"""why_none: the gradients of your own tf.GradientTape, with the reason named for each one that is None.

`why_none(tape, target, sources)` takes the place of `tape.gradient(target, sources)` after the `with`
block. For a source without a gradient it tells apart what the tape can show: a non-float dtype, a tensor
or variable the tape never watched, and a watched one that no recorded operation connects to the target
(numpy, `.numpy()` or a stateful operation such as `assign_add` in between, or simply not used).

Whether the tape watched a plain tensor is not public in TensorFlow, so the tape is re-entered and each
tensor source passes through a marker op whose gradient function only notes that it ran: the op is recorded
(and its gradient function called) exactly when the tape watches that tensor. The markers feed no target's
gradient, so the gradients returned are the ones `tape.gradient` gives.
"""

from dataclasses import dataclass


from gradlab._tf import tf
from gradlab.engine.inputs import checked_names, wrapped_variable
from gradlab.errors import GradlabError
from gradlab.render import Result

#: Why a gradient is None, by kind: (the reason, how to fix it). "{name}" and "{what}" are filled in.
CAUSES = {
    "not a tensor": (
        "{what}, not a tensor: a tape differentiates with respect to tf.Tensors and tf.Variables",
        "pass the tf.Variable, or a tensor watched inside the with block"),
    "not a float": (
        "{what}: a tape differentiates floating-point values only",
        "make it a float before the tape: tf.constant(3.0), or tf.cast({name}, tf.float32)"),
    "unwatched tensor": (
        "a tf.Tensor the tape did not watch: a tape follows a tensor only after tape.watch; a "
        "tf.constant is one, and so is a tf.Variable that `{name} = {name} + 1` replaced by a tensor",
        "call tape.watch({name}) inside the with block; update a variable in place: "
        "{name}.assign_add(1)"),
    "unwatched variable": (
        "a tf.Variable the tape did not watch: it was not read inside the with block, or the tape has "
        "watch_accessed_variables=False",
        "read it inside the with block, or call tape.watch({name})"),
    "frozen variable": (
        "a tf.Variable with trainable=False: a tape does not watch it by itself",
        "call tape.watch({name}) inside the with block"),
    "disconnected": (
        "the tape watched it, but no operation it recorded leads from it to the target: the value went "
        "through numpy or .numpy(), or through a stateful operation (assign, assign_add, an iterator); or "
        "the target was computed after the with block, or does not use it",
        "compute the target from {name} with TensorFlow operations inside the with block"),
    "target outside TensorFlow": (
        "the target is {what}, not a tensor the tape recorded",
        "compute the target with TensorFlow operations inside the with block"),
}


@dataclass
class Finding:
    """One source: what the tape gave for it, and (where that is None) the kind of cause and its words."""

    name: str
    gradient: object
    kind: str = ""
    cause: str = ""
    fix: str = ""


@dataclass
class Diagnosis(Result):
    """The findings, one per source; `.gradients` is what tape.gradient(target, sources) returns."""

    findings: list

    @property
    def gradients(self):
        return [finding.gradient for finding in self.findings]

    @property
    def ok(self):
        return all(finding.gradient is not None for finding in self.findings)

    def __rich__(self):
        from gradlab.render import diagnosis_view

        return diagnosis_view(self)


def why_none(tape, target, sources, names=None):
    """tape.gradient(target, sources), with the cause named for every None; call it after the with block.

    `sources` is one tensor or variable, or a list of them; `names` names them in the report. The tape is
    used up as tape.gradient would use it (unless it is persistent).
    """
    if not isinstance(tape, tf.GradientTape):
        raise GradlabError(f"why_none needs the tf.GradientTape that recorded the target, got "
                           f"{type(tape).__name__}; pass the tape from `with tf.GradientTape() as tape:`")
    given = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    names = _names(given, names)
    # a Keras 3 variable holds the tf.Variable the tape watched
    sources = [wrapped_variable(s) if wrapped_variable(s) is not None else s for s in given]
    if getattr(tape, "_tape", True) is None:
        raise GradlabError("this tape holds no record: a tape is used up by its first tape.gradient call "
                           "unless persistent=True; pass it to why_none instead of calling tape.gradient")
    watched = {v.ref() for v in tape.watched_variables()}
    kinds = [_static_kind(s, watched) for s in sources]
    if not _is_tensor(target):
        kinds = [kind or "target outside TensorFlow" for kind in kinds]
    probed = [i for i, kind in enumerate(kinds) if not kind and not isinstance(sources[i], tf.Variable)]
    ran = set()
    try:
        tape.__enter__()  # recording again, for the markers only
    except ValueError as exc:  # TensorFlow refuses to re-enter a tape that is still recording
        raise GradlabError("call why_none after the with block, not inside it") from exc
    try:
        markers = [_marker(i, ran)(sources[i]) for i in probed]
    finally:
        tape.__exit__(None, None, None)
    usable = [i for i, kind in enumerate(kinds) if not kind]
    grads = [None] * len(sources)
    if usable:
        found = tape.gradient([target, *markers], [sources[i] for i in usable])
        for i, g in zip(usable, found):
            grads[i] = g
    findings = []
    for i, (source, name) in enumerate(zip(sources, names)):
        kind = kinds[i]
        if not kind and grads[i] is None:
            kind = "unwatched tensor" if i in probed and i not in ran else "disconnected"
        findings.append(_finding(name, grads[i], kind, source, target))
    return Diagnosis(findings)


def _names(sources, names):
    if names is None:
        def default(i, source):
            if getattr(source, "path", None):  # a Keras variable: "dense/kernel"
                return source.path
            if isinstance(source, tf.Variable) and source.name.split(":")[0] != "Variable":  # named by you
                return source.name.split(":")[0]
            return f"sources[{i}]" if len(sources) > 1 else "source"

        return [default(i, source) for i, source in enumerate(sources)]

    return checked_names(names, len(sources), "sources")


def _is_tensor(value):
    return isinstance(value, (tf.Tensor, tf.Variable)) or (
        isinstance(value, (list, tuple)) and value and all(_is_tensor(v) for v in value))


def _static_kind(source, watched):
    """What can be told without a gradient call: a non-tensor, a non-float or an unwatched variable."""
    if not isinstance(source, (tf.Tensor, tf.Variable)):
        return "not a tensor"
    if not (source.dtype.is_floating or source.dtype.is_complex):
        return "not a float"
    if isinstance(source, tf.Variable) and source.ref() not in watched:
        return "unwatched variable" if source.trainable else "frozen variable"
    return ""


def _marker(i, ran):
    """An identity op whose gradient function records that it ran and passes no gradient on."""

    @tf.custom_gradient
    def marker(x):
        def grad(upstream):
            ran.add(i)
            return None

        return tf.identity(x), grad

    return marker


def _what(value):
    """"an int32 tensor", "a numpy.ndarray", "a float": what a value is, in words."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        dtype = value.dtype.name
        return f"{'an' if dtype.startswith('int') else 'a'} {dtype} tensor"
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return f"a {kind.__name__}" if module == "builtins" else f"a {module}.{kind.__name__}"


def _finding(name, gradient, kind, source, target):
    if not kind:
        return Finding(name, gradient)
    cause, fix = CAUSES[kind]
    what = _what(target if kind == "target outside TensorFlow" else source)
    return Finding(name, gradient, kind, cause.format(name=name, what=what), fix.format(name=name, what=what))
