"""The notebooks in lessons/: generated from the lesson sources without drift (tests/test_site.py runs them)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from gradlab.teaching import notebooks
from gradlab.teaching.lessons import LESSONS

FOLDER = Path(__file__).resolve().parents[1] / "lessons"
NUMBERS = sorted(LESSONS)


def _committed(number: int) -> str:
    path = FOLDER / notebooks.filename(LESSONS[number])
    assert path.exists(), f"{path} is missing: run python -m gradlab.teaching.notebooks"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("number", NUMBERS)
def test_committed_notebook_matches_the_lesson(number):
    fresh = notebooks.dumps(notebooks.notebook(LESSONS[number]))
    assert _committed(number) == fresh, "stale notebook: run python -m gradlab.teaching.notebooks"


def test_no_notebook_without_a_lesson():
    expected = {notebooks.filename(lesson) for lesson in LESSONS.values()}
    assert {path.name for path in FOLDER.glob("*.ipynb")} == expected


@pytest.mark.parametrize("number", NUMBERS)
def test_notebook_is_valid_nbformat_and_stable_through_a_round_trip(number):
    text = _committed(number)
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert nbformat.writes(nb) + "\n" == text
    assert [cell.cell_type for cell in nb.cells] == [cell.kind for cell in LESSONS[number].cells()]


def test_check_mode_reports_stale_notebooks(tmp_path):
    assert notebooks.main([str(tmp_path), "--check"]) == 1
    assert notebooks.main([str(tmp_path)]) == 0
    assert notebooks.main([str(tmp_path), "--check"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        notebooks.filename(lesson) for lesson in LESSONS.values())
