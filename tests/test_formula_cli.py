"""check_formula and `gradlab check EXPR`: the states at good and bad points, every refusal, JSON, lesson --json."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import gradlab
from gradlab import cli
from gradlab.errors import GradlabError
from gradlab.formula import STATES, check_formula
from gradlab.teaching.lessons import LESSONS
from gradlab.render import to_text

# formula, point, dtype, the state of each variable's derivative (in order)
STATE_CASES = [
    ("3*w1**2 + 2*w1*w2", {"w1": 5, "w2": 3}, "float64", ["ok", "ok"]),
    ("3*w1**2 + 2*w1*w2", {"w1": 5, "w2": 3}, "float32", ["ok", "ok"]),
    ("sin(x)*cos(y) + sigmoid(x*y)", {"x": 0.3, "y": -2.1}, "float32", ["ok", "ok"]),
    ("softplus(x)", {"x": 1000}, "float64", ["ok"]),
    ("abs(x)", {"x": 1e-3}, "float64", ["ok"]),
    ("abs(x)", {"x": 0}, "float64", ["not differentiable here"]),
    ("relu(x)", {"x": 0}, "float64", ["not differentiable here"]),
    ("relu(x)", {"x": 0}, "float32", ["not differentiable here"]),
    ("sqrt(x)", {"x": 0}, "float64", ["not differentiable here"]),
    ("x**y", {"x": -2, "y": 3}, "float64", ["ok", "not differentiable here"]),
    ("log(x)", {"x": 0}, "float64", ["not defined here"]),
    ("1/x", {"x": 0}, "float64", ["not defined here"]),
    ("x/x", {"x": 0}, "float64", ["not defined here"]),
    ("exp(x)", {"x": 100}, "float32", ["not defined here"]),
    ("exp(x)", {"x": 100}, "float64", ["ok"]),
    ("tan(x)", {"x": 1.5707963}, "float64", ["ok"]),  # the step shrinks below the distance to the pole
    ("tan(x)", {"x": 1.5707963267948966}, "float64", ["not differentiable here"]),  # the pole is within an ulp
    ("1/x", {"x": 1e-4}, "float64", ["ok"]),
    ("log(x)", {"x": 1e-4}, "float64", ["ok"]),
    ("sqrt(x)", {"x": 0.01}, "float32", ["ok"]),
    ("log(2 + sin(exp(exp(x))))", {"x": 2}, "float64", ["ok"]),  # turns faster than the first step resolves
    ("relu(x) - relu(-x)", {"x": 0}, "float64", ["mismatch"]),  # f = x, but the tape takes relu'(0) = 0
]


@pytest.mark.parametrize("text, at, dtype, states", STATE_CASES,
                         ids=[f"{c[0]} at {c[1]} {c[2]}" for c in STATE_CASES])
def test_states(text, at, dtype, states):
    result = check_formula(text, at, dtype=dtype)
    assert [d.state for d in result.derivatives] == states, to_text(result)
    assert result.ok == all(s == "ok" for s in states)
    assert result.state == max(states, key=STATES.index)
    assert all(d.note for d in result.derivatives if d.state != "ok")


def test_the_three_ways_at_the_lesson_1_point():
    result = check_formula("3*w1**2 + 2*w1*w2", {"w1": 5, "w2": 3})
    w1, w2 = result.derivatives
    assert (w1.formula, w1.symbolic, w1.tape) == ("6*w1 + 2*w2", 36.0, 36.0)
    assert (w2.formula, w2.symbolic, w2.tape) == ("2*w1", 10.0, 10.0)
    assert abs(w1.numeric - 36) <= w1.numeric_error and abs(w2.numeric - 10) <= w2.numeric_error
    assert result.value == result.symbolic_value == 105.0


def test_a_kink_is_named_with_both_one_sided_estimates():
    (d,) = check_formula("abs(x)", {"x": 0}).derivatives
    assert (d.forward, d.backward) == (1.0, -1.0)
    assert "forward 1, backward -1" in d.note


@pytest.mark.parametrize("text, at", [("tan(x)", {"x": 1.5707963}), ("log(2 + sin(exp(exp(x))))", {"x": 2}),
                                      ("1/x", {"x": 1e-4})])
def test_where_the_first_step_is_too_coarse_the_step_shrinks_until_the_estimate_agrees(text, at):
    (d,) = check_formula(text, at).derivatives
    first = 7.4e-4 * max(1.0, abs(at["x"]))  # float64's Richardson step, eps ** (1/5) * max(1, |x|)
    assert d.ok and d.step < first / 7 and d.numeric_vs_symbolic <= d.numeric_allowed


def test_the_tape_convention_at_a_kink_inside_a_smooth_formula_is_a_mismatch():
    (d,) = check_formula("relu(x) - relu(-x)", {"x": 0}).derivatives
    assert (d.tape, d.symbolic, d.forward, d.backward) == (0.0, 1.0, 1.0, 1.0)
    assert "the tape differs from the symbolic value" in d.note


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_numeric_estimate_is_gradlab_numeric_gradient(dtype):
    text, at = "sin(x)*exp(y/3) + x**3", {"x": 0.7, "y": -1.2}
    result = check_formula(text, at, dtype=dtype)
    f = gradlab.expr.parse(text).tensorflow()
    reference = gradlab.numeric_gradient(f, np.asarray(0.7, dtype), np.asarray(-1.2, dtype))
    for d, value, error in zip(result.derivatives, reference.value, reference.error):
        assert abs(d.numeric - float(value)) <= float(error)
        assert d.numeric_error == pytest.approx(float(error), rel=0.5)


def test_float32_shows_the_rounded_point_and_its_own_tolerance():
    result = check_formula("x**2", {"x": 0.1}, dtype="float32")
    assert result.point["x"] == float(np.float32(0.1)) and result.at["x"] == 0.1
    assert result.tolerance.dtype == "float32"
    assert "(0.1 in float32)" in to_text(result)


BAD_POINTS = [
    ("w1*w2", {"w1": 1}, "the formula uses w1, w2; at is missing w2"),
    ("x", {"x": 1, "y": 2}, "at also gives y, which it does not use"),
    ("x", {"x": 1, "pi": 2}, "(pi is a constant)"),
    ("x", {"x": "1"}, "give a number"),
    ("x", {"x": True}, "give a number"),
    ("x", {"x": math.nan}, "give a finite number"),
    ("x", [1.0], "must map each variable to a number"),
]


@pytest.mark.parametrize("text, at, message", BAD_POINTS)
def test_a_bad_point_is_a_clear_error(text, at, message):
    with pytest.raises(GradlabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_formula(text, at)


def test_a_bad_dtype_is_a_clear_error():
    with pytest.raises(GradlabError, match="float32 or float64"):
        check_formula("x", {"x": 1}, dtype="float16")


def test_json_view_is_plain_data():
    document = check_formula("log(x) + y", {"x": 0, "y": 1}).to_json()
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text)["derivatives"][0]["symbolic"] is None  # 1/x at 0: not finite, so null
    assert document["state"] == "not defined here" and document["ok"] is False
    assert document["value"]["tape"] is None and document["steps"] == []


def test_steps_study_each_variable_with_the_symbolic_reference(tmp_path):
    result = check_formula("sin(x)*y", {"x": 1, "y": 2}, steps=True)
    assert [s.name for s in result.studies] == ["x", "y"]
    assert result.studies[0].reference_kind == "analytic"
    assert result.studies[0].reference == pytest.approx(2 * math.cos(1), rel=1e-15)
    result.plot(tmp_path / "steps.png")
    assert (tmp_path / "steps.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(GradlabError, match="no step-size studies"):
        check_formula("x", {"x": 1}).plot()


# the command line ---------------------------------------------------------------------------------------------

CHECK = ["check", "3*w1**2 + 2*w1*w2", "--at", "w1=5", "w2=3"]

# argv, text the error must contain, how many lines stderr has (3: the formula and a caret follow)
BAD_COMMANDS = [
    (["check"], "required: EXPR", 1),
    (["check", "x"], "required: --at", 1),
    (["check", "-x**2", "--at", "x=1"], "needs a space or parentheses in front", 1),
    (["check", "x", "--at"], "expected at least one argument", 1),
    (["check", "x", "--at", "x=1", "--dtype", "float16"], "invalid choice: 'float16'", 1),
    (["check", "3*foo(x)", "--at", "x=1"], "unknown function foo", 3),
    (["check", "x.real", "--at", "x=1"], "attribute access", 3),
    (["check", "x[0]", "--at", "x=1"], "indexing", 3),
    (["check", "'x'", "--at", "x=1"], "text in quotes", 3),
    (["check", "lambda: x", "--at", "x=1"], "lambda", 3),
    (["check", "[x for x in y]", "--at", "x=1"], "comprehension", 3),
    (["check", "sin(x, x)", "--at", "x=1"], "sin takes 1 argument, got 2", 3),
    (["check", "sin(x=1)", "--at", "x=1"], "keyword arguments", 3),
    (["check", "sin(*x)", "--at", "x=1"], "*args", 3),
    (["check", "x < 1", "--at", "x=1"], "comparisons", 3),
    (["check", "x or 1", "--at", "x=1"], "and/or", 3),
    (["check", "__import__('os')", "--at", "x=1"], "names starting with '_'", 3),
    (["check", "x y", "--at", "x=1"], "cannot read the formula", 3),
    (["check", "10**10**10*x", "--at", "x=1"], "exponent 1e+10 is too large", 3),
    (["check", "(" * 60 + "x" + ")" * 60, "--at", "x=1"], "nested more than 50 levels", 3),
    (["check", "x+" * 600 + "x", "--at", "x=1"], "the limit is 1000", 1),
    (["check", "", "--at", "x=1"], "the formula is empty", 1),
    (["check", "x\x1b[2J", "--at", "x=1"], "unexpected character '\\x1b'", 3),
    (["check", "pi*2", "--at", "x=1"], "no variables", 3),
    (["check", "(2**y)**((2**500)/y)", "--at", "y=1"], "exact power", 3),
    (["check", "w1*w2", "--at", "w1=5"], "the formula uses w1, w2; --at is missing w2", 1),
    (["check", "w1", "--at", "w1=5", "w2=3"], "--at also gives w2, which it does not use", 1),
    (["check", "w1", "--at", "w1=5", "w1=6"], "--at gives w1 twice (w1=5, w1=6)", 1),
    (["check", "w1*w2", "--at", "w1=5", "--at", "w1=6"], "--at gives w1 twice (w1=5, w1=6)", 1),
    (["check", "x*y", "--at", "X=1", "y=2"], "--at gives X, but the formula uses x: names are case-sensitive", 1),
    (["check", "2x", "--at", "x=1"], "write 2*x, not 2x", 3),
    (["check", "x²", "--at", "x=1"], "write **2 instead (x**2)", 3),
    (["check", "w1", "--at", "w1:5"], "--at w1:5: write NAME=VALUE", 1),
    (["check", "w1", "--at", "w1=abc"], "--at w1=abc: abc is not a number", 1),
    (["check", "w1", "--at", "=3"], "--at =3: the name is missing", 1),
    (["check", "w1", "--at", "w1="], "--at w1=: the value is not a number", 1),
    (["check", "w1", "--at", "1w=3"], "1w is not a variable name", 1),
    (["check", "w1", "--at", "w\x1b1=3"], "w\\x1b1 is not a variable name", 1),
    (["check", "w1", "--at", "w1=nan"], "give a finite number", 1),
    (["check", "w1", "--at", "w1=1e39", "--dtype", "float32"], "does not fit in float32", 1),
    (["check", "x", "--at", "x=1", "--plot", "/no/such/folder/s.png"], "does not exist", 1),
    (["check", "x", "--at", "x=1", "--plot", "steps.xyz"], "name a .png file", 1),
    (["lesson", "99", "--json"], "no lesson 99", 1),
]


@pytest.mark.parametrize("argv, message, lines", BAD_COMMANDS, ids=[" ".join(a[1:3])[:30] for a, _, _ in BAD_COMMANDS])
def test_every_bad_command_is_a_clear_error_and_exit_2(argv, message, lines, capsys):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("gradlab: error: ")
    assert message in err.splitlines()[0] and "Traceback" not in err and "usage:" not in err
    assert err.count("\n") == lines
    assert "\x1b" not in err
    if lines == 3:
        assert err.splitlines()[2].strip() == "^"


def test_check_prints_the_three_ways_in_80_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(CHECK) == 0
    out, err = capsys.readouterr()
    assert err == "" and max(map(len, out.splitlines())) <= 80
    for text in ("∂f/∂w1 = 6*w1 + 2*w2", "∂f/∂w2 = 2*w1", "✓ ok", "float64", "rtol 1e-06"):
        assert text in out


@pytest.mark.parametrize("argv, state, code", [
    (["check", "abs(x)", "--at", "x=0"], "not differentiable here", 0),
    (["check", "log(x)", "--at", "x=0"], "not defined here", 0),
    (["check", " -x**2", "--at", "x=1"], "✓ ok", 0),
    (["check", "x**2", "--at", "x=0.1", "--dtype", "float32"], "(0.1 in float32)", 0),
    (["check", "relu(x) - relu(-x)", "--at", "x=0"], "mismatch", 1),  # a disagreement exits 1, like a failed test
])
def test_check_states_in_the_terminal(argv, state, code, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(argv) == code
    out = capsys.readouterr().out
    assert state in " ".join(out.split()) and max(map(len, out.splitlines())) <= 80


@pytest.mark.parametrize("at", [["--at", "w1=5", "--at", "w2=3"], ["--at", "w1=5,w2=3"], ["--at", "w2=3", "w1=5"]],
                         ids=["repeated", "commas", "any-order"])
def test_the_point_can_be_given_in_groups(at, capsys):
    assert cli.main(["check", "3*w1**2 + 2*w1*w2", *at, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["point"] == {"w1": 5.0, "w2": 3.0}


def test_check_json_is_the_only_output(capsys):
    assert cli.main([*CHECK, "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert err == "" and document["schema_version"] == 1 and document["kind"] == "formula_check"
    assert [d["symbolic"] for d in document["derivatives"]] == [36.0, 10.0]
    assert document["ok"] is True


def test_check_steps_and_plot(tmp_path, capsys):
    path = tmp_path / "study.png"
    assert cli.main([*CHECK, "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert "error of d/dw1 at 5" in out and "error of d/dw2 at 3" in out and f"wrote {path}" in out
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert cli.main([*CHECK, "--steps", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in document["steps"]] == ["w1", "w2"]


def test_lesson_json(capsys):
    assert cli.main(["lesson", "1", "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert (document["kind"], document["lesson"], document["title"]) == ("lesson", 1, LESSONS[1].title)
    assert document["results"] and all("kind" in r and "cell" in r for r in document["results"])
    assert document["ok"] is True and err == ""


@pytest.fixture
def two_lessons(monkeypatch):
    import gradlab.teaching.lessons

    monkeypatch.setattr(gradlab.teaching.lessons, "LESSONS", {n: LESSONS[n] for n in (1, 2)})


def test_lesson_all_runs_every_lesson_in_order(two_lessons, capsys):
    assert cli.main(["lesson", "all"]) == 0
    out = capsys.readouterr().out
    assert 0 <= out.index(f"Lesson 1: {LESSONS[1].title}") < out.index(f"Lesson 2: {LESSONS[2].title}")


def test_lesson_all_json(two_lessons, capsys):
    assert cli.main(["lesson", "all", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "lessons" and [d["lesson"] for d in document["lessons"]] == [1, 2]
    assert document["ok"] == all(d["ok"] for d in document["lessons"])


@pytest.mark.slow
def test_check_json_in_a_real_process(user_env, tmp_path):
    run = subprocess.run([sys.executable, "-m", "gradlab", *CHECK, "--json"], capture_output=True, text=True,
                         env=user_env, cwd=tmp_path)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    document = json.loads(run.stdout)
    assert document["ok"] is True and document["derivatives"][0]["formula"] == "6*w1 + 2*w2"


@pytest.mark.parametrize("text, at, state", [
    ("abs(x)**0.5", {"x": 0}, "not differentiable here"),  # a cusp: the two sides disagree in sign
    ("cosh(x)", {"x": 710}, "ok"),  # the numeric estimate overflows; the tape still matches SymPy
    ("abs(x) + relu(y) - relu(-y)", {"x": 0, "y": 0}, "mismatch"),  # the mismatch is the headline
])
def test_states_at_hard_points(text, at, state):
    assert check_formula(text, at).state == state


@pytest.mark.parametrize("argv, hint", [
    (["check", "-x**2", "--at", "x=1"], True),
    (["check", "x", "--at", "x=1", "--bogus"], False),
    (["check"], False),
])
def test_the_leading_minus_hint_only_where_it_applies(argv, hint, capsys):
    assert cli.main(argv) == 2
    assert ("starts with '-'" in capsys.readouterr().err) == hint
