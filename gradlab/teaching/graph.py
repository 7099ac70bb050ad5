"""The op graph of a traced function: inputs, forward ops, backward ops (what tape.gradient adds), outputs.

`op_graph(concrete.graph)` reads `get_operations()` of a tf.function's concrete function. An op is backward
when tape.gradient created it: its name is under the `gradient_tape/` name scope, or it consumes a backward
op's output (the AddN that sums two paths into one gradient), or it reads nothing and only backward ops
use it (the `ones` that seeds dy = 1). Control dependencies are not drawn: only data edges.
"""

from dataclasses import dataclass

from gradlab.render import Result
from rich.text import Text
from rich.tree import Tree

BACKWARD_SCOPE = "gradient_tape/"
PARTS = ("inputs", "forward", "backward", "outputs")
COLOURS = {"inputs": "tab:gray", "forward": "tab:blue", "backward": "tab:red", "outputs": "tab:green"}
HEADINGS = {
    "inputs": "inputs",
    "forward": "forward: computes the value",
    "backward": "backward: added by tape.gradient",
    "outputs": "outputs: what the function returns",
}


@dataclass(frozen=True)
class Op:
    """One operation: its name, its type (Sin, Mul...), the ops whose outputs it reads, and its part."""

    name: str
    type: str
    inputs: tuple
    part: str


@dataclass
class OpGraph(Result):
    """The ops of a traced graph in creation order, each in one of PARTS; a rich Tree, or a picture."""

    title: str
    ops: list

    def part(self, name):
        return [op for op in self.ops if op.part == name]

    @property
    def inputs(self):
        return self.part("inputs")

    @property
    def forward(self):
        return self.part("forward")

    @property
    def backward(self):
        return self.part("backward")

    @property
    def outputs(self):
        return self.part("outputs")

    def layers(self):
        """{op name: depth}: 0 for ops that read nothing, else one more than the deepest op they read."""
        depth = {}
        for op in self.ops:  # creation order: an op's inputs always come before it
            depth[op.name] = 1 + max((depth[i] for i in op.inputs), default=-1)
        return depth

    def positions(self):
        """({op name: (depth, height)}, how many ops were left out): ops that neither read nor feed any op
        (shape constants tape.gradient created but did not need) are left out. Each column is ordered by the
        mean height of what its ops read, which keeps most arrows from crossing."""
        used = {source for op in self.ops for source in op.inputs}
        shown = [op for op in self.ops if op.inputs or op.name in used or op.part in ("inputs", "outputs")]
        depth = self.layers()
        columns = {}
        for op in shown:
            columns.setdefault(depth[op.name], []).append(op)
        where = {}
        for column in sorted(columns):
            ops = columns[column]
            if column:
                ops = sorted(ops, key=lambda op: -sum(where[i][1] for i in op.inputs) / len(op.inputs))
            for row, op in enumerate(ops):
                where[op.name] = (column, (len(ops) - 1) / 2 - row)
        return where, len(self.ops) - len(shown)

    def __rich__(self):
        tree = Tree(Text(f"{self.title}: {len(self.ops)} ops", style="bold"))
        for name in PARTS:
            ops = self.part(name)
            branch = tree.add(Text(f"{HEADINGS[name]} ({len(ops)})", style="bold"))
            for op in ops:
                reads = f" ← {', '.join(op.inputs)}" if op.inputs else ""
                branch.add(Text.assemble((op.name, "cyan"), f"  {op.type}", (reads, "dim")))
        return tree

    def plot(self, ax=None, width=9.0, height=4.5):
        """A layered drawing: one column per depth, arrows along data edges, one colour per part.

        Returns the figure. Without `ax`, the figure is made with pyplot (so Jupyter shows it) and then
        closed, so it appears where it is displayed and never opens a window.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(width, height))
            plt.close(fig)
        else:
            fig = ax.figure
        where, hidden = self.positions()
        drawn = [op for op in self.ops if op.name in where]
        for op in drawn:
            for source in op.inputs:
                ax.annotate("", xy=where[op.name], xytext=where[source],
                            arrowprops={"arrowstyle": "->", "color": "0.6", "shrinkA": 14, "shrinkB": 14})
        for op in drawn:
            x, y = where[op.name]
            named = op.part in ("inputs", "outputs") or op.type == "Const"
            label = f"{op.name}\n{op.type}" if named else op.type
            ax.text(x, y, label, ha="center", va="center", fontsize=8,
                    bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": COLOURS[op.part]})
        for name in PARTS:
            ax.plot([], [], "s", color=COLOURS[name], label=name)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        xs = [x for x, _ in where.values()] or [0]
        ys = [y for _, y in where.values()] or [0]
        ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
        ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
        unused = f"; {hidden} unused constants not drawn" if hidden else ""
        ax.set_xlabel(f"depth: the longest chain of ops before each op{unused}")
        ax.set_xticks(sorted({int(x) for x in xs}))
        ax.set_yticks([])
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.set_title(self.title)
        fig.tight_layout()
        return fig


def op_graph(graph, title=None):
    """An OpGraph of a tf.Graph (e.g. `f.get_concrete_function(...).graph` of a tf.function f)."""
    if not callable(getattr(graph, "get_operations", None)):
        from gradlab.errors import GradlabError

        raise GradlabError(f"op_graph needs a tf.Graph, got {type(graph).__name__}; pass "
                           "f.get_concrete_function(...).graph of a tf.function f")
    operations = graph.get_operations()
    producer = {t.name: op.name for op in operations for t in op.outputs}
    reads = {op.name: tuple(dict.fromkeys(producer[t.name] for t in op.inputs if t.name in producer))
             for op in operations}
    returned = {t.op.name for t in getattr(graph, "outputs", []) if t.op.type == "Identity"}
    backward = {op.name for op in operations if op.name.startswith(BACKWARD_SCOPE)}
    users = {op.name: [] for op in operations}
    for op in operations:
        for source in reads[op.name]:
            users[source].append(op.name)
    fixed = {op.name for op in operations if op.type == "Placeholder"} | returned
    changed = True
    while changed:
        changed = False
        for op in operations:
            name = op.name
            if name in backward or name in fixed:
                continue
            after_backward = any(source in backward for source in reads[name])
            seed = not reads[name] and users[name] and all(user in backward for user in users[name])
            if after_backward or seed:
                backward.add(name)
                changed = True

    def part(op):
        if op.type == "Placeholder":
            return "inputs"
        if op.name in returned:
            return "outputs"
        return "backward" if op.name in backward else "forward"

    ops = [Op(op.name, op.type, reads[op.name], part(op)) for op in operations]
    return OpGraph(title or getattr(graph, "name", "graph"), ops)
