"""How a Backprop is shown: a chain-rule table for the terminal, an SVG picture for notebooks and pages, and the
frames of the backward pass. Views only show; every number and verdict comes from the Backprop.

The SVG is drawn here in plain Python (no graphviz): one column per depth (the longest chain of operations
before a value), values in each column ordered by the mean height of what they read. Every label is an SVG
text element, so it can be selected, searched and read by a screen reader.
"""

from html import escape

from rich.console import Group
from rich.text import Text

from gradlab.render import compact_table, number, value_cell

#: How a node's finite-difference check is marked: (terminal text, style, SVG stroke colour).
MARKS = {
    "ok": ("✓ ok", "green", "#2e7d32"),
    "fail": ("✗ FAIL", "bold red", "#c62828"),
    "kink": ("~ kink", "yellow", "#b7791f"),
    "inconclusive": ("? unsure", "yellow", "#b7791f"),
    "not checked": ("- not checked", "dim", "#757575"),
}

#: Significant digits of the numbers in the table and the steps (the SVG boxes use 4).
DIGITS = 6

# SVG geometry, in pixels
BOX_WIDTH, BOX_HEIGHT = 200, 62
COLUMN_GAP, ROW_GAP, MARGIN = 70, 22, 16
TITLE_HEIGHT = 26


def chain_terms(graph, node):
    """The chain rule at `node`, one (child label, child's gradient, local derivative, contribution) per edge
    out of it."""
    by_key = {n.key: n for n in graph.nodes}
    return [(by_key[e.target].label, by_key[e.target].gradient, e.local, e.contribution)
            for e in graph.out_of(node.key)]


def chain_text(graph, node):
    """`y1*w2: 1 × 2` per edge out of node (`→ 4` for an edge between arrays), or the seed at the output."""
    if node.key == graph.output:
        return f"seed: d{node.label}/d{node.label} = 1"
    lines = []
    for label, gradient, local, contribution in chain_terms(graph, node):
        plus = "+ " if lines else ""
        if local is not None:
            lines.append(f"{plus}{label}: {number(gradient, DIGITS)} × {number(local, DIGITS)}")
        else:
            lines.append(f"{plus}{label}: pushes back {number(contribution, DIGITS)}")
    return "\n".join(lines) or "(no path to the output)"


def backprop_view(graph):
    """The chain-rule table: one row per node in the order the backward pass finishes them."""
    output = next(n for n in graph.nodes if n.key == graph.output)
    table = compact_table(title=f"{graph.title}: {output.label} = {number(output.value, DIGITS)}; "
                                f"grad = d{output.label}/d(node)", title_justify="left")
    table.add_column("node", overflow="fold", min_width=min(12, max(len(n.label) for n in graph.nodes)))
    table.add_column("op")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("grad", justify="right", no_wrap=True)
    table.add_column("= sum of grad(child) × local", overflow="fold")
    table.add_column("check", no_wrap=True)
    by_key = {n.key: n for n in graph.nodes}
    for key in graph.backward:
        node = by_key[key]
        mark, style, _ = MARKS[node.state]
        table.add_row(node.label, node.op, value_cell(node.value, 6), value_cell(node.gradient, 6),
                      chain_text(graph, node), Text(mark, style=style))
    notes = [Text("check: each grad against finite differences of "
                  f"{output.label} with that node's value moved", style="dim")]
    for node in graph.nodes:
        if node.state == "fail":
            notes.append(Text(f"{node.label}: the tape gives {number(node.gradient, DIGITS)}, finite differences "
                              f"{number(node.numeric, DIGITS)}", style="red"))
    notes += [Text(note, style="yellow") for note in graph.notes]
    return Group(table, *notes)


def step_line(graph, key):
    """One step of the backward pass as an equation: grad(y1) = 1 × 2 = 2."""
    node = next(n for n in graph.nodes if n.key == key)
    if key == graph.output:
        return f"grad({node.label}) = 1, the seed"
    terms = chain_terms(graph, node)
    if terms and all(local is not None for _, _, local, _ in terms):
        products = " + ".join(f"{number(g, DIGITS)} × {number(local, DIGITS)}" for _, g, local, _ in terms)
        via = ", ".join(label for label, *_ in terms)
        return f"grad({node.label}) = {products} = {number(node.gradient, DIGITS)}   (via {via})"
    return f"grad({node.label}) = {number(node.gradient, DIGITS)}   (pushed back from " \
           f"{', '.join(label for label, *_ in terms)})"


def backward_steps_view(steps):
    """One frame per step: the equation of the node just finished, then every gradient known so far."""
    graph = steps.graph
    by_key = {n.key: n for n in graph.nodes}
    frames = steps.frames
    parts = [Text(f"{graph.title}: the backward pass, one node per step", style="bold")]
    for k, (current, done) in enumerate(frames, start=1):
        parts.append(Text.assemble((f"step {k} of {len(frames)}: ", "bold"), step_line(graph, current)))
        known = ", ".join(f"{by_key[key].label} {number(by_key[key].gradient, DIGITS)}" for key in done)
        waiting = len(graph.nodes) - len(done)
        parts.append(Text(f"    known: {known}" + (f"; {waiting} to go" if waiting else ""), style="dim"))
    return Group(*parts)


def positions(graph):
    """{node key: (column, height)}, with Backprop.columns. Columns are ordered from the output back, each by
    the mean height of the nodes that read its nodes, and centred, so that most arrows run straight."""
    column = graph.columns()
    order = {node.key: k for k, node in enumerate(graph.nodes)}
    columns = {}
    for node in graph.nodes:
        columns.setdefault(column[node.key], []).append(node.key)
    where = {}
    for c in sorted(columns, reverse=True):
        def mean_height(key):
            heights = [where[e.target][1] for e in graph.out_of(key) if e.target in where]
            return sum(heights) / len(heights) if heights else 0.0

        keys = sorted(columns[c], key=lambda key: (mean_height(key), order[key]))
        for row, key in enumerate(keys):
            where[key] = (c, row - (len(keys) - 1) / 2)
    return where


def backprop_svg(graph, done=None, current=None):
    """The picture: a box per node (label, op, value | grad, check mark), an arrow per edge labelled with its
    local derivative. Gradients of nodes not in `done` show as "?"; `current` is drawn thicker."""
    done = set(graph.backward if done is None else done)
    where = positions(graph)
    columns = max(c for c, _ in where.values()) + 1
    top = min(h for _, h in where.values())
    rows = max(h for _, h in where.values()) - top + 1

    def box(key):
        column, height = where[key]
        x = MARGIN + column * (BOX_WIDTH + COLUMN_GAP)
        y = TITLE_HEIGHT + MARGIN + (height - top) * (BOX_HEIGHT + ROW_GAP)
        return x, y

    width = MARGIN * 2 + columns * BOX_WIDTH + (columns - 1) * COLUMN_GAP
    height = TITLE_HEIGHT + MARGIN * 2 + rows * BOX_HEIGHT + (rows - 1) * ROW_GAP
    height, width = int(height), int(width)
    output = next(n for n in graph.nodes if n.key == graph.output)
    label = f"{graph.title}: every node with its value and the gradient of {output.label} there"
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'),
           f"<title>{escape(label)}</title>",
           ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a8a8a"/></marker></defs>'),
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           (f'<text x="{MARGIN}" y="{MARGIN + 6}" font-size="14" font-weight="bold" fill="#222">'
            f"{escape(graph.title)}: grad = d{escape(output.label)}/d(node)</text>")]
    tops = {}  # column -> the top and bottom of each of its boxes
    for key, (column, _) in where.items():
        tops.setdefault(column, []).append((box(key)[1], box(key)[1] + BOX_HEIGHT))
    for edge in graph.edges:
        (x1, y1), (x2, y2) = box(edge.source), box(edge.target)
        x1, y1, y2 = x1 + BOX_WIDTH, y1 + BOX_HEIGHT / 2, y2 + BOX_HEIGHT / 2
        between = [span for c in range(where[edge.source][0] + 1, where[edge.target][0]) for span in tops.get(c, [])]
        path, (label_x, label_y) = _route(x1, y1, x2, y2, between)
        colour = "#8a8a8a" if edge.target in done else "#cfcfcf"
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.4" marker-end="url(#arrow)"/>')
        if edge.local is not None:
            out.append(f'<text x="{label_x:.1f}" y="{label_y - 4:.1f}" font-size="11" text-anchor="middle" '
                       f'fill="#555" stroke="#ffffff" stroke-width="3" paint-order="stroke">'
                       f"∂ {escape(number(edge.local, 4))}</text>")
    for node in graph.nodes:
        x, y = box(node.key)
        known = node.key in done
        _, _, stroke = MARKS[node.state] if known else MARKS["not checked"]
        thick = 3 if node.key == current else 1.5
        fill = "#fff8e1" if node.key == current else ("#ffffff" if known else "#f4f4f4")
        gradient = number(node.gradient, 4) if known else "?"
        out.append(f'<g><title>{escape(node.label)} ({escape(node.op)}): value {escape(number(node.value, DIGITS))}, '
                   f"grad {escape(gradient)}, check {escape(node.state) if known else 'pending'}</title>")
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="8" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="{thick}"/>')
        centre = x + BOX_WIDTH / 2
        out.append(f'<text x="{centre:.1f}" y="{y + 18:.1f}" font-size="13" font-weight="bold" text-anchor="middle" '
                   f'fill="#111">{escape(node.label)}</text>')
        out.append(f'<text x="{centre:.1f}" y="{y + 33:.1f}" font-size="10" text-anchor="middle" fill="#666">'
                   f"{escape(node.op)}</text>")
        mark = {"ok": " ✓", "fail": " ✗", "kink": " ~", "inconclusive": " ?"}.get(node.state, "") if known else ""
        out.append(f'<text x="{centre:.1f}" y="{y + 51:.1f}" font-size="12" text-anchor="middle" fill="#111" '
                   f'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">value {escape(number(node.value, 4))}'
                   f" | grad {escape(gradient)}{mark}</text>")
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _route(x1, y1, x2, y2, between):
    """An arrow's path from (x1, y1) to (x2, y2), and where its label goes. An arrow that skips columns whose
    boxes stand in its way runs along a lane just above (or below) them, whichever is nearer."""
    low, high = min(y1, y2), max(y1, y2)
    if not any(top < high + 4 and bottom > low - 4 for top, bottom in between):
        middle = (x1 + x2) / 2
        return (f"M {x1:.1f} {y1:.1f} C {middle:.1f} {y1:.1f}, {middle:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}",
                (middle, (y1 + y2) / 2))
    above = min(top for top, _ in between) - ROW_GAP / 2
    below = max(bottom for _, bottom in between) + ROW_GAP / 2
    lane = above if abs(above - (y1 + y2) / 2) <= abs(below - (y1 + y2) / 2) else below
    bend = COLUMN_GAP / 2
    path = (f"M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f}, {x1 + bend:.1f} {lane:.1f}, {x1 + COLUMN_GAP:.1f} "
            f"{lane:.1f} L {x2 - COLUMN_GAP:.1f} {lane:.1f} C {x2 - bend:.1f} {lane:.1f}, {x2 - bend:.1f} "
            f"{y2:.1f}, {x2:.1f} {y2:.1f}")
    return path, ((x1 + x2) / 2, lane)


def frames_html(steps):
    """Every frame of the backward pass in a row that scrolls sideways a frame at a time, each under its
    step's equation and drawn to the row's width (smaller where the graph is wider than that)."""
    graph = steps.graph
    cells = []
    for k, ((current, _), svg) in enumerate(zip(steps.frames, steps.svgs()), start=1):
        caption = escape(f"step {k} of {len(steps.frames)}: {step_line(graph, current)}")
        fitted = svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)
        cells.append(f'<figure style="margin:0;flex:0 0 100%;scroll-snap-align:start"><figcaption '
                     f'style="font-family:monospace;font-size:12px">{caption}</figcaption>{fitted}</figure>')
    return ('<div style="display:flex;gap:12px;overflow-x:auto;scroll-snap-type:x mandatory;'
            'padding-bottom:6px">' + "".join(cells) + "</div>")
