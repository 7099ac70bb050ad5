"""gradlab's exception types: every error the library raises on bad input is one of these."""


class GradlabError(ValueError):
    """Base class: a one-line message that says what to change."""


class NotDifferentiableError(GradlabError):
    """An argument or a function's output that the tape cannot differentiate (an integer, a string, None...)."""


class LessonNotFoundError(GradlabError):
    """A lesson number or name that is not in the registry."""
