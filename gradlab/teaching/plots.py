"""Plots a learner wants: secants approaching the tape's tangent, f' from the tape beside the analytic f', and
heat maps of a Jacobian or Hessian with the map of tape - numeric.

Each is a result with its numbers (rendered as a table or a text chart in a terminal) and a `plot()` that
draws it with matplotlib; a notebook shows the figure `plot()` returns.
"""

from dataclasses import dataclass

import numpy as np

from gradlab._tf import tf
from gradlab.engine.inputs import as_output, resolve
from gradlab.errors import GradlabError
from gradlab.render import Result

#: Steps of the secants drawn by default, from far to near.
SECANT_STEPS = (2.0, 1.0, 0.5, 0.1)


def _slope(f, x):
    """f(x) and df/dx from a tape, at the float64 scalar x."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = as_output(f(x))
    if y.shape.num_elements() != 1:
        raise GradlabError(f"f returned shape {tuple(y.shape)}; these plots draw a function with one number out")
    gradient = tape.gradient(y, x)
    return float(tf.reshape(y, [])), None if gradient is None else float(gradient)


def _scalar_point(f, x, what):
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise GradlabError(f"{what} must be a number, got {type(x).__name__}")
    point, _ = resolve(f, (float(x),))
    return point.values[0]


@dataclass
class Secants(Result):
    """The secants of f through x and x + h for each step h, their slopes against the tape's tangent slope (and
    the analytic one, where given)."""

    name: str
    point: float
    value: float
    slope: float  # the tape's
    analytic: float | None
    steps: np.ndarray
    forward: np.ndarray  # (f(x + h) - f(x)) / h
    central: np.ndarray  # (f(x + h) - f(x - h)) / 2h
    ends: np.ndarray  # f(x + h)
    curve: tuple  # (xs, f(xs)) around the point, to draw f

    @property
    def forward_errors(self):
        return np.abs(self.forward - self.slope)

    @property
    def central_errors(self):
        return np.abs(self.central - self.slope)

    def __rich__(self):
        from rich.console import Group
        from rich.text import Text

        from gradlab.render import Column, FittedTable, error

        table = FittedTable([Column("step h", "left"), Column("secant slope"), Column("|secant − tape|", extra=True),
                             Column("central slope"), Column("|central − tape|", extra=True)],
                            title=f"secants at {self.name} = {self.point:g}; the tape's slope {self.slope:.10g}")
        for h, fwd, e_f, cen, e_c in zip(self.steps, self.forward, self.forward_errors, self.central,
                                         self.central_errors):
            table.add_row(f"{h:g}", f"{fwd:.10g}", error(e_f), f"{cen:.10g}", error(e_c))
        if self.analytic is None:
            return table
        return Group(table, Text(f"analytic slope {self.analytic:.10g}; |tape − analytic| = "
                                 f"{error(abs(self.slope - self.analytic))}"))

    def to_json(self):
        from gradlab.export import plain

        return {"kind": "secants", "name": self.name, "point": self.point, "value": self.value,
                "slope": self.slope, "analytic": self.analytic, "steps": plain(self.steps),
                "forward": plain(self.forward), "central": plain(self.central)}

    def plot(self, ax=None):
        """f near the point, the tape's tangent, and one secant per step."""
        fig, ax = _axes(ax)
        xs, ys = self.curve
        ax.plot(xs, ys, color="black", lw=2, label="f")
        ax.plot(xs, self.value + self.slope * (xs - self.point), color="tab:red", lw=1.5,
                label=f"tangent from the tape, slope {self.slope:.6g}")
        for h, slope, end, colour in zip(self.steps, self.forward, self.ends, _colours(len(self.steps))):
            ax.plot(xs, self.value + slope * (xs - self.point), color=colour, lw=1, ls="--",
                    label=f"secant, h = {h:g}: slope {slope:.6g}")
            ax.plot([self.point + h], [end], "o", color=colour, ms=4)
        ax.plot([self.point], [self.value], "o", color="black", ms=5)
        ax.set_xlabel(self.name)
        ax.set_title(f"secants through {self.name} = {self.point:g} approach the tangent as h shrinks")
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
        return fig


def secants(f, x, steps=SECANT_STEPS, analytic=None, name="x"):
    """Secants of the one-number function f through x and x + h, for each step in `steps`, beside the tape's
    tangent slope at x (and `analytic`, the exact slope, where known). Computed in float64."""
    point = _scalar_point(f, x, "x")
    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1 or not steps.size or not np.all(steps > 0):
        raise GradlabError(f"steps must be a list of positive numbers, got {steps.tolist()!r:.60}")
    value, slope = _slope(f, point)
    if slope is None:
        raise GradlabError("the tape returned None: f's output does not depend on x through TensorFlow operations")
    x0 = float(point)
    ends, behind = _values(f, x0 + steps, point.dtype), _values(f, x0 - steps, point.dtype)
    reach = 1.15 * float(np.max(steps))
    xs = np.linspace(x0 - reach, x0 + reach, 121)
    return Secants(name, x0, value, slope, None if analytic is None else float(analytic), steps,
                   (ends - value) / steps, (ends - behind) / (2 * steps), ends, (xs, _values(f, xs, point.dtype)))


def _values(f, xs, dtype):
    """f at each x, one call each (f need not act on a vector entry by entry)."""
    return np.asarray([float(tf.reshape(as_output(f(tf.constant(x, dtype))), [])) for x in xs])


@dataclass
class DerivativeCurve(Result):
    """f and its derivative from the tape over a range of x, beside the analytic derivative where given."""

    name: str
    xs: np.ndarray
    values: np.ndarray
    tape: np.ndarray
    analytic: np.ndarray | None

    @property
    def max_difference(self):
        """max |tape - analytic| over the range, and the x where it is largest (None without analytic)."""
        if self.analytic is None:
            return None
        gap = np.abs(self.tape - self.analytic)
        i = int(np.argmax(gap))
        return float(gap[i]), float(self.xs[i])

    def __rich__(self):
        from rich.console import Group
        from rich.text import Text

        from gradlab.render import error, line_chart

        series = {"tape": (self.xs, self.tape)}
        if self.analytic is not None:
            series["analytic"] = (self.xs, self.analytic)
        parts = [Text(f"d f / d {self.name} from the tape over [{self.xs[0]:g}, {self.xs[-1]:g}], "
                      f"{len(self.xs)} points", style="bold"),
                 line_chart(series, width=50, height=10, markers={"tape": "t", "analytic": "a"})]
        if self.analytic is not None:
            gap, where = self.max_difference
            at = f", at {self.name} = {where:g}" if gap > 0 else ""
            parts.append(Text(f"largest |tape − analytic| = {error(gap)}{at}"))
        return Group(*parts)

    def to_json(self):
        from gradlab.export import plain

        gap = self.max_difference
        return {"kind": "derivative_curve", "name": self.name, "x": plain(self.xs), "f": plain(self.values),
                "tape": plain(self.tape), "analytic": plain(self.analytic),
                "max_difference": None if gap is None else gap[0]}

    def plot(self, ax=None):
        """Two panels: f, and f' from the tape with the analytic f' drawn over it."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
            plt.close(fig)
        else:
            fig, (left, right) = ax[0].figure, ax
        left.plot(self.xs, self.values, color="black")
        left.set_title("f")
        right.plot(self.xs, self.tape, color="tab:red", lw=2.5, label="from the tape")
        if self.analytic is not None:
            right.plot(self.xs, self.analytic, color="black", ls="--", lw=1, label="analytic")
            gap, _ = self.max_difference
            right.set_title(f"d f / d {self.name}: largest |tape − analytic| {gap:.1e}")
        else:
            right.set_title(f"d f / d {self.name} from the tape")
        right.legend()
        for axis in (left, right):
            axis.set_xlabel(self.name)
            axis.grid(alpha=0.3)
        fig.tight_layout()
        return fig


def derivative_curve(f, start, stop, analytic=None, points=61, name="x"):
    """f and df/dx from the tape at `points` values of x from `start` to `stop` (float64), with `analytic`, a
    function of x giving the exact derivative, where known."""
    dtype = _scalar_point(f, start, "start").dtype
    _scalar_point(f, stop, "stop")
    if not (isinstance(points, int) and points >= 2):
        raise GradlabError(f"points must be a whole number of at least 2, got {points!r}")
    if not stop > start:
        raise GradlabError(f"stop must be larger than start, got start={start!r}, stop={stop!r}")
    xs = np.linspace(float(start), float(stop), points)
    pairs = [_slope(f, tf.constant(x, dtype)) for x in xs]
    values = np.asarray([v for v, _ in pairs])
    tape = np.asarray([np.nan if s is None else s for _, s in pairs])
    exact = None
    if analytic is not None:
        exact = _values(analytic, xs, dtype)
    return DerivativeCurve(name, xs, values, tape, exact)


def matrix_maps(tape, numeric, title="", output_rank=None, ax=None):
    """Three heat maps side by side: the tape's matrix, the numeric one, and tape - numeric on its own scale.

    An array of more than two dimensions is shown as a matrix: its first `output_rank` axes (the output's, in
    a Jacobian; default half of them) down, the rest across. Small matrices carry their numbers in the cells."""
    import matplotlib.pyplot as plt

    tape, numeric = (np.asarray(a, dtype=np.float64) for a in (tape, numeric))
    if tape.shape != numeric.shape:
        raise GradlabError(f"tape and numeric differ in shape ({tape.shape} and {numeric.shape}); pass two arrays "
                           "of one shape")
    rank = tape.ndim // 2 if output_rank is None else output_rank
    if tape.ndim > 2:
        rows = int(np.prod(tape.shape[:rank]))
        tape, numeric = tape.reshape(rows, -1), numeric.reshape(rows, -1)
    tape, numeric = np.atleast_2d(tape), np.atleast_2d(numeric)
    if ax is None:
        fig, ax = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
        plt.close(fig)
    fig = ax[0].figure
    gap = tape - numeric
    largest = float(np.max(np.abs(gap)))
    low, high = float(min(tape.min(), numeric.min())), float(max(tape.max(), numeric.max()))
    panels = ((tape, "tape", "viridis", low, high), (numeric, "finite differences", "viridis", low, high),
              (gap, f"tape − numeric (largest {largest:.1e})", "RdBu_r", -(largest or 1.0), largest or 1.0))
    for axis, (matrix, label, cmap, vmin, vmax) in zip(ax, panels):
        image = axis.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
        axis.set_title(label, fontsize=10)
        axis.set_xticks(range(matrix.shape[1]))
        axis.set_yticks(range(matrix.shape[0]))
        axis.set_xlabel("input entry")
        axis.set_ylabel("output entry")
        if matrix.size <= 36:
            for (i, j), v in np.ndenumerate(matrix):
                axis.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=8, color="white" if cmap ==
                          "viridis" and v < (vmin + vmax) / 2 else "black")
        fig.colorbar(image, ax=axis, shrink=0.85)
    if title:
        fig.suptitle(title)
    return fig


def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=(7, 4.2))
    plt.close(fig)
    return fig, ax


def _colours(count):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    return [cmap(k / max(1, count - 1) * 0.85) for k in range(count)]
