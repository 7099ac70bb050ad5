"""The step-size study: how the error of forward, central and Richardson differences changes with the step.

Large steps suffer truncation error (the Taylor terms the formula ignores), tiny steps round-off error
(eps * |f| / h): on a log-log plot each method draws a V whose bottom is its best step.
"""

from dataclasses import dataclass

import numpy as np

from gradlab.errors import GradlabError
from gradlab.render import Result

#: The steps a study tries by default: 1e-1 down to 1e-15.
DEFAULT_STEPS = tuple(10.0 ** -k for k in range(1, 16))

#: Each method as a formula of f and its one-sided or two-sided moves.
FORMULAS = {
    "forward": lambda f, x, h: (f(x + h) - f(x)) / h,
    "central": lambda f, x, h: (f(x + h) - f(x - h)) / (2 * h),
    "richardson": lambda f, x, h: (4 * FORMULAS["central"](f, x, h / 2) - FORMULAS["central"](f, x, h)) / 3,
}


@dataclass
class StepStudy(Result):
    """|estimate - reference| for each method and step; `best[method]` = (step, error) at the bottom of its V."""

    name: str
    point: float
    dtype: str
    reference: float
    reference_kind: str  # "analytic" or "tape"
    steps: np.ndarray
    estimates: dict
    errors: dict

    @property
    def best(self):
        out = {}
        for method, errors in self.errors.items():
            finite = np.where(np.isfinite(errors), errors, np.inf)
            i = int(np.argmin(finite))
            out[method] = (float(self.steps[i]), float(finite[i]))
        return out

    def __rich__(self):
        from gradlab.render import step_study_view

        return step_study_view(self)

    def to_json(self):
        from gradlab.export import plain

        return {"kind": "step_study", "name": self.name, "point": self.point, "dtype": self.dtype,
                "reference": self.reference, "reference_kind": self.reference_kind, "steps": plain(self.steps),
                "errors": plain(self.errors), "estimates": plain(self.estimates),
                "best": {m: {"step": s, "error": e} for m, (s, e) in self.best.items()}}

    def plot(self, path=None, ax=None):
        """A matplotlib log-log figure of error against step (on `ax` if given); saved to `path` if given."""
        if ax is None:
            fig, axes = new_figure(1, saving=path is not None)
            ax = axes[0]
        fig = ax.figure
        for method, errors in self.errors.items():
            shown = np.where(errors > 0, errors, np.nan)
            ax.loglog(self.steps, shown, marker="o", label=method)
        ax.set_xlabel("step h")
        ax.set_ylabel(f"|estimate − {self.reference_kind}|")
        ax.set_title(f"d/d{self.name} at {self.point:g} ({self.dtype})")
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        if path is not None:
            save_figure(fig, path)
        return fig


def new_figure(rows, saving):
    """A figure with `rows` axes stacked. One that is only saved to a file is made without pyplot, so that
    no window opens and a notebook's plotting backend stays as it is."""
    size = (6.4, 4.2 * rows)
    if saving:
        from matplotlib.figure import Figure

        fig = Figure(figsize=size)
        return fig, list(np.atleast_1d(fig.subplots(rows, 1)))
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, 1, figsize=size, squeeze=False)
    return fig, list(axes[:, 0])


def save_figure(fig, path):
    """Write `fig` to `path`, or a GradlabError that says why it could not be written."""
    try:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    except (OSError, ValueError) as error:
        raise GradlabError(f"cannot write the figure to {path}: {error}") from None


def step_study(f, x, derivative=None, dtype="float64", steps=DEFAULT_STEPS, name="x"):
    """Errors of forward, central and Richardson estimates of f'(x) for each step in `steps`.

    f takes and returns a scalar tensor; `derivative` is the exact f'(x) if known, else the tape's value is
    the reference.
    """
    if dtype not in ("float32", "float64"):
        raise GradlabError(f"dtype must be float32 or float64, got {dtype!r}")
    try:
        steps = np.asarray(steps, dtype=np.float64)
        x = float(x)
    except (TypeError, ValueError):
        raise GradlabError("x must be a number and steps a list of positive numbers") from None
    if steps.ndim != 1 or not len(steps) or np.any(~np.isfinite(steps)) or np.any(steps <= 0):
        raise GradlabError("steps must be a non-empty list of positive numbers")
    from gradlab._tf import tf

    point = tf.constant(x, dtype=dtype)

    def in_dtype(at):
        value = tf.convert_to_tensor(f(at))
        if value.shape.rank != 0:
            raise GradlabError(f"f returned shape {value.shape}; a step study needs a scalar function of x")
        return value

    in_dtype(point)
    if derivative is None:
        from gradlab.engine.tape import tape_gradient

        reference, kind = float(tape_gradient(f, point)[0]), "tape"
    else:
        reference, kind = float(derivative), "analytic"

    estimates, errors = {}, {}
    for method, formula in FORMULAS.items():
        # every value, the step included, in the study's dtype: what a learner's own code would compute
        found = np.array([float(formula(in_dtype, point, tf.constant(h, dtype=dtype))) for h in steps])
        estimates[method] = found
        with np.errstate(invalid="ignore", over="ignore"):
            errors[method] = np.abs(found - reference)
    return StepStudy(name, x, dtype, reference, kind, steps, estimates, errors)
