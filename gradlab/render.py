"""Views of gradlab's results as rich renderables (terminal and Jupyter). Views only show; they never decide."""

import io

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.jupyter import JupyterMixin
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
        return f"<{'×'.join(map(str, array.shape))}>"
    array = array.reshape(())
    value = float(array)
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def error(x):
    """An error magnitude (its largest entry for arrays) in two significant digits."""
    if x is None:
        return "—"
    value = float(np.max(np.asarray(x, dtype=np.float64), initial=0.0))
    return "inf" if np.isinf(value) else f"{value:.1e}"


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


def numeric_view(result):
    table = compact_table(title=f"finite differences ({result.method}, {result.dtype})")
    table.add_column("argument")
    table.add_column("shape")
    table.add_column("estimate", justify="right")
    table.add_column("est. error", justify="right")
    for name, value, err in zip(result.names, result.value, result.error):
        table.add_row(name, str(np.shape(value)), number(value), error(err))
    return table


def comparison_view(comparison):
    has_analytic = any(row.analytic is not None for row in comparison.rows)
    caption = "pass when " + " | ".join(comparison.tolerances) if comparison.tolerances else None
    table = compact_table(title=f"tape vs finite differences ({comparison.method})", caption=caption)
    longest = max((len(row.name) for row in comparison.rows), default=4)
    table.add_column("name", min_width=min(longest, 18), overflow="fold")
    headings = ["tape", "numeric", "± est."] + (["analytic"] if has_analytic else []) + ["abs err", "rel err"]
    headings += ["vs exact"] if has_analytic else []
    for heading in headings:
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for row in comparison.rows:
        cells = [row.name, number(row.tape, 9), number(row.numeric, 9), error(row.numeric_error)]
        if has_analytic:
            cells.append(number(row.analytic, 9))
        cells += [error(row.abs_error), error(row.rel_error)]
        if has_analytic:
            cells.append(error(row.analytic_error))
        table.add_row(*cells, verdict(row.ok))
    notes = [Text(f"{row.name}: {row.note}", style="yellow") for row in comparison.rows if row.note]
    return Group(table, *notes) if notes else table


def gradcheck_view(result):
    said = {"ok": "gradients match", "fail": "gradients differ",
            "inconclusive": "nothing could be judged (not a failure)"}[result.state]
    reference = f", numeric side in {result.reference}" if result.reference != result.dtype else ""
    headline = Text.assemble(
        STATE_LABELS[result.state], f"  {said}", f"  ({result.mode} mode, {result.method}, verdict in "
        f"{result.dtype}{reference})")
    parts = [headline, Text(f"pass when {result.tolerance.describe()}", style="dim")]
    inputs = compact_table()
    for heading in ("input", "shape", "dtype", "checked", "max abs err", "max rel err", "verdict"):
        inputs.add_column(heading, justify="right" if heading.startswith(("checked", "max")) else "left")
    for r in result.inputs:
        inputs.add_row(r.name, str(r.shape), r.dtype, f"{r.checked}/{r.total}", error(r.max_abs_error),
                       error(r.max_rel_error), verdict(r.ok))
    parts.append(inputs)
    parts += [Text(f"{r.name}: {r.note}") for r in result.inputs if r.note]
    if result.projection is not None:
        p = result.projection
        parts.append(Text.assemble(
            f"{p.input}: tape ", number(p.tape, 10), ", numeric ", number(p.numeric, 10),
            f" ± {error(p.numeric_error)}, |difference| {error(p.abs_error)} (allowed {error(p.allowed)}) ",
            STATE_LABELS[p.state]))
    if result.worst:
        worst = compact_table(title="worst entries")
        for heading in ("entry", "tape", "numeric", "abs err", "rel err", "± est.", "allowed", "verdict"):
            worst.add_column(heading, justify="left" if heading in ("entry", "verdict") else "right", no_wrap=True)
        ranks = {r.name: (np.ndim(t) - len(r.shape) if result.mode == "full" and t is not None else 0)
                 for r, t in zip(result.inputs, result.tape)}
        for e in result.worst:
            worst.add_row(jacobian_entry(e, ranks.get(e.input, 0)), number(e.tape, 6), number(e.numeric, 6), error(e.abs_error),
                          error(e.rel_error), error(e.numeric_error), error(e.allowed), STATE_LABELS[e.state])
        parts.append(worst)
    for note in result.notes:
        parts.append(Text(note, style="yellow"))
    if result.evaluation:
        parts.append(Text(f"f evaluated: {result.evaluation}", style="dim"))
    return Group(*parts)


def to_text(renderable, width=100):
    """Plain text of a renderable, as piped output shows it."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, force_jupyter=False)
    console.print(renderable)
    return console.file.getvalue()


MARKERS = {"forward": "f", "central": "c", "richardson": "R"}


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
    """The step-size study: a log-log chart of error against step, then each method's best step."""
    series = {method: (study.steps, errors) for method, errors in study.errors.items()}
    chart = line_chart(series, logx=True, logy=True, reverse_x=True, markers=MARKERS)
    title = Text(f"error of d/d{study.name} at {study.point:g} against the step ({study.dtype}; reference: "
                 f"{study.reference_kind} {number(study.reference)})", style="bold")
    best = compact_table()
    for heading in ("method", "best step", "its error"):
        best.add_column(heading, justify="left" if heading == "method" else "right")
    for method, (step, err) in study.best.items():
        best.add_row(method, f"{step:.0e}", f"{err:.1e}")
    return Group(title, chart, best)


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
