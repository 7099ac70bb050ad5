"""Shared test fixtures: lessons run once per session, and a user-like environment."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import pytest
from rich.console import Console

# Variables that would change what a user sees: set by the in-process TensorFlow import or by a CI terminal.
NOT_THE_USERS = (
    "TF_CPP_MIN_LOG_LEVEL", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "COLUMNS",
)


@dataclass(frozen=True)
class LessonRun:
    """What running a lesson left behind: the namespace its cells shared and the text it printed."""

    namespace: dict
    text: str


@pytest.fixture(scope="session")
def lesson_run():
    """`lesson_run(number)` runs that lesson in-process once per session, rendered at width 100."""
    from gradlab.teaching.lesson import run_lesson
    from gradlab.teaching.lessons import LESSONS

    runs: dict[int, LessonRun] = {}

    def run(number: int) -> LessonRun:
        if number not in runs:
            console = Console(file=io.StringIO(), width=100)
            namespace = run_lesson(LESSONS[number], console)
            runs[number] = LessonRun(namespace, console.file.getvalue())
        return runs[number]

    return run


@pytest.fixture(scope="session")
def not_the_users() -> tuple:
    """The names of the environment variables that `user_env` leaves out."""
    return NOT_THE_USERS


@pytest.fixture
def user_env() -> dict:
    """os.environ as a user's shell would have it: no log-level or colour settings left by the tests."""
    return {name: value for name, value in os.environ.items() if name not in NOT_THE_USERS}
