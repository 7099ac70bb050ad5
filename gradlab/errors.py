"""gradlab's exception types: every error the library raises on bad input is one of these."""


class GradlabError(ValueError):
    """Base class: a one-line message that says what to change."""


class NotDifferentiableError(GradlabError):
    """An argument or a function's output that the tape cannot differentiate (an integer, a string, None...)."""


class LessonNotFoundError(GradlabError):
    """A lesson number or name that is not in the registry."""


class NotDeterministicError(GradlabError):
    """f gave different values in two calls at the same point (dropout, tf.random, training=True...)."""


class TooExpensiveError(GradlabError):
    """A check whose estimated memory or number of evaluations is past its limits; the message gives both."""


def summary(exc, limit=120):
    """One line saying what went wrong in `exc`: the last line of its message (TensorFlow puts the cause last)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"
