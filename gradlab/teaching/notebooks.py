"""Jupyter notebooks made from the lesson sources; `python -m gradlab.teaching.notebooks` writes lessons/NN-slug.ipynb.

The notebooks are generated, never edited by hand: the lesson_NN.py files are the one source. The output
is deterministic (cell ids from the lesson and cell numbers, sorted keys, a final newline), so a test can
compare committed notebooks with fresh ones byte for byte. nbformat v4 JSON is written directly, so
generating needs no Jupyter package.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gradlab.teaching.lessons import LESSONS, Cell, Lesson

__all__ = ["KERNELSPEC", "dumps", "filename", "main", "notebook", "stale", "write_all"]

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def filename(lesson: Lesson) -> str:
    return f"{lesson.number:02d}-{lesson.slug}.ipynb"


def notebook(lesson: Lesson) -> dict:
    """The lesson as an nbformat v4.5 notebook: one cell per lesson cell, no outputs."""
    cells = [_cell(cell, f"lesson-{lesson.number:02d}-cell-{index:02d}")
             for index, cell in enumerate(lesson.cells())]
    metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def _cell(cell: Cell, cell_id: str) -> dict:
    source = cell.source.splitlines(keepends=True)
    if cell.kind == "markdown":
        return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {}, "outputs": [],
            "source": source}


def dumps(nb: dict) -> str:
    """JSON text as Jupyter writes it (indent 1, sorted keys), ending with a newline."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(folder: Path) -> list[Path]:
    """Write every lesson's notebook into `folder`; return the paths whose content changed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for lesson in LESSONS.values():
        path = folder / filename(lesson)
        text = dumps(notebook(lesson))
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(folder: Path) -> list[Path]:
    """Notebooks in `folder` that are missing or differ from what the lessons generate."""
    paths = [folder / filename(lesson) for lesson in LESSONS.values()]
    return [path for path, lesson in zip(paths, LESSONS.values())
            if not path.exists() or path.read_text(encoding="utf-8") != dumps(notebook(lesson))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradlab.teaching.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="lessons", type=Path,
                        help="where the notebooks go (default: ./lessons)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any notebook is stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.folder)
        for path in outdated:
            print(f"stale: {path} (run python -m gradlab.teaching.notebooks)", file=sys.stderr)
        return 1 if outdated else 0
    for path in write_all(args.folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
