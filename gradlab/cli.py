"""The `gradlab` command line: parse the arguments, call the library, print the result.

Each subcommand is registered with `@command(...)`: its name, its help line, a function that adds its
arguments and the function that runs it. Only the commands that need TensorFlow import it, when they run.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Callable

from gradlab import __version__
from gradlab.errors import GradlabError

__all__ = ["COMMANDS", "Command", "UsageError", "build_parser", "command", "main"]

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


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
    """A rich Console on stdout: styled on a terminal, plain text when piped; NO_COLOR drops colours."""
    from rich.console import Console

    return Console()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code instead of exiting."""
    try:
        return _dispatch(build_parser(), sys.argv[1:] if argv is None else argv)
    except SystemExit as stop:
        return _exit_code(stop.code)
    except GradlabError as error:
        print(f"gradlab: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK


def _dispatch(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if args.command is None:
        raise UsageError(f"choose a command: {', '.join(COMMANDS)} (see gradlab --help)")
    return COMMANDS[args.command].run(args, make_console())


def _exit_code(code) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_USAGE


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


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

    from gradlab.lessons import LESSONS

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
    parser.add_argument("lesson", metavar="N", help="the lesson's number, as listed by `gradlab lessons`")


@command("lesson", "run a lesson in the terminal: each cell is shown, then run", _lesson_arguments)
def _lesson(args, console) -> int:
    from gradlab.lesson import run_lesson
    from gradlab.lessons import get

    run_lesson(get(args.lesson), console)
    return EXIT_OK
