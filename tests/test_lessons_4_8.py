"""Lessons 4-8: the facts each one teaches, from its own run, and which of the checks it shows must pass."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import gradlab

NUMBERS = [4, 5, 6, 7, 8]

# (lesson, expression evaluated in the lesson's namespace, expected value); compared with ==.
KEY_FACTS = [
    # 4: each broken variant gives None, named by its cause; each fixed one has the right gradient
    (4, "[f.kind for f in unwatched.findings]", ["unwatched tensor"]),
    (4, "unwatched.gradients", [None]),
    (4, "float(dy_dx)", 6.0),
    (4, "[f.kind for f in not_a_float.findings]", ["not a float"]),
    (4, "float(dy_dn)", 6.0),
    (4, "[f.kind for f in through_numpy.findings]", ["target not recorded"]),
    (4, "[f.kind for f in numpy_named.findings]", ["through numpy"]),
    (4, "(numpy_check.ok, fixed_check.ok)", (False, True)),
    (4, "'changes with it, but the tape did not see how' in numpy_check.inputs[0].note", True),
    (4, "[d.findings[0].kind for d in replaced]", ["", "unwatched tensor"]),
    (4, "[float(g) for g in in_place]", [4.0, 6.0]),
    (4, "[f.kind for f in stateful.findings]", ["disconnected", ""]),
    (4, "[float(g) for g in grads]", [6.0, 6.0]),
    (4, "[f.kind for f in stateful_named.findings]", ["stateful op"]),
    (4, "'assign_add' in stateful_named.findings[0].cause", True),
    (4, "[f.kind for f in after_block.findings]", ["target not recorded"]),
    (4, "'after the with block' in after_block.findings[0].cause", True),
    (4, "float(dloss_dw)", 4.0),
    (4, "[f.kind for f in rounded.findings]", ["disconnected"]),
    (4, "[f.kind for f in rounded_named.findings]", ["no gradient"]),
    (4, "'tf.round' in rounded_named.findings[0].cause", True),
    (4, "float(dy_dx_zero)", 0.0),
    # 5: zero (connected) against None (unconnected); the optimizer's error; check's two modes
    (5, "(float(dy_dx), dy_dunused)", (0.0, None)),
    (5, "[float(g) for g in zero_grads]", [0.0, 0.0]),
    (5, "late.gradients", [None, None]),
    (5, "[f.kind for f in late.findings]", ["target not recorded", "target not recorded"]),
    (5, "comparison.ok", True),
    (5, "(strict.ok, lenient.ok)", (False, True)),
    (5, "[r.ok for r in strict.inputs]", [True, True, False]),
    (5, "(len(caught), before == float(unused))", (0, True)),
    # 6: the summed Jacobian is the gradient; shapes are target + source
    (6, "tuple(jacobian.shape)", (3, 2)),
    (6, "numeric.value[0].shape", (3, 2)),
    (6, "difference", 0.0),
    (6, "inside", True),
    (6, "bool(np.allclose(weighted.numpy(), product.numpy()))", True),
    (6, "both.numpy().tolist() == separate.numpy().tolist()", True),
    (6, "tuple(jacobian_W.shape)", (2, 2, 3)),
    (6, "float(gap)", 0.0),
    # 7: the tape differentiates what it recorded
    (7, "float(dy_dx)", 32.0),
    (7, "float(dloss_dx)", 4.0),
    (7, "round(float(whole.value[0]), 3)", 16.0),
    (7, "same", True),
    (7, "(float(dy_da), dy_db)", (9.0, None)),
    # 8: the forward step of lesson 1; the best steps in float64 and float32
    (8, "float(h)", 1e-6),
    (8, "float(forward)", 36.000003007075065),
    (8, "truncation == 3 * h", True),
    (8, "abs(float(forward) - 36 - truncation) < 1e-8", True),
    (8, "study.best['forward'][0]", 1e-8),
    (8, "study.best['central'][0] in (1e-5, 1e-6)", True),
    (8, "study.best['richardson'][0] in (1e-3, 1e-4)", True),
    (8, "all(study32.best[m][1] > 100 * study.best[m][1] for m in study.best)", True),
    (8, "all(study32.best[m][0] > study.best[m][0] for m in study.best)", True),
    (8, "max(lost)", 1e-8),
    (8, "seed.errors['central'][0] < 1e-12", True),
]

# (lesson, text it prints)
PRINTED = [
    (4, "step 0: x is a tf.Variable, its gradient 4.0"),
    (4, "step 1: x is a tf.Tensor, its gradient None"),
    (4, "NotDifferentiableError: argument 1 is an int32 tensor"),
    (4, "✗ x0: None (disconnected)"),
    (4, "tf.round, given f            x: no gradient"),
    (5, "ValueError: No gradients provided for any variable."),
    (5, "UserWarning: Gradients do not exist for variables"),
    (5, "warnings: 0"),
    (6, "largest difference: 0"),
    (7, "finite differences of the whole x**5: 80.0000"),
    (7, "only a watched: ['a:0']"),
    (8, "forward difference with h = 1e-06: 36.000003007075065"),
    (8, "that is 3*h"),
    (8, "in float32, 1 + h == 1 from h = 1e-08 down"),
]

# GradChecks a lesson shows on purpose to fail: (lesson, the namespace name that holds it).
FAILING_ON_PURPOSE = {(4, "numpy_check"), (5, "strict")}


@pytest.mark.parametrize(("number", "expression", "expected"), KEY_FACTS)
def test_key_facts(number, expression, expected, lesson_run):
    namespace = dict(lesson_run(number).namespace)
    namespace["np"] = np
    assert eval(expression, namespace) == expected


@pytest.mark.parametrize(("number", "printed"), PRINTED)
def test_lesson_prints(number, printed, lesson_run):
    assert printed in lesson_run(number).text


@pytest.mark.parametrize("number", NUMBERS)
def test_every_check_passes_unless_it_fails_on_purpose(number, lesson_run):
    namespace = lesson_run(number).namespace
    named = {name: value for name, value in namespace.items() if isinstance(value, gradlab.GradCheck)}
    for name, result in named.items():
        assert result.ok == ((number, name) not in FAILING_ON_PURPOSE), name
    failing = [named[name] for n, name in FAILING_ON_PURPOSE if n == number]
    for shown in namespace["Out"].values():
        if isinstance(shown, gradlab.GradCheck) and not any(shown is f for f in failing):
            assert shown.ok


@pytest.mark.parametrize("number", NUMBERS)
def test_every_comparison_passes(number, lesson_run):
    namespace = lesson_run(number).namespace
    shown = [*namespace["Out"].values(), *namespace.values()]
    comparisons = [value for value in shown if isinstance(value, gradlab.Comparison)]
    assert comparisons and all(c.ok for c in comparisons)


@pytest.mark.slow
def test_lesson_8_in_a_headless_terminal_draws_no_figure(user_env, tmp_path):
    display = ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")
    env = {name: value for name, value in user_env.items() if name not in display}
    run = subprocess.run([sys.executable, "-m", "gradlab", "lesson", "8"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert "Figure" not in run.stdout.split("figure.tight_layout()")[-1]
    assert not list(tmp_path.iterdir())
