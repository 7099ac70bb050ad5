"""Views of gradlab's results as rich renderables (terminal and Jupyter). Views only show; they never decide."""

import io
import re
from dataclasses import dataclass

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.jupyter import JupyterMixin
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text


class Result(JupyterMixin):
    """A result that shows itself: a rich view in a terminal, HTML in Jupyter, plain text through str() and
    repr() (so a plain Python REPL shows the report, not a dump of fields; the fields stay attributes)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__repr__ = Result.__repr__  # set before @dataclass runs, which then keeps it

    def __str__(self):
        return to_text(self)

    def __repr__(self):
        return to_text(self).rstrip("\n")

    def _repr_mimebundle_(self, include=(), exclude=(), **kwargs):
        """rich's bundle, with room under the HTML's last line: rich's <pre> scrolls sideways, and a box that
        scrolls clips what hangs below its last line, so `Identity_1` would read `Identity 1`."""
        bundle = super()._repr_mimebundle_(include, exclude, **kwargs)
        if "text/html" in bundle:
            bundle["text/html"] = bundle["text/html"].replace(_RICH_PRE, _RICH_PRE + PRE_ROOM, 1)
        return bundle


#: Set to 1 in the environment, views draw static HTML only, no widgets (the static site's kernels set it).
STATIC_HTML = "GRADLAB_STATIC_HTML"
#: The start of the <pre> element of rich's HTML for Jupyter, and what gradlab adds to its style.
_RICH_PRE, PRE_ROOM = '<pre style="', "padding-bottom:0.25em;"


PASS, FAIL = Text("✓ ok", style="bold green"), Text("✗ FAIL", style="bold red")
#: How each state of a compared value (gradlab.engine.tolerances.STATES) is shown.
STATE_LABELS = {"ok": PASS, "fail": FAIL, "kink": Text("~ kink", style="bold yellow"),
                "inconclusive": Text("? inconclusive", style="bold yellow")}


def compact_table(**options):
    """A table with one space between columns and a rule under the header, so that it fits 80 columns."""
    return Table(box=box.SIMPLE_HEAD, padding=0, pad_edge=False, show_edge=False, **options)


def verdict(ok):
    return PASS if ok else FAIL


def number(x, digits=12):
    """A float in at most `digits` significant digits, an array as its shape (<3×4>), None as a dash."""
    if x is None:
        return "—"
    array = np.asarray(x, dtype=np.float64)
    if array.size != 1:
        return shape_text(array.shape)
    array = array.reshape(())
    value = float(array)
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def shape_text(shape):
    return f"<{'×'.join(map(str, shape))}>"


def error(x):
    """An error magnitude (its largest entry for arrays) in two significant digits."""
    if x is None:
        return "—"
    value = float(np.max(np.asarray(x, dtype=np.float64), initial=0.0))
    return "inf" if np.isinf(value) else f"{value:.1e}"


#: Arrays of at most this many entries (and rank 2 at most) are shown whole in a table cell.
SHOWN_ENTRIES = 9
#: Significant digits of each entry of an array shown whole, and entries on a line of a vector.
ENTRY_DIGITS, VECTOR_LINE = 3, 3
#: Significant digits of a single entry shown under its row (a worst entry).
WORST_DIGITS = 6


def shown_whole(x):
    return np.ndim(x) <= 2 and np.size(x) <= SHOWN_ENTRIES


def matrix(x, digits=ENTRY_DIGITS):
    """A small array as numpy writes it, in few digits, each column aligned: a row a line, a vector three
    entries a line."""
    array = np.asarray(x, dtype=np.float64)
    texts = [number(v, digits) for v in array.reshape(-1)]
    per_line = array.shape[1] if array.ndim == 2 and array.shape[1] else VECTOR_LINE
    lines = [texts[i:i + per_line] for i in range(0, len(texts), per_line)] or [[]]
    widths = [max(len(line[j]) for line in lines if j < len(line)) for j in range(len(lines[0]))]
    written = [", ".join(t.rjust(w) for t, w in zip(line, widths)) for line in lines]
    if array.ndim == 2:
        written = [f"[{line}]" for line in written]
    text = ("[" + ",\n ".join(written) + "]").split("\n")
    longest = max(map(len, text))
    return "\n".join(line.ljust(longest) for line in text)


def value_cell(x, digits=12):
    """A value for a table cell: a number, a small array whole (matrix), a larger one as its shape."""
    if x is None or np.size(x) == 1:
        return number(x, digits)
    return matrix(x) if shown_whole(x) else shape_text(np.shape(x))


@dataclass
class _Index:
    """An entry as entry_name and jacobian_entry read it."""

    input: str
    index: tuple


_DERIVATIVE = re.compile(r"d(\w+)/d(\w+)")
_ARGUMENT = re.compile(r"x\d*")


def entry_name(entry):
    """x[3, 4] for entry (3, 4) of input x; the bare name for a scalar."""
    return f"{entry.input}[{', '.join(map(str, entry.index))}]" if entry.index else entry.input


def jacobian_entry(entry, output_rank, output="y", space=""):
    """dy[2]/dx[3, 4] for a Jacobian entry whose index is the output's index then the input's; x[3, 4] (the
    gradient's entry) where the output is a scalar."""
    if output_rank <= 0 or len(entry.index) < output_rank:
        return entry_name(entry)
    out, into = entry.index[:output_rank], entry.index[output_rank:]
    name = f"{entry.input}[{', '.join(map(str, into))}]" if into else entry.input
    return f"d{space}{output}[{', '.join(map(str, out))}]/d{space}{name}"


# --- layouts that fit the width they are given --------------------------------------------------------------

#: Wide enough to measure a renderable's natural width (nothing wrapped).
_UNBOUNDED = 100_000


def natural_width(console, renderable):
    """The columns a renderable takes when nothing has to wrap."""
    return Measurement.get(console, console.options.update_width(_UNBOUNDED), renderable).maximum


class Sized:
    """A view laid out for the width it is given: `layout(console, width)` returns the renderable."""

    def __init__(self, layout):
        self.layout = layout

    def __rich_console__(self, console, options):
        yield self.layout(console, options.max_width)

    def __rich_measure__(self, console, options):
        return Measurement.get(console, options, self.layout(console, options.max_width))


@dataclass
class Column:
    """A column of a FittedTable: its heading and justification, whether it may move to the second table
    (`extra`), and whether it holds the verdict (beside the row's name when rows are stacked)."""

    heading: str
    justify: str = "right"
    extra: bool = False
    verdict: bool = False


class FittedTable:
    """Rows in the widest of three layouts that fits the width, so that no name or number is ever cut.

    One table; where that is too wide, the `extra` columns in a second table under the first (both with the
    first column, which names the rows); where that is still too wide, each row stacked: its name and verdict
    on a line, then a line for each value. A row may carry a line under it (its worst entry) in the same
    columns.
    """

    def __init__(self, columns, title=None):
        self.columns, self.title, self.rows = columns, title, []

    def add_row(self, *cells, under=None):
        """A row of cells (str or Text); `under` = (label, name, cells after the first) adds a line beneath."""
        self.rows.append(([_cell(c) for c in cells], under and (under[0], under[1], [_cell(c) for c in under[2]])))

    def layouts(self, width):
        every = list(range(len(self.columns)))
        main = [i for i in every if not self.columns[i].extra]
        extra = [0] + [i for i in every if self.columns[i].extra]
        yield self._table(every, width, self.title)
        if len(extra) > 1:
            yield Group(self._table(main, width, self.title), self._table(extra, width))
        yield self._stacked()

    def __rich_console__(self, console, options):
        *wide, narrowest = self.layouts(options.max_width)
        yield next((layout for layout in wide if natural_width(console, layout) <= options.max_width), narrowest)

    def __rich_measure__(self, console, options):
        *wide, narrowest = self.layouts(options.max_width)
        fits = next((layout for layout in wide if natural_width(console, layout) <= options.max_width), narrowest)
        return Measurement.get(console, options, fits)

    def _table(self, indices, width, title=None):
        table = compact_table(title=title, min_width=min(len(title), width) if title else None)
        for i in indices:
            table.add_column(self.columns[i].heading, justify=self.columns[i].justify, no_wrap=True)
        grouped = []
        for cells, under in self.rows:
            lines = [cells]
            if under and any(under[2][i - 1].plain for i in indices[1:]):
                lines.append([Text(f"  {under[0]} {under[1]}"), *under[2]])
            grouped.append(lines)
        spaced = any(len(lines) > 1 or any("\n" in line[i].plain for line in lines for i in indices)
                     for lines in grouped)
        for n, lines in enumerate(grouped):
            for k, line in enumerate(lines):
                last = k == len(lines) - 1 and n < len(self.rows) - 1
                table.add_row(*(line[i] for i in indices), end_section=spaced and last)
        return table

    def _stacked(self):
        grid = Table.grid(padding=(0, 2, 0, 0))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        verdicts = [i for i, c in enumerate(self.columns) if c.verdict]
        for cells, under in self.rows:
            grid.add_row(Text(cells[0].plain, style="bold"), *(cells[i] for i in verdicts[:1]))
            for i, column in enumerate(self.columns[1:], start=1):
                if i not in verdicts and cells[i].plain:
                    grid.add_row(f"  {column.heading}", cells[i])
            if under:
                grid.add_row(f"  {under[0]}", under[1])
                for i, column in enumerate(self.columns[1:], start=1):
                    if i not in verdicts and under[2][i - 1].plain:
                        grid.add_row(f"    {column.heading}", under[2][i - 1])
        return Group(Text(self.title, style="bold"), grid) if self.title else grid


def _cell(cell):
    return cell if isinstance(cell, Text) else Text(str(cell))  # as written: no markup in names


def packed(pieces, width, indent=""):
    """Pieces of text, (separator, Text) each, on as few lines as fit the width, broken only between pieces
    (a broken line starts with `indent` instead of the separator)."""
    lines = [pieces[0][1].copy()]
    for separator, piece in pieces[1:]:
        if lines[-1].cell_len + len(separator) + piece.cell_len <= width:
            lines[-1].append(separator)
            lines[-1].append(piece)
        else:
            lines.append(Text(indent) + piece)
    return Text("\n").join(lines)


#: Where a tolerance's description may break: before each added term and before its [dtype].
_TERM_BREAK = re.compile(r"( (?=\+ )|  (?=\[))")


def tolerance_caption(parts, width, prefix="pass when "):
    """'pass when A | B' on one line where it fits; else a part a line (the others under the first after
    '| '), and a part still too long broken only between its terms."""
    whole = prefix + " | ".join(parts)
    if len(whole) <= width:
        return Text(whole, style="dim")
    lines = []
    for i, part in enumerate(parts):
        lead = prefix if i == 0 else " " * (len(prefix) - 2) + "| "
        terms = _TERM_BREAK.split(part)
        pieces = [("", Text(lead + terms[0]))] + [(s, Text(t)) for s, t in zip(terms[1::2], terms[2::2])]
        lines.append(packed(pieces, width, indent=" " * len(prefix)))
    return Text("\n", style="dim").join(lines)


def numeric_view(result):
    table = FittedTable([Column("argument", "left"), Column("shape", "left"), Column("estimate"),
                         Column("est. error", extra=True)], title=f"finite differences ({result.method}, {result.dtype})")
    for name, value, err in zip(result.names, result.value, result.error):
        table.add_row(name, str(np.shape(value)), value_cell(value), error(err))
    return table


def comparison_view(comparison):
    """The comparison's rows in the widest layout that fits (FittedTable), the tolerance caption, the notes.

    A small array is shown whole in its cell; a larger one as its shape, with its worst entry on a line
    under the row (also under a failing row of a small array)."""
    has_analytic = any(row.analytic is not None for row in comparison.rows)
    columns = [Column("name", "left"), Column("tape"), Column("numeric"), Column("± est.", extra=True)]
    columns += [Column("analytic")] if has_analytic else []
    columns += [Column("abs err", extra=True), Column("rel err", extra=True)]
    columns += [Column("vs exact", extra=True)] if has_analytic else []
    columns += [Column("verdict", "left", verdict=True)]
    table = FittedTable(columns, title=f"tape vs finite differences ({comparison.method})")
    for row in comparison.rows:
        values = [row.tape, row.numeric] + ([row.analytic] if has_analytic else [])
        cells = [row.name, value_cell(row.tape, 9), value_cell(row.numeric, 9), error(row.numeric_error)]
        if has_analytic:
            cells.append(value_cell(row.analytic, 9))
        cells += [error(row.abs_error), error(row.rel_error)]
        if has_analytic:
            cells.append(error(row.analytic_error))
        arrays = [v for v in values if v is not None and np.size(v) > 1]
        under = None
        if row.worst and arrays and (not row.ok or not all(shown_whole(v) for v in arrays)):
            at = [number(np.asarray(v)[row.worst] if np.size(v) > 1 else v, WORST_DIGITS) for v in values]
            under = ("worst", comparison_entry(row), [at[0], at[1], "", *at[2:], "", ""] + [""] * has_analytic + [""])
        table.add_row(*cells, verdict(row.ok), under=under)
    caption = (lambda width: tolerance_caption(comparison.tolerances, width)) if comparison.tolerances else None
    notes = [Text(f"{row.name}: {row.note}", style="yellow") for row in comparison.rows if row.note]
    return Sized(lambda console, width: Group(table, *([caption(width)] if caption else []), *notes))


def comparison_entry(row):
    """The name of a comparison row's worst entry: dy[1, 0]/dx[3, 2] in the Jacobian of a row named dy/dx (the
    output's index, then the input's), x[3, 2] in a gradient (a row named dL/dx, or x); a row named otherwise
    indexes its own value, J[1, 2], unless it carries one of the argument names gradlab gives (x, x0, x1…)."""
    derivative = _DERIVATIVE.fullmatch(row.name)
    if derivative:
        output, into = derivative.groups()
        return jacobian_entry(_Index(into, row.worst), row.output_rank, output=output)
    if _ARGUMENT.fullmatch(row.name):
        return jacobian_entry(_Index(row.name, row.worst), row.output_rank)
    return entry_name(_Index(row.name, row.worst))


def hessian_entry(entry, inputs):
    """d2y/dx[1] dw[0, 2] for a second-order entry: its index is the flat position in every input's gradient,
    then the position in its own input; (v^T H)[x[3]] for a sampled entry of v^T H (fast mode)."""
    shapes = {r.name: tuple(r.shape) for r in inputs}
    if len(entry.index) != len(shapes.get(entry.input, ())) + 1:
        return f"(v^T H)[{entry_name(entry)}]"
    k = entry.index[0]
    for r in inputs:
        size = int(np.prod(r.shape, dtype=np.int64))
        if k < size:
            first = _Index(r.name, tuple(int(i) for i in np.unravel_index(k, r.shape)) if r.shape else ())
            break
        k -= size
    else:
        return entry_name(entry)
    return f"d2y/d{entry_name(first)} d{entry_name(_Index(entry.input, entry.index[1:]))}"


def gradcheck_view(result):
    order = getattr(result, "order", 1)
    what = "second derivatives (Hessian)" if order == 2 else "gradients"
    said = {"ok": f"{what} match", "fail": f"{what} differ",
            "inconclusive": "nothing could be judged (not a failure)"}[result.state]
    if result.state == "inconclusive" and any(m.state == "ok" for m in getattr(result, "modes", [])):
        said = "not every mode could be judged (not a failure)"
    reference = f", numeric side in {result.reference}" if result.reference != result.dtype else ""
    how = f"({result.mode} mode, {result.method}, verdict in {result.dtype}{reference})"
    inputs = FittedTable([Column("input", "left"), Column("shape", "left"), Column("dtype", "left", extra=True),
                          Column("checked"), Column("max abs err", extra=True), Column("max rel err", extra=True),
                          Column("verdict", "left", verdict=True)])
    for r in result.inputs:
        inputs.add_row(r.name, str(r.shape), r.dtype, f"{r.checked}/{r.total}", error(r.max_abs_error),
                       error(r.max_rel_error), verdict(r.ok))
    worst = None
    if result.worst:
        worst = FittedTable([Column("entry", "left"), Column("tape"), Column("numeric"), Column("abs err", extra=True),
                             Column("rel err", extra=True), Column("± est.", extra=True),
                             Column("allowed", extra=True), Column("verdict", "left", verdict=True)],
                            title="worst entries")
        ranks = {r.name: (np.ndim(t) - len(r.shape) if result.mode == "full" and t is not None else 0)
                 for r, t in zip(result.inputs, result.tape)}
        for e in result.worst:
            name = hessian_entry(e, result.inputs) if order == 2 else jacobian_entry(e, ranks.get(e.input, 0))
            worst.add_row(name, number(e.tape, 6), number(e.numeric, 6),
                          error(e.abs_error), error(e.rel_error), error(e.numeric_error), error(e.allowed),
                          STATE_LABELS[e.state])
    modes = None
    if getattr(result, "modes", None):
        modes = FittedTable([Column("mode", "left"), Column("compared"), Column("max abs err", extra=True),
                             Column("max rel err", extra=True), Column("verdict", "left", verdict=True)],
                            title="by mode")
        for m in result.modes:
            shown = m.compared - m.kinks - m.inconclusive > 0  # errors only where something was judged
            modes.add_row(m.mode, str(m.compared), error(m.max_abs_error if shown else None),
                          error(m.max_rel_error if shown else None), STATE_LABELS[m.state])

    def layout(console, width):
        headline = packed([("", Text.assemble(STATE_LABELS[result.state], f"  {said}")), ("  ", Text(how))], width,
                          indent="  ")
        parts = [headline, tolerance_caption([result.tolerance.describe()], width), inputs]
        parts += [Text(f"{r.name}: {r.note}") for r in result.inputs if r.note]
        if result.projection is not None:
            p = result.projection
            parts.append(Text.assemble(
                f"{p.input}: tape ", number(p.tape, 10), ", numeric ", number(p.numeric, 10),
                f" ± {error(p.numeric_error)}, |difference| {error(p.abs_error)} (allowed {error(p.allowed)}) ",
                STATE_LABELS[p.state]))
        if modes is not None:
            parts += [modes, *(Text(f"{m.mode}: {m.note}") for m in result.modes if m.note)]
        if worst is not None:
            parts.append(worst)
        parts += [Text(note, style="yellow") for note in result.notes]
        if result.evaluation:
            evaluated = "f's gradient" if order == 2 else "f"
            parts.append(Text(f"{evaluated} evaluated: {result.evaluation}", style="dim"))
        return Group(*parts)

    return Sized(layout)


def to_text(renderable, width=100):
    """Plain text of a renderable, as piped output shows it, without the spaces rich pads lines with."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, force_jupyter=False)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().split("\n"))


#: Legend entries a figure's description names before it counts the rest.
FIGURE_LABELS = 4


def is_figure(value):
    """Whether `value` is a matplotlib figure (told without importing matplotlib)."""
    return type(value).__name__ == "Figure" and hasattr(value, "savefig")


def figure_text(fig):
    """A matplotlib figure in words, from its own labels: each plot's title, what it draws against what (log
    scales named; a heat map's rows and columns), and its legend's first entries. Twin axes count as one plot
    with their host, colour bars as none. A terminal prints it where the figure would be; a web page gives it
    as the image's alternative text."""
    plots = _plots(fig)
    described = [_plot_text(group) for group in plots]
    if not any(described):
        return (f"{len(plots)} plots without labels." if len(plots) > 1 else
                "A plot without labels." if plots else "An empty figure.")
    if len(plots) > 1:
        described = [f"Plot {k}{', ' if text.startswith('“') else ': '}{text or 'no labels.'}"
                     for k, text in enumerate(described, 1)]
    title = _words(fig.get_suptitle() if hasattr(fig, "get_suptitle") else
                   fig._suptitle.get_text() if fig._suptitle is not None else "")
    return " ".join(([f"“{title}”."] if title else []) + described)


def _plots(fig):
    """The figure's axes in groups that draw on one place (a host and its twins), colour bars left out."""
    groups = {}
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>" or getattr(ax, "_colorbar", None) is not None:
            continue
        groups.setdefault(tuple(np.round(ax.get_position().bounds, 3)), []).append(ax)
    return list(groups.values())


def _words(text):
    return " ".join(str(text).split()).rstrip(".")


def _plot_text(group):
    """One plot's sentences: “its title”, what it draws, and its legend's entries, each where it has one."""
    labels = [_words(label) for ax in group for label in _legend(ax)]
    if len(labels) > FIGURE_LABELS:
        labels = labels[:FIGURE_LABELS] + [f"and {len(labels) - FIGURE_LABELS} more"]
    sentences = [_drawn(group), labels and "Legend: " + "; ".join(labels)]
    text = " ".join(f"{sentence}." for sentence in sentences if sentence)
    title = next((_words(ax.get_title()) for ax in group if ax.get_title().strip()), "")
    return (f"“{title}”" + (f": {text}" if text else ".")) if title else text


def _drawn(group):
    """What a plot draws against what: "y against x", a heat map's rows and columns, a surface's z."""
    host = group[0]
    x, y = _axis(host, "x"), " and ".join(filter(None, (_axis(ax, "y") for ax in group)))
    z = _axis(host, "z") if hasattr(host, "get_zlabel") else ""
    if host.images:
        return "a heat map" + "".join(f", {label} {way}" for label, way in ((y, "down"), (x, "across")) if label)
    if z:
        return f"{z} against {' and '.join(filter(None, (x, y)))}" if x or y else f"z axis: {z}"
    return f"{y} against {x}" if y and x else f"plotted against {x}" if x else y and f"y axis: {y}"


def _axis(ax, name):
    """An axis's label, with its scale where that is not linear ("" for an axis without a label)."""
    label = _words(getattr(ax, f"get_{name}label")())
    scale = getattr(ax, f"get_{name}scale")()
    return f"{label} ({scale} scale)" if label and scale != "linear" else label


def _legend(ax):
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend is not None else []


MARKERS = {"forward": "f", "central": "c", "richardson": "R"}
#: Columns of the step study's chart at most, and of its axis labels.
CHART_WIDTH, CHART_AXIS = 60, 10


def line_chart(series, logx=False, logy=False, width=60, height=14, reverse_x=False, markers=None):
    """A text chart of several series {label: (xs, ys)}: one letter per series, * where two overlap.

    Non-finite points (and non-positive ones on a log axis) are left out. Returns a rich Text with the
    legend underneath.
    """
    markers = markers or {label: str(label)[0] for label in series}

    def scaled(values, log):
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log10(values), np.nan) if log else values

    points = {label: (scaled(xs, logx), scaled(ys, logy)) for label, (xs, ys) in series.items()}
    xs_all = np.concatenate([x[np.isfinite(x) & np.isfinite(y)] for x, y in points.values()] or [np.zeros(1)])
    ys_all = np.concatenate([y[np.isfinite(x) & np.isfinite(y)] for x, y in points.values()] or [np.zeros(1)])
    if not xs_all.size:
        return Text("(nothing finite to draw)")
    x0, x1 = float(xs_all.min()), float(xs_all.max())
    if reverse_x:
        x0, x1 = x1, x0
    y_low, y_high = float(ys_all.min()), float(ys_all.max())
    if logy:
        y_low, y_high = np.floor(y_low), np.ceil(y_high)
    y_high = y_high if y_high > y_low else y_low + 1
    grid = [[" "] * width for _ in range(height)]
    for label, (xs, ys) in points.items():
        for x, y in zip(xs, ys):
            if np.isfinite(x) and np.isfinite(y):
                col = int(round((x - x0) / ((x1 - x0) or 1) * (width - 1)))
                row = int(round((y_high - y) / (y_high - y_low) * (height - 1)))
                grid[row][col] = markers[label] if grid[row][col] in (" ", markers[label]) else "*"

    def tick(value, log):
        if not log:
            return f"{value:.3g}"
        exponent = int(np.floor(value))
        mantissa = int(round(10.0 ** (value - exponent)))
        return f"{mantissa}e{exponent:+d}" if mantissa < 10 else f"1e{exponent + 1:+d}"

    lines = []
    for r, row in enumerate(grid):
        label = y_high - r * (y_high - y_low) / (height - 1)
        lines.append(f"{tick(label, logy) if r % 3 == 0 else '':>8} │{''.join(row)}")
    lines.append(" " * 9 + "└" + "─" * width)
    left, right = tick(x0, logx), tick(x1, logx)
    lines.append(" " * 10 + left + " " * max(1, width - len(left) - len(right)) + right)
    legend = "  ".join(f"{marker} = {label}" for label, marker in markers.items()) + "  * = overlap"
    return Text("\n".join(lines) + "\n" + legend)


def step_study_view(study):
    """The step-size study: a log-log chart of error against step (as wide as fits, up to 60 columns), then
    each method's best step."""
    series = {method: (study.steps, errors) for method, errors in study.errors.items()}
    title = Text(f"error of d/d{study.name} at {study.point:g} against the step ({study.dtype}; reference: "
                 f"{study.reference_kind} {number(study.reference)})", style="bold")
    best = compact_table()
    for heading in ("method", "best step", "its error"):
        best.add_column(heading, justify="left" if heading == "method" else "right")
    for method, (step, err) in study.best.items():
        best.add_row(method, f"{step:.0e}", f"{err:.1e}")

    def layout(console, width):
        chart = line_chart(series, logx=True, logy=True, reverse_x=True, markers=MARKERS,
                           width=max(CHART_AXIS, min(CHART_WIDTH, width - CHART_AXIS)))
        return Group(title, chart, best)

    return Sized(layout)


def diagnosis_view(diagnosis):
    """One line per source: its gradient, or None with the reason and the fix indented underneath."""
    from gradlab._tf import tf

    lines = []
    for f in diagnosis.findings:
        if f.gradient is not None:
            value = tf.convert_to_tensor(f.gradient).numpy()
            lines.append(Text.assemble(("✓ ", "bold green"), f"{f.name}: gradient {number(value)}"))
            continue
        lines.append(Text.assemble(("✗ ", "bold red"), f"{f.name}: None ", (f"({f.kind})", "bold")))
        lines.append(Padding(Text(f"why: {f.cause}"), (0, 0, 0, 4)))
        lines.append(Padding(Text(f"fix: {f.fix}", style="green"), (0, 0, 0, 4)))
    return Group(*lines)


LOCATION_STATES = {"fail": FAIL, "not checked": Text("- not checked", style="bold yellow"),
                   "inconclusive": STATE_LABELS["inconclusive"], "kink": STATE_LABELS["kink"], "ok": PASS}


def location_view(location):
    """gradlab.locate's report: the wrong ops with their context, the counts, what blocks a gradient by
    design, and where NaN or Inf begins."""
    counts = location.counts()
    wrong = location.wrong
    checked = len(location.ops)
    if wrong:
        said = f"{len(wrong)} of {checked} ops checked alone {'has' if len(wrong) == 1 else 'have'} a wrong gradient"
    else:
        said = f"no op's own gradient is wrong ({checked} checked alone)"
        if location.backward is not None:
            said += f", but {location.backward.what} appears in a gradient"
        elif location.state == "incomplete":
            said += ", but some could not be checked (below)"
    label = {"ok": PASS, "fail": FAIL, "incomplete": Text("? incomplete", style="bold yellow")}[location.state]
    parts = [Text.assemble(label, f"  {said}, at the values f saw "
                           f"({location.total_ops} ops in f's graph, {location.seconds:.1f} s)")]
    parts += [_op_view(op) for op in wrong]
    parts += [Text.assemble(LOCATION_STATES[op.state], "  ", (op.type, "bold"), f"  {op.name}: {op.note}")
              for op in location.ops if op.state == "not checked"]
    tally = ", ".join(f"{counts[s]} {s}" for s in ("ok", "kink", "inconclusive", "not checked", "fail") if counts[s])
    if tally:
        parts.append(Text(f"ops checked: {tally}", style="dim"))
    if location.blocked:
        kinds = {}
        for b in location.blocked:
            kinds.setdefault(b.reason, []).append(b.type)
        for reason, types in kinds.items():
            shown = ", ".join(f"{t} ×{types.count(t)}" if types.count(t) > 1 else t for t in dict.fromkeys(types))
            parts.append(Text(f"pass no gradient by design: {shown} ({reason})", style="dim"))
    for found in (location.forward, location.backward):
        if found is not None:
            parts.append(_nonfinite_view(found))
    for note in location.notes:
        parts.append(Text(note, style="yellow"))
    return Group(*parts)


def _op_view(op):
    title = Text.assemble(LOCATION_STATES[op.state], "  ", (op.type, "bold"), f"  {op.name}")
    lines = []
    if op.kind != "op":
        lines.append(f"kind: {op.kind}")
    if op.layer or op.scope:
        lines.append(f"in layer: {op.layer}" if op.layer else f"in name scope: {op.scope}")
    if op.source:
        lines.append(f"made at: {op.where}")
    if op.gradient_source:
        lines.append(f"its gradient: {op.gradient_source}")
    shapes = ", ".join(f"{name} {shape} {dtype}" for name, shape, dtype in op.inputs)
    outputs = ", ".join(f"{shape} {dtype}" for _, shape, dtype in op.outputs)
    if shapes:
        lines.append(f"inputs: {shapes} → outputs: {outputs}")
    check = op.check
    if check is not None:
        worst = op.worst if op.worst is not None else check.projection
        if worst is not None:
            lines.append(f"worst: {_local_entry(op, check, worst)}: tape {number(worst.tape, 6)}, numeric "
                         f"{number(worst.numeric, 6)} ± {error(worst.numeric_error)} (rel. err "
                         f"{error(worst.rel_error)}, allowed {error(worst.allowed)})")
        failed = sum(r.failed for r in check.inputs)
        if failed:
            lines.append(f"{failed} of {sum(r.compared for r in check.inputs)} compared values fail")
    if op.note:
        lines.append(op.note)
    return Group(title, *[Padding(Text(line), (0, 0, 0, 4)) for line in lines])


def _local_entry(op, check, entry):
    """d out[i]/d a[j] for a Jacobian entry of one op, (vᵀJ) at a[j] for a projected one."""
    if entry is check.projection:
        return "vᵀJu over every entry"
    rank = len(op.outputs[0][1]) if len(op.outputs) == 1 else 1
    outputs = int(sum(np.prod(shape) for _, shape, _ in op.outputs))
    shape = next((s for name, s, _ in op.inputs if name == entry.input), ())
    if outputs > 1 and len(entry.index) == rank + len(shape):
        return jacobian_entry(entry, rank, output="out", space=" ")
    return f"d out/d {entry_name(entry)}" if outputs == 1 else f"(vᵀJ) at {entry_name(entry)}"


def _nonfinite_view(found):
    direction = "value" if found.direction == "forward" else "gradient"
    more = f"; it then spreads to {found.later} more op{'s' if found.later != 1 else ''}" if found.later else ""
    return Group(
        Text.assemble(("✗ ", "bold red"), f"{found.what} first appears in a {direction} at ", (found.type, "bold"),
                      f"  {found.op}  ({found.entries} of {found.total} entries{more})"),
        Padding(Text(f"why: {found.cause}"), (0, 0, 0, 4)),
        Padding(Text(f"fix: {found.fix}", style="green"), (0, 0, 0, 4)))
