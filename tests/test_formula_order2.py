"""check_formula(..., order=2) and `gradlab check EXPR --order 2`: the Hessian three ways, its states, JSON, widths."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import gradlab.formula
from gradlab import cli
from gradlab.errors import GradlabError
from gradlab.formula import check_formula
from gradlab.render import to_text

LESSON_1 = ["check", "3*w1**2 + 2*w1*w2", "--at", "w1=5", "w2=3", "--order", "2"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_hessian_of_the_lesson_1_formula_three_ways(dtype):
    result = check_formula("3*w1**2 + 2*w1*w2", {"w1": 5, "w2": 3}, dtype=dtype, order=2)
    rows = result.second_derivatives
    assert [d.wrt for d in rows] == [["w1", "w1"], ["w1", "w2"], ["w2", "w2"]]
    assert [d.formula for d in rows] == ["6", "2", "0"]
    assert [d.sympy for d in rows] == [6.0, 2.0, 0.0]
    assert [d.tape for d in rows] == [d.tape_transposed for d in rows] == [6.0, 2.0, 0.0]
    assert all(abs(d.numeric - d.sympy) <= d.numeric_error for d in rows)
    assert [d.state for d in rows] == ["ok"] * 3 and result.ok and result.order == 2


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sin_x_times_y(dtype):
    rows = check_formula("sin(x)*y", {"x": 1, "y": 2}, dtype=dtype, order=2).second_derivatives
    expected = [-2 * math.sin(1), math.cos(1), 0.0]
    assert [d.formula for d in rows] == ["-y*sin(x)", "cos(x)", "0"]
    assert [d.sympy for d in rows] == pytest.approx(expected, rel=1e-15)
    rtol = 1e-6 if dtype == "float32" else 1e-14
    assert [d.tape for d in rows] == pytest.approx(expected, rel=rtol, abs=rtol)
    assert [d.state for d in rows] == ["ok"] * 3


# formula, point, the state of each second derivative (pairs i <= j, in order)
STATE_CASES = [
    ("x**3*y", {"x": 0.5, "y": -2}, ["ok", "ok", "ok"]),
    ("exp(x*y)", {"x": 0.3, "y": -1.1}, ["ok", "ok", "ok"]),
    ("abs(x)", {"x": 0}, ["not differentiable here"]),  # f' jumps: a kink of f is no mismatch
    ("relu(x)", {"x": 0}, ["not differentiable here"]),
    ("abs(x)", {"x": 0.5}, ["ok"]),
    ("sqrt(x)", {"x": 0}, ["not differentiable here"]),
    ("log(x)", {"x": 0}, ["not defined here"]),
]


@pytest.mark.parametrize("text, at, states", STATE_CASES, ids=[f"{c[0]} at {c[1]}" for c in STATE_CASES])
def test_states(text, at, states):
    result = check_formula(text, at, order=2)
    assert [d.state for d in result.second_derivatives] == states, to_text(result)
    assert all(d.note for d in result.second_derivatives if d.state != "ok")


def test_a_kink_is_not_a_mismatch_on_the_command_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["check", "abs(x)", "--at", "x=0", "--order", "2"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "∂²f/∂x² = 2*DiracDelta(x)" in out and "mismatch" not in out
    assert "f's gradient has a kink, jump or pole" in out


def _wrong_hessian(monkeypatch, i, j):
    tape_hessian = gradlab.formula._tape_hessian

    def wrong(*args):
        gradient, hessian = tape_hessian(*args)
        hessian = hessian.copy()
        hessian[i, j] += 0.5
        return gradient, hessian

    monkeypatch.setattr(gradlab.formula, "_tape_hessian", wrong)


def test_a_wrong_second_derivative_on_the_tape_is_a_mismatch_and_exit_1(capsys, monkeypatch):
    _wrong_hessian(monkeypatch, 0, 1)
    assert cli.main([*LESSON_1, "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)["second_derivatives"]
    assert [r["state"] for r in rows] == ["ok", "mismatch", "ok"]
    assert rows[1]["tape"] == 2.5 and "the tape differs from the symbolic value" in rows[1]["note"]


def test_a_hessian_that_is_not_symmetric_is_a_mismatch(monkeypatch):
    _wrong_hessian(monkeypatch, 1, 0)
    result = check_formula("3*w1**2 + 2*w1*w2", {"w1": 5, "w2": 3}, order=2)
    d = result.second_derivatives[1]
    assert (d.tape, d.tape_transposed, d.asymmetry, d.state) == (2.0, 2.5, 0.5, "mismatch")
    assert "not symmetric" in d.note and result.state == "mismatch"


def test_json_shape(capsys):
    assert cli.main([*LESSON_1, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["order"] == 2 and document["ok"] is True
    rows = document["second_derivatives"]
    assert [r["wrt"] for r in rows] == [["w1", "w1"], ["w1", "w2"], ["w2", "w2"]]
    assert [(r["sympy"], r["tape"], r["state"]) for r in rows] == [(6.0, 6.0, "ok"), (2.0, 2.0, "ok"),
                                                                   (0.0, 0.0, "ok")]
    assert all(isinstance(r["numeric"], float) and r["numeric_error"] > 0 and r["ok"] is True for r in rows)
    assert {"formula", "tape_transposed", "asymmetry", "forward", "backward", "note"} <= set(rows[0])
    assert [d["symbolic"] for d in document["derivatives"]] == [36.0, 10.0]


def test_order_1_json_has_the_order_and_no_second_derivatives(capsys):
    assert cli.main(LESSON_1[:-2] + ["--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["order"] == 1 and "second_derivatives" not in document


def test_json_of_a_kink_is_plain_data():
    document = check_formula("abs(x)", {"x": 0}, order=2).to_json()
    json.dumps(document, allow_nan=False)
    assert document["second_derivatives"][0]["sympy"] is None


@pytest.mark.parametrize("order", ["3", "0", "two", "-1", "1.5"])
def test_a_bad_order_is_refused_with_exit_2(order, capsys):
    assert cli.main(["check", "x**2", "--at", "x=1", "--order", order]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"gradlab: error: --order {order}: choose 1") and "starts with '-'" not in err


def test_a_missing_order_is_refused_with_exit_2(capsys):
    assert cli.main(["check", "x**2", "--at", "x=1", "--order"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--order" in err


@pytest.mark.parametrize("order", [3, 0, True, "2"])
def test_the_library_refuses_a_bad_order(order):
    with pytest.raises(GradlabError, match="order must be 1 or 2"):
        check_formula("x", {"x": 1}, order=order)


WIDTH_CASES = [LESSON_1, ["check", "sin(x)*y", "--at", "x=1", "y=2", "--order", "2"],
               ["check", "abs(x)", "--at", "x=0", "--order", "2"],
               ["check", "sin(x)*cos(y) + sigmoid(x*y)", "--at", "x=0.3", "y=-2.1", "--order", "2", "--dtype",
                "float32"]]


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("argv", WIDTH_CASES, ids=[a[1] for a in WIDTH_CASES])
def test_the_terminal_view_fits_the_width(argv, width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("NO_COLOR", "1")
    cli.main(argv)
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= width, out
    assert "…" not in out and "Hessian" in out and "symmetric" in " ".join(out.split())


def test_the_terminal_view_of_the_lesson_1_formula(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.main(LESSON_1) == 0
    out = capsys.readouterr().out
    for text in ("∂²f/∂w1² = 6", "∂²f/∂w1∂w2 = 2", "∂²f/∂w2² = 0", "to the second derivatives"):
        assert text in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("w1, ", "w2, "))]
    assert [(r[0] + r[1], r[2], r[3], r[4]) for r in rows] == [("w1,w1", "6", "6", "6"), ("w1,w2", "2", "2", "2"),
                                                               ("w2,w2", "0", "0", "0")]


def test_steps_with_order_2_study_the_first_derivatives(capsys):
    assert cli.main([*LESSON_1, "--steps", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in document["steps"]] == ["w1", "w2"] and len(document["second_derivatives"]) == 3


def test_the_point_is_the_same_for_both_orders():
    first = check_formula("x**2*y", {"x": 0.1, "y": 3}, dtype="float32")
    second = check_formula("x**2*y", {"x": 0.1, "y": 3}, dtype="float32", order=2)
    assert second.point == first.point and second.point["x"] == float(np.float32(0.1))
    assert [d.tape for d in second.derivatives] == [d.tape for d in first.derivatives]
