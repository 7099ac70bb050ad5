"""The lessons as a static website: each lesson's notebook executed by nbclient and turned into a page by nbconvert.

`build(folder)` writes, into `folder`:
    index.html            every lesson of the registry: number, title, summary and what it shows
    NN-slug.html          the lesson with every cell's output: tables, graph pictures, figures, exercises with
                          their solutions folded, links to the previous and next lesson and to its notebook
    NN-slug.ipynb         the lesson's notebook as lessons/ holds it (no outputs), to download and run
The notebooks run in JOBS Jupyter kernels of this Python, each kernel taking a fixed share of the lessons in
turn and reset before each (RESET): starting a kernel costs a TensorFlow import, seconds that a lesson alone
does not take. A cell that raises fails the build with the lesson and the cell named. Apart from timings a
lesson measures, the pages are the same bytes on every build: no dates, fixed cell ids, no scripts or files
fetched from elsewhere, and checks that choose how to evaluate f by what works, not by measured time
(gradlab.engine.tolerances.REPRODUCIBLE).

Building needs the `site` extra (nbconvert, nbclient, nbformat, ipykernel): INSTALL_SITE.
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import contextlib
import html
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gradlab.engine.tolerances import REPRODUCIBLE
from gradlab.errors import GradlabError
from gradlab.render import STATIC_HTML, Result, compact_table, figure_text, is_figure
from gradlab.teaching import notebooks
from gradlab.teaching.lessons import LESSONS, Lesson, escape_markdown, get

__all__ = ["JOBS", "Page", "Site", "SiteError", "build"]

#: Kernels running lessons at the same time, each a fixed share of them in turn.
JOBS = 2
#: Columns rich lays a result out in on a page (its JUPYTER_COLUMNS): what the page's column holds whole in a
#: window 1024 pixels wide, where rich's own 115 would scroll sideways and hide each line's end.
PAGE_COLUMNS = 96
#: Seconds one cell may run before the build gives up on it (the slowest takes a few).
CELL_TIMEOUT = 180
#: Seconds a kernel may take to start and answer.
KERNEL_START_SECONDS = 120
#: Run in a kernel before each of its lessons, out of the page: what a fresh kernel would show, as far as a
#: lesson can tell (no names of the lesson before, Keras' layer names counted from zero again, no open
#: figures, the next cell In[1]); and the kernel's figures described in words (describe_figures).
RESET = """\
get_ipython().run_line_magic("reset", "-f")
import sys, matplotlib.pyplot
if "keras" in sys.modules:
    sys.modules["keras"].backend.clear_session()
matplotlib.pyplot.close("all")
import gradlab.teaching.site
gradlab.teaching.site.describe_figures(get_ipython())
get_ipython().run_line_magic("reset", "-f")
get_ipython().execution_count = 1
"""
#: How to install what the build needs.
INSTALL_SITE = 'install the site extra: pip install ".[site]" in a clone of gradlab'
#: The nbconvert template (site_templates/gradlab): JupyterLab's look, dark when the system is, no scripts.
TEMPLATES = Path(__file__).with_name("site_templates")
INDEX = "index.html"
SITE_TITLE = "gradlab lessons"
SITE_INTRO = (
    "Automatic differentiation in TensorFlow, one lesson at a time. Every gradient `tf.GradientTape` computes "
    "is shown beside an independent finite-difference estimate and its error, and beside the analytic value "
    "where one is known. Each page below is its lesson's notebook, run from top to bottom.")
RUN_HINT = ("To run a lesson yourself, install gradlab from a clone of its repository (`pip install .`, the "
            "README's first command), then `python -m gradlab lesson N` in a terminal; or download a lesson's "
            "notebook and open it in Jupyter (`pip install \".[jupyter]\"`, then `jupyter lab`).")


def describe_figures(shell):
    """Make each matplotlib figure the IPython `shell` displays carry its description in words
    (gradlab.render.figure_text) as its image's alternative text, whichever formatter draws it."""
    format = shell.display_formatter.format
    if getattr(format, "describes_figures", False):
        return

    def described(obj, include=None, exclude=None):
        data, metadata = format(obj, include=include, exclude=exclude)
        if "image/png" in data and is_figure(obj):
            metadata = {**metadata, "image/png": {**metadata.get("image/png", {}), "alt": figure_text(obj)}}
        return data, metadata

    described.describes_figures = True
    shell.display_formatter.format = described


class SiteError(GradlabError):
    """The site cannot be built: a lesson's cell raised, a kernel died, or a tool the build needs is missing.
    `lesson` is the number of the lesson that failed (None where the build failed before any ran)."""

    def __init__(self, message, lesson=None):
        super().__init__(message)
        self.lesson = lesson


@dataclass
class Page(Result):
    """One lesson's page: what it shows, counted on the executed notebook, and how long the lesson ran."""

    number: int
    title: str
    summary: str
    file: str
    notebook: str
    seconds: float
    helpers: list[str]
    results: int
    figures: int
    pictures: int
    exercises: int
    stderr: list[str] = field(default_factory=list)

    def shows(self) -> str:
        """'compare, check · 3 results · 2 figures · 8 graph pictures · 2 exercises', the counts that are > 0."""
        counts = [(self.results, "result"), (self.figures, "figure"), (self.pictures, "graph picture"),
                  (self.exercises, "exercise")]
        parts = [", ".join(f"`{name}`" for name in self.helpers)] if self.helpers else []
        parts += [f"{count} {name}{'s' if count != 1 else ''}" for count, name in counts if count]
        return " · ".join(parts)

    def __rich__(self):
        return f"lesson {self.number}: {self.file} ({self.seconds:.1f} s)"


@dataclass
class Site(Result):
    """A built site: where it is, its pages in lesson order, and how long building took."""

    folder: Path
    pages: list[Page]
    seconds: float

    @property
    def index(self) -> Path:
        return self.folder / INDEX

    def __rich__(self):
        from rich.console import Group
        from rich.text import Text

        count = len(self.pages)
        table = compact_table(title=f"{count} lesson page{'s' if count != 1 else ''} in {self.folder}",
                              title_justify="left")
        for name, justify in (("lesson", "right"), ("page", "left"), ("ran", "right"), ("results", "right"),
                              ("figures", "right"), ("pictures", "right"), ("exercises", "right")):
            table.add_column(name, justify=justify, overflow="fold")  # a page's name wraps whole, never cut
        for page in self.pages:
            table.add_row(str(page.number), page.file, f"{page.seconds:.1f} s", str(page.results),
                          str(page.figures), str(page.pictures), str(page.exercises))
        lines = [table, Text(f"built in {self.seconds:.0f} s; open {self.index}")]
        lines += [Text(f"lesson {page.number} wrote to stderr: {' '.join(text.split())[:200]}", style="yellow")
                  for page in self.pages for text in page.stderr]
        return Group(*lines)

    def to_json(self) -> dict:
        return {"kind": "site", "folder": str(self.folder), "index": str(self.index), "seconds": self.seconds,
                "pages": [asdict(page) for page in self.pages]}


def build(folder, numbers=None, jobs: int | None = None, timeout: int = CELL_TIMEOUT, progress=None,
          started=None) -> Site:
    """Build the site into `folder` (created if needed): the lessons `numbers` (default: all), `jobs` at a time
    (default: JOBS). `started(count)` is called once the tools are found and the folder is made, before the
    first lesson runs; `progress(lesson, seconds)` as each lesson's notebook finishes running."""
    tools = _Tools()
    exporter = tools.exporter()
    lessons = [get(number) for number in sorted(LESSONS if numbers is None else set(numbers))]
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise SiteError(f"jobs is how many kernels run at once, a whole number of at least 1; got {jobs!r}")
    folder = Path(folder)
    with _writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    if started is not None:
        started(len(lessons))
    start = time.perf_counter()
    executed = _run_all(tools, lessons, jobs or JOBS, timeout, progress)
    pages = []
    for position, (lesson, (nb, seconds)) in enumerate(zip(lessons, executed)):
        before = lessons[position - 1] if position else None
        after = lessons[position + 1] if position + 1 < len(lessons) else None
        page = _page(lesson, nb, seconds)
        _add_navigation(nb, lesson, before, after)
        _write(folder / page.file, exporter.from_notebook_node(nb)[0])
        _write(folder / page.notebook, notebooks.dumps(notebooks.notebook(lesson)))
        pages.append(page)
    _write(folder / INDEX, exporter.from_notebook_node(_index_notebook(pages))[0])
    return Site(folder, pages, time.perf_counter() - start)


def _write(path: Path, text: str) -> None:
    with _writing(path):
        path.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def _writing(path: Path):
    """A SiteError where the system refuses to write `path`."""
    try:
        yield
    except OSError as error:
        raise SiteError(f"cannot write {path}: {error.strerror or error}; name a folder you can write to") from None


# executing ------------------------------------------------------------------------------------------------------


class _Tools:
    """nbformat, nbclient, nbconvert and a kernel manager for this Python, or a SiteError naming the extra."""

    def __init__(self):
        try:
            import ipykernel  # noqa: F401 - the kernels run it
            import nbconvert
            import nbformat
            from jupyter_client.kernelspec import KernelSpec
            from jupyter_client.manager import AsyncKernelManager
            from nbclient import NotebookClient, exceptions
        except ImportError as missing:
            raise SiteError(f"building the site needs {missing.name}: {INSTALL_SITE}") from None
        self.nbformat, self.nbconvert = nbformat, nbconvert
        self.NotebookClient, self.exceptions = NotebookClient, exceptions

        class ThisPython(AsyncKernelManager):
            """A kernel of the Python that builds the site, whatever kernels Jupyter knows of. Its views are
            static HTML (no widgets, which a page without scripts could not show) PAGE_COLUMNS wide, and its
            checks choose how to evaluate f by what works, never by measured time, so a page's numbers do not
            depend on the load."""

            @property
            def kernel_spec(self):
                argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                        "--HistoryManager.enabled=False"]  # no history, so RESET may number cells from 1
                return KernelSpec(argv=argv, display_name="Python 3", language="python",
                                  env={STATIC_HTML: "1", REPRODUCIBLE: "1", "JUPYTER_COLUMNS": str(PAGE_COLUMNS)})

        self.kernel = ThisPython

    def exporter(self):
        return self.nbconvert.HTMLExporter(template_name="gradlab", extra_template_basedirs=[str(TEMPLATES)])


def _run_all(tools: _Tools, lessons: list[Lesson], jobs: int, timeout: int, progress) -> list:
    """(notebook, seconds) of every lesson, in order. The kernels are driven from an event loop in a thread of
    its own: nbclient then installs no signal handlers, Ctrl-C reaches this thread as KeyboardInterrupt, and a
    caller's own running loop (Jupyter's) is not in the way. On Ctrl-C or a failing lesson the others are
    cancelled and their kernels shut down before this returns or raises."""
    loop = asyncio.new_event_loop()
    clients = []
    task = loop.create_task(_execute_all(tools, lessons, jobs, timeout, progress, clients))
    outcome = {}

    def drive():
        asyncio.set_event_loop(loop)
        try:
            outcome["value"] = loop.run_until_complete(task)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = error
        finally:  # what nbclient left running (its kernel-alive polls), cancelled as asyncio.run would
            left = asyncio.all_tasks(loop)
            for pending in left:
                pending.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(asyncio.gather(*(_shut_down(client) for client in clients)))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=drive, name="gradlab-site", daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(task.cancel)
        thread.join()  # the kernels shut down; a second Ctrl-C leaves them to notice their parent has gone
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def _shut_down(client) -> None:
    """The client's kernel shut down if a cancellation left it running, and nbclient's exit hook for it
    removed (at exit it would reach for sockets of a loop that is closed)."""
    atexit.unregister(client._cleanup_kernel)
    if client.km is not None and client.km.has_kernel:
        with contextlib.suppress(Exception):
            await client.km.shutdown_kernel(now=True)


async def _execute_all(tools: _Tools, lessons: list[Lesson], jobs: int, timeout: int, progress, clients) -> list:
    """Run the lessons on `jobs` kernels, kernel k taking lessons k, k + jobs, k + 2 jobs... in turn (a fixed
    share, so that every build runs a lesson after the same ones); a failing lesson stops the others, and the
    error raised is that of the first failing lesson in order."""
    stopping = asyncio.Event()
    shares = [lessons[k::jobs] for k in range(min(jobs, len(lessons)))]
    tasks = [asyncio.ensure_future(_execute_share(tools, share, stopping, timeout, progress, clients))
             for share in shares]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    failed = [task.exception() for task in tasks if not task.cancelled() and task.exception() is not None]
    if failed:
        raise min(failed, key=lambda error: getattr(error, "lesson", None) or 0)  # an interrupt first
    done = {lesson.number: result for task in tasks for lesson, result in task.result()}
    return [done[lesson.number] for lesson in lessons]


async def _execute_share(tools: _Tools, share: list[Lesson], stopping, timeout: int, progress, clients) -> list:
    """[(lesson, (notebook, seconds))] for a share of the lessons, run in turn in one kernel; the first lesson's
    time includes starting the kernel."""
    with tempfile.TemporaryDirectory(prefix="gradlab-site-") as scratch, \
            open(Path(scratch) / "kernel.log", "w+b") as log:
        kernel, client = tools.kernel(), None
        start = time.perf_counter()
        try:
            try:
                await kernel.start_kernel(stdout=log, stderr=log, cwd=scratch)
                client = kernel.client()
                client.start_channels()
                await client.wait_for_ready(timeout=KERNEL_START_SECONDS)
            except Exception as error:  # noqa: BLE001 - any failure to start is the kernel's
                raise _kernel_failed(share[0], log, error) from None
            done = []
            for lesson in share:
                nb = await _execute(tools, lesson, kernel, client, scratch, log, stopping, timeout, clients)
                seconds = time.perf_counter() - start
                if progress is not None:
                    progress(lesson, seconds)
                done.append((lesson, (nb, seconds)))
                start = time.perf_counter()
            return done
        finally:
            if client is not None:
                client.stop_channels()
            if kernel.has_kernel:
                with contextlib.suppress(Exception):
                    await kernel.shutdown_kernel(now=True)


async def _execute(tools: _Tools, lesson: Lesson, kernel, client, scratch, log, stopping, timeout, clients):
    """The lesson's notebook with every cell's outputs, run in `kernel` after RESET; a SiteError names a failing
    cell."""
    nb = tools.nbformat.reads(notebooks.dumps(notebooks.notebook(lesson)), as_version=4)
    errors = tools.exceptions
    runner = tools.NotebookClient(nb, km=kernel, timeout=timeout, record_timing=False, coalesce_streams=True,
                                  resources={"metadata": {"path": scratch}})
    runner.kc = client
    clients.append(runner)
    try:
        reply = await client.execute_interactive(RESET, store_history=False, timeout=timeout,
                                                 output_hook=lambda message: None)
        if reply["content"]["status"] != "ok":
            raise SiteError(f"lesson {lesson.number}: the kernel could not be reset before it "
                            f"({reply['content'].get('ename')}: {reply['content'].get('evalue')})", lesson.number)
        await runner.async_execute()
    except BaseException as error:
        if stopping.is_set():  # cancelled because another lesson failed, or Ctrl-C
            raise asyncio.CancelledError from None
        if isinstance(error, errors.CellExecutionError):
            error = SiteError(f"lesson {lesson.number}, cell {_failing_cell(nb)}: {error.ename}: "
                              f"{_last_line(error.evalue)}", lesson.number)
        elif isinstance(error, errors.CellTimeoutError):
            error = SiteError(f"lesson {lesson.number}, cell {_failing_cell(nb)}: still running after "
                              f"{timeout} s", lesson.number)
        elif isinstance(error, Exception) and not isinstance(error, SiteError):  # the kernel died
            error = _kernel_failed(lesson, log, error)
        elif not isinstance(error, Exception):
            raise
        raise error from None
    return nb


def _kernel_failed(lesson: Lesson, log, error) -> SiteError:
    log.seek(0)
    told = _last_line(log.read().decode(errors="replace")) or _last_line(error)
    return SiteError(f"lesson {lesson.number}: its kernel failed ({told})", lesson.number)


def _failing_cell(nb) -> str:
    """'7 (code: `y = f(x)`)': the first cell with an error output, numbered as in the notebook from 1."""
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "code" and any(out.output_type == "error" for out in cell.get("outputs", [])):
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            return f"{number} (`{first.strip()[:60]}`)"
    return "?"


def _last_line(error) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


# what a page shows ----------------------------------------------------------------------------------------------


def _page(lesson: Lesson, nb, seconds: float) -> Page:
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    rich_html = [out["data"]["text/html"] for out in outputs if "text/html" in out.get("data", {})]
    stem = _stem(lesson)
    return Page(
        number=lesson.number, title=lesson.title, summary=lesson.summary, file=f"{stem}.html",
        notebook=f"{stem}.ipynb", seconds=seconds, helpers=_helpers(lesson), results=len(rich_html),
        figures=sum("image/png" in out.get("data", {}) for out in outputs),
        pictures=sum(text.count("<svg") for text in rich_html),
        exercises=len(_exercises(lesson.number)),
        stderr=[out.text for out in outputs if out.get("name") == "stderr"])


def _stem(lesson: Lesson) -> str:
    """'01-partial-derivatives': the name of the lesson's page and notebook, without the suffix."""
    return notebooks.filename(lesson).removesuffix(".ipynb")


def _helpers(lesson: Lesson) -> list[str]:
    """The gradlab functions the lesson's code calls, as gradlab.compare(...) or after `from gradlab import
    why_none`, in the order of first use (the exercises' grader left out)."""
    names, imported = [], {}
    for cell in lesson.cells():
        if cell.kind != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module == "gradlab":
                imported.update({alias.asname or alias.name: alias.name for alias in node.names})
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            if (isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name)
                    and function.value.id == "gradlab"):
                name = function.attr
            elif isinstance(function, ast.Name) and function.id in imported:
                name = imported[function.id]
            else:
                continue
            if name not in names and name != "exercise":
                names.append(name)
    return names


def _exercises(number: int):
    from gradlab.teaching.exercises import exercises

    return exercises(number)


# pages ----------------------------------------------------------------------------------------------------------


def _markdown_cell(source: str, cell_id: str):
    """A markdown cell with a fixed id (nbformat would draw a random one, and the page shows ids)."""
    import nbformat

    return nbformat.v4.new_markdown_cell(source, id=cell_id)


def _add_navigation(nb, lesson: Lesson, before: Lesson | None, after: Lesson | None) -> None:
    """Links to the index, the previous and next lesson and the notebook at the top and bottom of the page;
    each exercise's solution folded under its answer cell."""
    def link(target: Lesson | None, arrow_first: bool) -> str:
        if target is None:
            return "<span></span>"
        text = html.escape(target.heading)
        text = f"← {text}" if arrow_first else f"{text} →"
        return f'<a href="{_stem(target)}.html">{text}</a>'

    stem = _stem(lesson)
    nav = (f'<nav class="gradlab-pages">{link(before, True)}<a href="{INDEX}">All lessons</a>'
           f'<a href="{stem}.ipynb" download>Download the notebook</a>{link(after, False)}</nav>')
    metadata = nb.metadata
    metadata["title"] = f"{lesson.heading} · gradlab"
    cells = [_markdown_cell(nav, f"{stem}-top")]
    codes = {exercise.code(): exercise for exercise in _exercises(lesson.number)}
    for cell in nb.cells:
        cells.append(cell)
        exercise = codes.get(cell.source) if cell.cell_type == "code" else None
        if exercise is not None:
            cells.append(_markdown_cell(
                f"<details><summary>A solution of exercise {exercise.key}</summary>\n\n"
                f"```python\n{exercise.solution_source.strip()}\n```\n\n</details>",
                f"{stem}-solution-{exercise.number}"))
    cells.append(_markdown_cell(nav, f"{stem}-bottom"))
    nb.cells = cells


def _index_notebook(pages: list[Page]):
    import nbformat

    rows = ["| | Lesson | What it shows |", "|---:|---|---|"]
    for page in pages:
        title = f"[{_cell_text(page.title)}]({page.file})<br>{_cell_text(page.summary)}"
        rows.append(f"| {page.number} | {title} | {page.shows()} · [notebook]({page.notebook}) |")
    nb = nbformat.v4.new_notebook()
    nb.cells = [_markdown_cell(f"# {SITE_TITLE}\n\n{SITE_INTRO}\n\n{RUN_HINT}", "index-intro"),
                _markdown_cell("\n".join(rows), "index-lessons")]
    nb.metadata["title"] = SITE_TITLE
    return nb


def _cell_text(text: str) -> str:
    """Plain text shown as it is inside one cell of a markdown table."""
    return escape_markdown(" ".join(text.split())).replace("|", "\\|")
