"""The `gradlab` command line: exit codes, one-line errors, help at every level, no needless TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gradlab import __version__, cli
from gradlab.errors import GradlabError
from gradlab.teaching.lessons import LESSONS

CHOICES = ", ".join(str(number) for number in LESSONS)

# (argv, text the one-line error must contain)
BAD_INPUTS = [
    ([], "choose a command"),
    (["lesson", "0"], f"no lesson 0; choose one of {CHOICES}"),
    (["lesson", "99"], f"no lesson 99; choose one of {CHOICES}"),
    (["lesson", "abc"], f"no lesson abc; choose one of {CHOICES}"),
    (["lesson"], "required: N"),
    (["lesson", "1", "2"], "unrecognized arguments: 2"),
    (["nope"], "invalid choice: 'nope'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["lessons", "extra"], "unrecognized arguments: extra"),
    (["site"], "required: DIR"),
    (["site", "out", "--lessons", "99"], f"argument --lessons: no lesson 99; choose one of {CHOICES}"),
    (["site", "out", "--lessons", ","], "name at least one lesson, e.g. --lessons 1,3 or --lessons 1-4"),
    (["site", "out", "--lessons", "4-2"], "argument --lessons: 4-2 runs backwards; write 2-4"),
    (["site", "out", "--lessons", "15-17"], f"argument --lessons: no lesson 17; choose one of {CHOICES}"),
    (["site", "out", "--jobs", "0"], "argument --jobs: expected a whole number of at least 1, got '0'"),
    (["site", __file__], "is a file; name a folder for the site"),
]

HELP_LEVELS = [[], *([name] for name in cli.COMMANDS)]

# Commands that must answer without importing TensorFlow.
WITHOUT_TENSORFLOW = [
    ["--help"],
    ["--version"],
    ["lessons"],
    ["lesson", "99"],
    ["site", "out", "--lessons", "99"],
    *([name, "--help"] for name in cli.COMMANDS),
]

ANSI_ESCAPE = "\x1b["
TENSORFLOW_NOISE = ["onednn", "cuda", "absl", "cpu_feature_guard", "tensorflow binary"]

CALL_MAIN = """
import contextlib, io, json, sys
from gradlab.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    results.append([argv, code, "tensorflow" in sys.modules])
print(json.dumps(results))
"""


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gradlab: error: ")
    assert message in err and "Traceback" not in err and "usage:" not in err


@pytest.mark.parametrize("level", HELP_LEVELS, ids=lambda level: " ".join(level) or "gradlab")
def test_help_at_every_level(level, capsys):
    assert cli.main([*level, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: gradlab {' '.join(level)}".rstrip())


def test_help_lists_every_command(capsys):
    cli.main(["--help"])
    out = capsys.readouterr().out
    for entry in cli.COMMANDS.values():
        assert entry.name in out and entry.help in out


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"gradlab {__version__}\n"


def test_lessons_lists_every_lesson(capsys, wide):
    assert cli.main(["lessons"]) == 0
    out = capsys.readouterr().out
    for lesson in LESSONS.values():
        rows = [line for line in out.splitlines() if line.split()[:1] == [str(lesson.number)]]
        assert any(lesson.title in row for row in rows)
        assert lesson.summary in " ".join(out.split())


@pytest.mark.parametrize("number", [min(LESSONS), max(LESSONS)])
def test_lesson_runs(number, capsys):
    """The command's own path, on the first and the last lesson (every lesson runs through the same runner in
    the lesson tests, whose output test_every_lesson_shows_its_heading reads)."""
    assert cli.main(["lesson", str(number)]) == 0
    out, err = capsys.readouterr()
    assert f"Lesson {number}: {LESSONS[number].title}" in out
    assert ANSI_ESCAPE not in out and err == ""


@pytest.mark.parametrize("number", sorted(LESSONS))
def test_every_lesson_shows_its_heading(number, lesson_run):
    assert f"Lesson {number}: {LESSONS[number].title}" in lesson_run(number).text


def _replace_lessons_command(monkeypatch, run):
    monkeypatch.setitem(cli.COMMANDS, "lessons", cli.Command("lessons", "list", lambda parser: None, run))


def test_a_library_error_is_one_line_at_the_edge(monkeypatch, capsys):
    def fails(args, console):
        raise GradlabError("something is wrong\n  with this input")

    _replace_lessons_command(monkeypatch, fails)
    assert cli.main(["lessons"]) == 2
    assert capsys.readouterr().err == "gradlab: error: something is wrong with this input\n"


def test_site_without_its_extra_names_the_extra_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "nbconvert", None)  # an import of it raises ImportError
    assert cli.main(["site", str(tmp_path / "site"), "--lessons", "1"]) == 1
    out, err = capsys.readouterr()
    assert err == ('gradlab: site not built: building the site needs nbconvert: install the site extra: '
                   'pip install ".[site]" in a clone of gradlab\n')
    assert out == "", "nothing said to be running before the build can start"
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("quiet", [[], ["--json"]], ids=["shown", "json"])
def test_a_site_folder_that_cannot_be_made_is_one_line_and_exit_1(capsys, quiet):
    assert cli.main(["site", f"{__file__}/site", *quiet]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"gradlab: site not built: cannot write {__file__}/site: ") and "Traceback" not in err


def test_interrupt_exits_130_quietly(monkeypatch, capsys):
    def interrupted(args, console):
        raise KeyboardInterrupt

    _replace_lessons_command(monkeypatch, interrupted)
    assert cli.main(["lessons"]) == 130
    assert capsys.readouterr() == ("", "")


def test_a_registered_command_is_parsed_and_run(monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMANDS", dict(cli.COMMANDS))

    def configure(parser):
        parser.add_argument("word")

    @cli.command("echo", "say a word back", configure)
    def echo(args, console):
        console.print(args.word)
        return 0

    assert cli.main(["echo", "hello"]) == 0
    assert capsys.readouterr().out == "hello\n"
    assert cli.main(["--help"]) == 0
    assert "say a word back" in capsys.readouterr().out


@pytest.mark.slow
def test_help_and_lessons_do_not_import_tensorflow(user_env):
    script = subprocess.run([sys.executable, "-c", CALL_MAIN, json.dumps(WITHOUT_TENSORFLOW)],
                            capture_output=True, text=True, env=user_env, check=True)
    results = json.loads(script.stdout)
    assert [argv for argv, _, _ in results] == WITHOUT_TENSORFLOW
    for argv, code, imported in results:
        assert code in (0, 2) and not imported, argv


@pytest.mark.slow
def test_piped_lesson_is_plain_text_without_tensorflow_noise(user_env, tmp_path):
    run = subprocess.run([sys.executable, "-m", "gradlab", "lesson", "1"],
                         capture_output=True, text=True, env=user_env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert ANSI_ESCAPE not in run.stdout and "\x1b" not in run.stdout
    assert not [noise for noise in TENSORFLOW_NOISE if noise in run.stderr.lower()], run.stderr
    assert "36.000003007075065" in run.stdout and "10.000000003174137" in run.stdout


@pytest.mark.slow
def test_no_color_on_a_terminal_means_no_escapes_at_all(user_env):
    import os
    import pty

    leader, follower = pty.openpty()
    run = subprocess.run([sys.executable, "-m", "gradlab", "lessons"], stdout=follower, stderr=follower,
                         env={**user_env, "NO_COLOR": "1", "COLUMNS": "100"}, timeout=120)
    os.close(follower)
    text = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        text += chunk
    os.close(leader)
    assert run.returncode == 0 and b"Partial derivatives" in text and b"\x1b[" not in text


def test_a_reader_that_goes_away_ends_the_command_quietly_with_exit_0(user_env):
    process = subprocess.Popen([sys.executable, "-m", "gradlab", "lessons"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=user_env)
    process.stdout.close()  # like `gradlab lessons | head -0`
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0 and b"Traceback" not in err


@pytest.mark.parametrize(("text", "numbers"), [("1,3", [1, 3]), ("2-4", [2, 3, 4]), ("14 - 16,1", [14, 15, 16, 1]),
                                               ("1,,2", [1, 2]), ("3,1-3", [3, 1, 2])])
def test_site_lessons_are_numbers_and_ranges_in_the_order_given(text, numbers):
    assert cli._lesson_numbers(text) == numbers
