"""Lessons 9-16: what each lesson claims holds in the namespace it leaves behind (timings are not judged)."""

from __future__ import annotations

import numpy as np
import pytest

# (lesson, an expression evaluated in the lesson's namespace that must be true). `np` is available.
FACTS = [
    # 9: custom gradients
    (9, "np.isinf(y_naive[-1].numpy()) and np.isnan(naive_grad[-1].numpy())"),
    (9, "np.all(np.isfinite(stable_grad.numpy()))"),
    (9, "np.array_equal(stable_grad.numpy(), tf.sigmoid(x).numpy())"),
    (9, "at_zero == 1.0 and float(tf.sigmoid(zero)) == 0.5"),
    (9, "stable_check.ok and summed_check.ok"),
    (9, "not forgot_dy_check.ok and not forgot_dy_check.worst[0].ok"),
    (9, "all(e.index[0] != e.index[1] for e in forgot_dy_check.worst if not e.ok)"),
    (9, "worst is forgot_dy_check.worst[0]"),
    # 10: higher order
    (10, "float(d2y_dx2) == 6 * 1.5 and float(dy_dx) == 3 * 1.5 ** 2"),
    (10, "np.array_equal(H, H.T)"),
    (10, "np.allclose(H, exact, rtol=0, atol=1e-12)"),
    (10, "np.allclose(from_values, exact, rtol=0, atol=1e-6)"),
    (10, "np.allclose(hvp.numpy(), H @ v.numpy(), rtol=0, atol=1e-12)"),
    (10, "np.allclose(hvp.numpy(), exact @ v.numpy(), rtol=0, atol=1e-12)"),
    # 11: batch_jacobian
    (11, "jacobian.shape == (4, 2, 4, 3) and per_example.shape == (4, 2, 3)"),
    (11, "np.array_equal(per_example.numpy(), diagonal_blocks(J))"),
    (11, "not np.any(off_diagonal_blocks(J))"),
    (11, "np.abs(off_diagonal_blocks(bn_J)).max() > 0.1"),
    (11, "np.abs(bn_per_example.numpy()).max() < 1e-12"),
    (11, "np.abs(diagonal_blocks(numeric) - diagonal_blocks(bn_J)).max() < 1e-6"),
    (11, "np.abs(diagonal_blocks(numeric) - bn_per_example.numpy()).max() > 0.5"),
    (11, "np.allclose(bn_per_example.numpy(), summed, rtol=0, atol=1e-12)"),
    (11, "np.allclose(inference_per_example, diagonal_blocks(inference_J))"),
    (11, "not np.any(off_diagonal_blocks(inference_J))"),
    # 12: looking inside
    (12, "[op.type for op in graph.forward] == ['Sin', 'Mul']"),
    (12, "[op.type for op in graph.inputs] == ['Placeholder']"),
    (12, "len(graph.outputs) == 2"),
    (12, "{'Cos', 'AddN'} <= {op.type for op in graph.backward}"),
    (12, "all(op.name.startswith('gradient_tape/') or op.name in ('ones', 'AddN') for op in graph.backward)"),
    (12, "np.isclose(float(grad), float(tf.cos(x) * x + tf.sin(x)), rtol=1e-15)"),
    (12, "[op.type for op in layer_graph.backward].count('MatMul') == 1"),
    (12, "'TanhGrad' in {op.type for op in layer_graph.backward}"),
    # 13: forward mode
    (13, "np.allclose(jvp.numpy(), J @ u.numpy(), rtol=0, atol=1e-12)"),
    (13, "np.allclose(vjp.numpy(), v.numpy() @ J, rtol=0, atol=1e-12)"),
    (13, "J_forward.shape == (m, n) and J_reverse.shape == (m, n)"),
    (13, "np.allclose(J_forward.numpy(), J_reverse.numpy(), rtol=0, atol=1e-12)"),
    (13, "np.allclose(J_forward.numpy(), J, rtol=0, atol=1e-12)"),
    (13, "largest_gap < 1e-12"),
    (13, "all(len(t) == len(inputs) for t in times.values())"),
    (13, "all(s > 0 and np.isfinite(s) for t in times.values() for s in t)"),
    # 14: putting it together
    (14, "first_check.ok and first_check.mode == 'full'"),
    (14, "[r.name for r in first_check.inputs] == ['W1', 'b1', 'W2', 'b2']"),
    (14, "sum(r.checked for r in first_check.inputs) == 33"),
    (14, "len(losses) == 200 and np.all(np.isfinite(losses))"),
    (14, "losses[-1] < losses[0] / 10 and float(loss()) < losses[0] / 10"),
    (14, "np.isclose(float(first_loss), losses[0], rtol=1e-12)"),
    (14, "last_check.ok"),
    (14, "all(v.dtype == 'float64' for v in model.trainable_variables)"),
    # 15: locate
    (15, "not wrong_check.ok and [r.name for r in wrong_check.inputs if not r.ok] == [model.layers[1].w.path]"),
    (15, "[op.type for op in location.wrong] == ['IdentityN'] and culprit.layer == model.layers[1].path"),
    (15, "culprit.kind == 'custom gradient' and culprit.code == 'return scale(x)'"),
    (15, "all(op.state == 'ok' for op in location.ops if op is not culprit)"),
    (15, "fixed_check.ok and fixed_location.ok"),
    (15, "not nan_location.ok and nan_location.wrong == []"),
    (15, "nan_location.backward.type == 'Log' and 'tf.where' in nan_location.backward.cause"),
    (15, "nan_location.forward.type == 'Log'"),
    (15, "np.all(np.isfinite(safe_gradient.numpy()))"),
    # 16: second derivatives and consistency
    (16, "first.ok and first.order == 1"),
    (16, "second.state == 'fail' and second.order == 2 and second.worst[0].tape == 0"),
    (16, "all(e.index[0] == e.index[1] for e in second.worst if e.state == 'fail')"),
    (16, "second_fixed.ok and np.allclose(hessian, exact, rtol=0, atol=1e-12)"),
    (16, "mixed.odd_one_out == 'tf.function' and mixed.state == 'differs'"),
    (16, "[r.state for r in mixed.rows] == ['ok', 'differs', 'differs']"),
]

# (lesson, text its run prints)
PRINTED = [
    (9, "the gradient at 100 is nan."),
    (9, "check of sum(softplus_forgot_dy(x)) passes: True"),
    (9, "✗ FAIL  gradients differ"),
    (9, "passes: False"),
    (10, "d2y/dx2 = 9.0, 6x = 9.0"),
    (11, "largest entry of batch_jacobian: 0.000"),
    (12, "backward: added by tape.gradient"),
    (12, "gradient_tape/Cos  Cos ← x"),
    (13, "the two Jacobians agree to"),
    (13, "F = forward (n JVPs)  R = reverse (m VJPs)"),
    (14, "check after training passes: True"),
    (15, "check passes: False"),
    (15, "✗ FAIL  1 of"),
    (15, "kind: custom gradient"),
    (15, "the branch tf.where did not select"),
    (15, "check passes: True   locate finds nothing wrong: True"),
    (16, "✗ FAIL  second derivatives (Hessian) differ"),
]


@pytest.mark.parametrize(("number", "fact"), FACTS)
def test_fact(number, fact, lesson_run):
    namespace = dict(lesson_run(number).namespace)
    namespace.setdefault("np", np)
    assert eval(fact, namespace)


@pytest.mark.parametrize(("number", "printed"), PRINTED)
def test_lesson_prints(number, printed, lesson_run):
    assert printed in lesson_run(number).text


@pytest.mark.parametrize(("number", "figures"), [(1, 2), (6, 1), (10, 1), (11, 1), (12, 1), (14, 1)])
def test_figures_are_displayed_and_left_closed(number, figures, lesson_run):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    shown = [value for value in lesson_run(number).namespace["Out"].values() if isinstance(value, Figure)]
    assert len(shown) == figures
    still_open = [plt.figure(number) for number in plt.get_fignums()]  # closed figures may share a number
    assert not [figure for figure in shown if any(figure is other for other in still_open)]
