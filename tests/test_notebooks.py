"""The notebooks in lessons/: generated from the lesson sources without drift, and each one runs cleanly."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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


#: Figures each lesson displays (matplotlib, as PNG), and SVG pictures at least (a graph and its frames).
FIGURES = {1: 2, 6: 1, 8: 1, 10: 1, 11: 1, 12: 1, 14: 1}
PICTURES = {1: 1 + 7, 3: 1 + 9}


@pytest.mark.slow
@pytest.mark.parametrize("number", NUMBERS)
def test_notebook_executes(number, python3_kernel, tmp_path):
    nb = nbformat.reads(_committed(number), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name=python3_kernel,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert not [output.text for output in outputs if output.get("name") == "stderr"]
    html = [output for output in outputs if "text/html" in output.get("data", {})]
    assert html, "comparison tables render as HTML"
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == FIGURES.get(number, 0), "each figure a lesson displays is one image"
    pictures = sum(output["data"]["text/html"].count("<svg") for output in html)
    assert pictures >= PICTURES.get(number, 0), "the backprop graphs and their frames are drawn as SVG"
