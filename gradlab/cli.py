"""The `gradlab` command line: parse the arguments, call the library, print the result.

Each subcommand is registered with `@command(...)`: its name, its help line, a function that adds its
arguments and the function that runs it. Only the commands that need TensorFlow import it, when they run.

With --json a command prints one JSON document on stdout and nothing else: numbers are numbers, null stands
for a non-finite value, and every document starts with "schema_version" (gradlab.export.SCHEMA_VERSION).

    check EXPR --json   the FormulaCheck view: its schema is in gradlab.formula's docstring
    lesson N --json     {"schema_version", "kind": "lesson", "lesson": N, "title": str,
                         "results": [{"cell": int, **gradlab.export.to_json(value)} for each gradlab result
                                     a cell displayed], "ok": bool}
    lesson all --json   {"schema_version", "kind": "lessons", "lessons": [lesson documents, in order], "ok": bool}
    site DIR --json     {"schema_version", "kind": "site", "folder": str, "index": str, "seconds": float,
                         "pages": [{"number", "title", "summary", "file", "notebook", "seconds", "helpers",
                                    "results", "figures", "pictures", "exercises", "stderr"}]}

Each result has a "kind": "comparison", "check", "numeric_gradient", "backprop", "exercise" (an answer's feedback;
no "ok": an exercise left unanswered is not a failure), "secants", "derivative_curve", "step_study"...
A lesson's "ok" is true when every displayed result that has a verdict passed; some lessons show a failing
check on purpose, so it reports what the lesson shows, not whether it ran (a lesson that cannot run is an error).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from typing import Callable

from gradlab import __version__
from gradlab.errors import GradlabError

__all__ = ["COMMANDS", "Command", "UsageError", "build_parser", "command", "main"]

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(GradlabError):
    """The command line itself is wrong: an unknown command, a missing or malformed argument."""


@dataclass(frozen=True)
class Command:
    """A subcommand: `configure(parser)` adds its arguments; `run(args, console)` returns the exit code."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] = lambda parser: None):
    """Register the decorated `run(args, console) -> int` as the subcommand `name`."""

    def register(run):
        COMMANDS[name] = Command(name, help, configure, run)
        return run

    return register


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are raised as UsageError instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gradlab",
        description="Learn, see and verify automatic differentiation with TensorFlow's tf.GradientTape.",
        epilog="Start with `gradlab lessons`, then `gradlab lesson 1`.",
    )
    parser.add_argument("--version", action="version", version=f"gradlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for entry in COMMANDS.values():
        entry.configure(subparsers.add_parser(entry.name, help=entry.help, description=entry.help))
    return parser


def make_console():
    """A rich Console on stdout: styled on a terminal, plain text when piped or when NO_COLOR is set (no
    escapes at all, bold and dim included); a reader that goes away ends the command quietly, exit 0."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self):  # rich's own exits 1; the edge of main turns this into a quiet 0
            self.quiet = True
            raise BrokenPipeError

    plain = bool(os.environ.get("NO_COLOR"))
    return _Console(color_system=None) if plain else _Console()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code instead of exiting."""
    try:
        return _dispatch(build_parser(), sys.argv[1:] if argv is None else argv)
    except SystemExit as stop:
        return _exit_code(stop.code)
    except GradlabError as error:
        print(_error_text(error), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK


def _dispatch(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        if argv[:1] == ["check"] and any(token[:1] == "-" and token[1:2] != "-" and token not in _CHECK_FLAGS
                                         for token in argv[1:]):
            raise UsageError(f"{error}; a formula that starts with '-' needs a space or parentheses in front, "
                             "e.g. ' -x**2' or '(-x**2)'") from None
        raise
    if args.command is None:
        raise UsageError(f"choose a command: {', '.join(COMMANDS)} (see gradlab --help)")
    return COMMANDS[args.command].run(args, make_console())


_CHECK_FLAGS = ("-h",)  # the one short option of check: any other "-..." is likely a formula


def _exit_code(code) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_USAGE


def _one_line(error: Exception | str) -> str:
    return " ".join(str(error).split())


def _error_text(error: GradlabError) -> str:
    """One line, `gradlab: error: ...`; an error that points at a column of a formula (gradlab.expr) adds the
    formula and a caret under that column on two more lines."""
    pointer = getattr(error, "pointer", None)
    if isinstance(pointer, str) and pointer:
        return f"gradlab: error: {_one_line(error.headline)}\n{pointer}"
    return f"gradlab: error: {_one_line(error)}"


def _print_json(document) -> None:
    """The document as JSON on stdout, and nothing else: numbers as numbers, null for non-finite ones."""
    import json

    from gradlab.export import SCHEMA_VERSION, plain

    print(json.dumps({"schema_version": SCHEMA_VERSION, **plain(document)}, indent=2, allow_nan=False))


def _silence_stdout() -> None:
    """After the reader of a pipe went away, point stdout at devnull so the exit flush stays quiet."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# --- commands -------------------------------------------------------------------------------------------


@command("lessons", "list the lessons")
def _lessons(args, console) -> int:
    from rich.table import Table

    from gradlab.teaching.lessons import LESSONS

    table = Table(title="gradlab lessons", title_justify="left", box=None, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("title", style="bold")
    table.add_column("summary")
    for lesson in LESSONS.values():
        table.add_row(str(lesson.number), lesson.title, lesson.summary)
    console.print(table)
    console.print("\nRun one with: gradlab lesson N", highlight=False)
    return EXIT_OK


def _lesson_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lesson", metavar="N",
                        help="the lesson's number, as listed by `gradlab lessons`, or `all` for every lesson in order")
    parser.add_argument("--json", action="store_true",
                        help="print only JSON: the gradlab results each lesson displays, and whether they are ok")
    parser.add_argument("--pause", action="store_true",
                        help="wait for Enter before each section and ask for the predictions of the exercises "
                             "(q to stop; needs a terminal on stdin)")


@command("lesson", "run a lesson in the terminal: each cell is shown, then run", _lesson_arguments)
def _lesson(args, console) -> int:
    from gradlab.teaching.lesson import Stop, run_lesson, stdin_is_terminal
    from gradlab.teaching.lessons import LESSONS, get

    every = args.lesson.strip().lower() == "all"
    lessons = list(LESSONS.values()) if every else [get(args.lesson)]
    if args.pause and args.json:
        raise UsageError("--pause asks questions, --json prints only JSON: choose one")
    if args.pause and not stdin_is_terminal():
        print("gradlab: --pause needs a terminal on stdin; running without pausing", file=sys.stderr)
    if not args.json:
        try:
            for lesson in lessons:
                run_lesson(lesson, console, pause=args.pause)
        except Stop:
            console.print("stopped", highlight=False)
        return EXIT_OK
    documents = [_lesson_document(lesson) for lesson in lessons]
    if every:
        _print_json({"kind": "lessons", "lessons": documents, "ok": all(d["ok"] for d in documents)})
    else:
        _print_json(documents[0])
    return EXIT_OK


def _lesson_document(lesson) -> dict:
    """Run a lesson with its output thrown away: the JSON views of the gradlab results its cells displayed
    (other displayed values, such as tensors, are left out)."""
    import io

    from rich.console import Console

    from gradlab.export import to_json
    from gradlab.teaching.lesson import run_lesson

    namespace = run_lesson(lesson, Console(file=io.StringIO(), width=100))
    results = []
    for index, value in namespace["Out"].items():
        if type(value).__module__.split(".")[0] != "gradlab":
            continue
        view = to_json(value)
        if isinstance(view, dict):
            results.append({"cell": index, **view})
    ok = all(result["ok"] for result in results if isinstance(result.get("ok"), bool))
    return {"kind": "lesson", "lesson": lesson.number, "title": lesson.title, "results": results, "ok": ok}


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    from gradlab.expr import CONSTANTS, FUNCTIONS, MAX_LENGTH

    parser.add_argument("formula", metavar="EXPR",
                        help="the formula, quoted, e.g. '3*w1**2 + 2*w1*w2': numbers, variables, + - * / **, "
                             "parentheses and the functions below")
    parser.add_argument("--at", nargs="+", action="extend", metavar="NAME=VALUE", required=True,
                        help="the point: one NAME=VALUE for each variable of the formula, e.g. --at w1=5 w2=3 "
                             "(or w1=5,w2=3; repeated --at groups add up)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="what TensorFlow computes in (default float64); float32 shows what changes")
    parser.add_argument("--order", default="1", metavar="{1,2}",
                        help="1 (default): the first derivatives; 2: the second derivatives too, one row per pair "
                             "of variables (the Hessian, from SymPy, nested tapes and finite differences of the "
                             "tape gradient)")
    parser.add_argument("--steps", action="store_true",
                        help="add the step-size study of each variable: the error of forward, central and "
                             "Richardson estimates of the first derivative against the step")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="write the step-size studies as one figure, one plot per variable (implies --steps)")
    parser.add_argument("--json", action="store_true",
                        help="print only JSON (the schema is in gradlab.formula's docstring)")
    parser.epilog = (f"functions: {', '.join(sorted(FUNCTIONS))}; constants: {', '.join(CONSTANTS)}. At most "
                     f"{MAX_LENGTH} characters. A formula that starts with '-' needs a space or parentheses "
                     "in front: ' -x**2'.")


@command("check", "a formula's derivatives three ways: SymPy, tape, numeric", _check_arguments)
def _check(args, console) -> int:
    from gradlab.expr import parse

    if args.order.strip() not in ("1", "2"):
        raise UsageError(f"--order {_shown(args.order)}: choose 1 (first derivatives) or 2 (the Hessian too)")
    order = int(args.order)
    formula = parse(args.formula)
    point = _point(args.at)
    plot = _plot_path(args.plot) if args.plot is not None else None

    from gradlab.formula import check_formula

    result = check_formula(formula, point, dtype=args.dtype, steps=args.steps or plot is not None, source="--at",
                           order=order)
    if plot is not None:
        result.plot(plot)
    if args.json:
        _print_json(result.to_json())
    else:
        console.print(result)
        if plot is not None:
            console.print(f"wrote {plot}", highlight=False)
    return EXIT_MISMATCH if result.state == "mismatch" else EXIT_OK


def _shown(text: str) -> str:
    """User text, safe to print: anything outside printable ASCII as a backslash escape."""
    return "".join(c if " " <= c <= "~" else ascii(c)[1:-1] for c in text)


def _point(tokens: list[str]) -> dict[str, float]:
    """--at NAME=VALUE ... as {name: value}, or a UsageError saying what is wrong with which token."""
    point: dict[str, float] = {}
    given: dict[str, str] = {}
    tokens = [part for token in tokens for part in (token.split(",") if all(
        "=" in piece for piece in token.split(",")) else [token])]  # x=1,y=2 is two; 1,5 is not split
    for token in tokens:
        name, equals, value = token.partition("=")
        name, value, shown = name.strip(), value.strip(), _shown(token)
        if not equals:
            raise UsageError(f"--at {shown}: write NAME=VALUE, e.g. x=1.5")
        if not name:
            raise UsageError(f"--at {shown}: the name is missing; write NAME=VALUE, e.g. x=1.5")
        if not name.isidentifier() or not name.isascii():
            raise UsageError(f"--at {shown}: {_shown(name)} is not a variable name")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--at {shown}: {_shown(value) or 'the value'} is not a number"
                             + ("" if value else "; write NAME=VALUE, e.g. x=1.5")) from None
        if name in point:
            raise UsageError(f"--at gives {name} twice ({given[name]}, {shown}); give each variable once")
        point[name], given[name] = number, shown
    return point


def _plot_path(path: str) -> str:
    """The --plot file, checked before any work: a folder that exists and a format matplotlib writes."""
    from pathlib import Path

    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        raise UsageError(f"--plot {_shown(path)}: name a .png file (or {', '.join('.' + f for f in sorted(formats))})")
    folder = Path(path).parent
    if not folder.is_dir():
        raise UsageError(f"--plot {_shown(path)}: the folder {_shown(str(folder))} does not exist")
    return path


def _site_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", help="where the pages go (created if needed); then open DIR/index.html")
    parser.add_argument("--lessons", metavar="N,M-K", type=_lesson_numbers,
                        help="build only these lessons, e.g. 1,3 or 1-4 (default: every lesson)")
    parser.add_argument("--jobs", metavar="K", type=_positive,
                        help="Jupyter kernels running lessons at the same time, each its share in turn (default: 2)")
    parser.add_argument("--json", action="store_true", help="print only JSON: the pages and what each shows")


@command("site", "the lessons as a static website, every output on its page", _site_arguments)
def _site(args, console) -> int:
    from pathlib import Path

    from gradlab.teaching.site import SiteError, build

    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{_shown(args.folder)} is a file; name a folder for the site")

    def started(count):
        console.print(f"running {count} lesson notebook{'s' if count > 1 else ''} and writing "
                      f"{'their pages' if count > 1 else 'its page'}...", highlight=False)

    def progress(lesson, seconds):
        console.print(f"  lesson {lesson.number} ran in {seconds:.0f} s", highlight=False)

    shown = {} if args.json else {"started": started, "progress": progress}  # --json prints the result alone
    try:
        site = build(folder, args.lessons, jobs=args.jobs, **shown)
    except SiteError as error:
        print(f"gradlab: site not built: {_one_line(error)}", file=sys.stderr)
        return EXIT_MISMATCH
    if args.json:
        _print_json(site.to_json())
    else:
        console.print(site)
    return EXIT_OK


def _lesson_numbers(text: str) -> list[int]:
    """'1,3,12-14' -> [1, 3, 12, 13, 14], each a lesson of the registry, in the order given."""
    from gradlab.teaching.lessons import get

    parts = []
    for part in filter(None, (part.strip() for part in text.split(","))):
        span = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if span and int(span[1]) > int(span[2]):
            raise argparse.ArgumentTypeError(f"{part} runs backwards; write {span[2]}-{span[1]}")
        parts += [str(n) for n in range(int(span[1]), int(span[2]) + 1)] if span else [part]
    try:
        numbers = list(dict.fromkeys(get(part).number for part in parts))
    except GradlabError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not numbers:
        raise argparse.ArgumentTypeError("name at least one lesson, e.g. --lessons 1,3 or --lessons 1-4")
    return numbers


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value
