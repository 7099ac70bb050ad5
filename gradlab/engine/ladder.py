"""The step ladder: each entry's finite-difference estimate at shrinking steps until it is settled, and its state.

An estimate is trusted only where its stencil looks smooth (gradlab.engine.numeric.Level.smooth). An entry
starts at the method's usual step; where the estimate there is not settled, that entry alone is estimated
again at a step LADDER_FACTOR times smaller (straight at the relative step eps^(1/5) * |x| where the stencil
is rough and that is smaller: a pole or domain edge near 0), down to what the dtype resolves
(gradlab.engine.tolerances).
Judged against the tape, each compared value ends in one of the STATES:

    ok            a smooth stencil whose estimate agrees with the tape within tolerance + k * its error
                  (where only that error covers the difference, and it is mostly truncation, the step
                  shrinks first, so that a coarse estimate cannot hide a wrong gradient)
    fail          the tape disagrees with smooth estimates at two successive steps that agree with each other,
                  or at the smallest step, where the estimate is precise enough to tell; or the tape is not
                  finite where f is smooth
    kink          no step down to the smallest is smooth: f is not differentiable within the step. Where the
                  one-sided estimates have settled (a kink), the tape must lie between them (with their
                  errors and the tolerance), or it is wrong even for a kink and the value fails; where they
                  still change with the step (a pole, a jump), nothing bounds the derivative; a tape value
                  that is not finite at a domain edge (sqrt'(0), 0 * inf where one side is undefined) is not
                  judged. Kinks are not failures, but they do not count as judged either
    inconclusive  the estimate's own error is larger than the tolerance where it would have to decide (or,
                  where they agree, round-off makes it larger than both values), or f is not finite on either
                  side of the point within the smallest step

Without a tape (numeric_gradient) an entry shrinks while its stencil is not smooth, and the most accurate
smooth estimate is kept.
"""

from dataclasses import dataclass

import numpy as np

from gradlab.engine.numeric import level_estimate, moves_at, resolvable, steps_for
from gradlab.errors import GradlabError
from gradlab.engine.tolerances import (EPS, LADDER_FACTOR, LADDER_LEVELS, LADDER_ROUNDOFF_STOP, STATES,
                                       lowest_precision, relative_step)

OK, KINK, INCONCLUSIVE, FAIL = (STATES.index(s) for s in ("ok", "kink", "inconclusive", "fail"))
_OPEN = -1


@dataclass
class Outcome:
    """Per compared value (entries, outputs): the estimate kept, its error, the one-sided estimates and their
    errors, the step they came from, how many times that step was shrunk, and the state (an index into
    STATES; -1 without a tape)."""

    value: np.ndarray
    error: np.ndarray
    forward: np.ndarray
    forward_error: np.ndarray
    backward: np.ndarray
    backward_error: np.ndarray
    step: np.ndarray
    shrunk: np.ndarray
    state: np.ndarray


def column_ladder(evaluator, i, index, method, tol, tape=None, step=None, noise=0.0):
    """The ladder for entries `index` of argument i, every output of f compared (tape: (entries, outputs))."""
    x = evaluator.point.values[i].numpy().reshape(-1)[index]

    def evaluate(which, moves):
        ys = evaluator.rows(i, np.tile(index[which], len(moves)), np.concatenate(moves))
        return ys.astype(np.float64).reshape(len(moves), len(which), -1)

    eps = EPS[lowest_precision([x.dtype.name, evaluator.dtype])]
    h = steps_for(x, method, step)
    if step is not None and not np.all(resolvable(x, moves_at(x, h, method))):
        raise GradlabError(f"step {step!r} is below the resolution of {x.dtype.name} at these values "
                           f"(x + step == x); use a larger step")
    return ladder(evaluate, x, h, evaluator.y0, method, eps, tol, tape, fixed=step is not None, noise=noise)


def projected_ladder(evaluator, i, index, method, tol, tape=None, noise=0.0):
    """The ladder for entries `index` of argument i with f's output projected on the evaluator's cotangent v:
    one compared value per entry, (v^T J)[index] (tape: (entries,))."""
    x = evaluator.point.values[i].numpy().reshape(-1)[index]
    v = evaluator.cotangent

    def evaluate(which, moves):
        ys = evaluator.rows(i, np.tile(index[which], len(moves)), np.concatenate(moves))
        ys = ys.astype(np.float64).reshape(len(moves), len(which), 2)
        return ys[..., :1], np.maximum(ys[..., 1:].max(axis=0), float(np.abs(v) @ np.abs(evaluator.y0)))

    eps = EPS[lowest_precision([x.dtype.name, evaluator.dtype])]
    return ladder(evaluate, x, steps_for(x, method), np.array([v @ evaluator.y0]), method, eps, tol, tape,
                  noise=noise * float(np.sum(np.abs(v))))


def ladder(evaluate, x, h, y0, method, eps, tol, tape=None, fixed=False, noise=0.0):
    """Estimates for the entries x (flat) starting at steps h, each shrunk until settled: an Outcome.

    evaluate(which, moves) gives f's flattened values, shape (len(moves), len(which), outputs), with entry
    x[which[r]] moved by moves[k][r]; or those values and |f| for the round-off estimate, (len(which),
    outputs), where the values are projections. `fixed` keeps the given steps (no ladder).
    """
    entries, outputs = len(x), np.size(y0)
    shape = (entries, outputs)
    out = Outcome(*(np.full(shape, np.nan) for _ in range(7)), np.zeros(entries, dtype=np.int64),
                  np.full(shape, _OPEN, dtype=np.int64))
    settled = np.zeros(shape, dtype=bool)
    doubted = np.zeros(shape, dtype=bool)  # the previous step's smooth estimate disagreed with the tape
    previous = [np.full(shape, np.nan) for _ in range(6)]  # the previous step's Level: value, error, sides
    h = np.asarray(h, dtype=x.dtype).copy()
    active = np.arange(entries)
    y0 = np.asarray(y0, dtype=np.float64).reshape(-1)
    tape = None if tape is None else np.asarray(tape, dtype=np.float64).reshape(shape)
    for level in range(LADDER_LEVELS + 1):
        moves = moves_at(x[active], h[active], method)
        ys = evaluate(active, moves)
        ys, magnitude = ys if isinstance(ys, tuple) else (ys, None)
        est = level_estimate(ys, y0, moves, method, eps, tol, magnitude, noise)
        open_ = ~settled[active]
        write = open_
        if tape is None and level:  # without a tape the most accurate smooth estimate so far is kept
            kept = out.error[active]
            write = open_ & ((est.smooth & ~(est.error > kept)) | ~np.isfinite(kept))
        for name in ("value", "error", "forward", "forward_error", "backward", "backward_error"):
            getattr(out, name)[active] = np.where(write, getattr(est, name), getattr(out, name)[active])
        out.step[active] = np.where(write, est.step[:, None], out.step[active])
        out.shrunk[active] = level

        smaller = h[active] / LADDER_FACTOR
        size = np.fmax(np.fmax(np.abs(est.value), np.abs(est.forward)), np.abs(est.backward))

        def quiet_at(step):  # whether round-off at `step` stays below the stop, value by value (a step of 0
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # at x = 0 never jumps: it
                growth = (h[active] / step)[:, None]  # is not resolvable)
                return est.roundoff * growth <= LADDER_ROUNDOFF_STOP * np.fmax(size, tol.allowed(0.0, 0.0))

        if not fixed:  # a rough entry near 0 goes straight to a step relative to |x|, where its pole or edge
            # is, if round-off there still leaves digits (a merely curved f near 0 takes the usual steps)
            relative = (relative_step(x.dtype.name, method) * np.abs(x[active])).astype(x.dtype)
            rough = ~np.all(est.smooth | settled[active], axis=1)
            jump = rough & (relative < smaller) & resolvable(x[active], moves_at(x[active], relative, method))
            jump &= np.all(quiet_at(relative) | settled[active], axis=1)
            smaller = np.where(jump, relative, smaller)
        quiet = quiet_at(smaller)
        room = (level < LADDER_LEVELS and not fixed) & resolvable(x[active], moves_at(x[active], smaller, method))
        can = room[:, None] & (quiet | ~est.smooth)
        coarse = (est.truncation > est.roundoff) & (est.error > tol.allowed(np.abs(est.value), 0.0))
        if tape is None:
            done = est.smooth | ~can
            state = np.full(done.shape, _OPEN)
        else:
            state, done, now_doubted = _decide(est, tape[active], tol, can, coarse, doubted[active],
                                               [p[active] for p in previous])
            doubted[active] = now_doubted
            for kept, now in zip(previous, (est.value, est.error, est.forward, est.forward_error, est.backward,
                                            est.backward_error)):
                kept[active] = now
        done &= open_
        out.state[active] = np.where(done, state, out.state[active])
        settled[active] |= done
        still = ~np.all(settled[active], axis=1)
        if not np.any(still):
            break
        h[active[still]] = smaller[still]
        active = active[still]
    return out


def _decide(est, tape, tol, can, coarse, doubted, previous):
    """(state, settled, doubted) for each value at this step, from the rules in the module docstring;
    `previous` holds the last step's value, error, forward, forward error, backward and backward error."""
    previous_value, previous_error = previous[:2]
    with np.errstate(invalid="ignore"):
        allowed = tol.allowed(np.abs(est.value), est.error)
        agree = est.smooth & (np.abs(tape - est.value) <= allowed)
        disagree = est.smooth & ~agree
        within = np.abs(tape - est.value) <= tol.allowed(np.abs(est.value), 0.0)
        precise = est.error <= tol.allowed(np.abs(est.value), 0.0)
        coarse = coarse & ~within  # a coarse estimate that the tape matches within the tolerance alone is enough
        confirmed = disagree & doubted & (np.abs(est.value - previous_value) <= est.error + previous_error)
        state = np.full(tape.shape, _OPEN)
        # agreement settles unless a smaller step could still sharpen a coarse estimate, or it contradicts
        # a disagreement one step up without being precise enough to overrule it
        conflict = agree & doubted & ~precise
        # an estimate swamped by round-off, its error larger than both values, carries no digit to agree with
        useless = ~precise & (est.roundoff > est.truncation) & (est.error > np.fmax(np.abs(est.value), np.abs(tape)))
        state = np.where(agree & ~(coarse & can) & ~conflict, np.where(useless, INCONCLUSIVE, OK), state)
        state = np.where(conflict & ~can, INCONCLUSIVE, state)
        state = np.where(confirmed, FAIL, state)
        state = np.where(disagree & ~confirmed & ~can, np.where(precise, FAIL, INCONCLUSIVE), state)
        state = np.where(est.smooth & ~np.isfinite(tape), FAIL, state)  # nan or inf where f is smooth
        rough = ~est.smooth & ~can
        sides = np.isfinite(est.forward) & np.isfinite(est.backward)  # not a domain edge or pole
        bounded = _settled_sides(est, previous, tol) & (np.isfinite(tape) | sides)
        state = np.where(rough, np.where(bounded, _kink(est, tape, tol), KINK), state)
    return state, state != _OPEN, disagree | (doubted & conflict)


def _settled_sides(est, previous, tol):
    """Whether each finite one-sided estimate stayed put since the last step (within errors and tolerance): a
    kink, where they bound the derivative; not so across a pole or a jump, where they only grow."""
    settled = np.ones(est.value.shape, dtype=bool)
    for side, error, before, before_error in ((est.forward, est.forward_error, previous[2], previous[3]),
                                              (est.backward, est.backward_error, previous[4], previous[5])):
        with np.errstate(invalid="ignore"):
            still = np.abs(side - before) <= tol.k * (error + before_error) + tol.allowed(np.abs(side), 0.0)
        settled &= still | ~np.isfinite(side)
    return settled


def _kink(est, tape, tol):
    """KINK where the tape lies between the finite one-sided estimates (with errors and tolerance), FAIL
    outside, INCONCLUSIVE where neither side is finite."""
    sides = np.stack([est.forward, est.backward])
    errors = tol.k * np.stack([est.forward_error, est.backward_error])
    usable = np.isfinite(sides) & np.isfinite(errors)
    with np.errstate(invalid="ignore"):
        lo = np.min(np.where(usable, sides - errors, np.inf), axis=0)
        hi = np.max(np.where(usable, sides + errors, -np.inf), axis=0)
        slack = tol.allowed(np.fmax(np.abs(lo), np.abs(hi)), 0.0)
        inside = (tape >= lo - slack) & (tape <= hi + slack)
    return np.where(~np.any(usable, axis=0), INCONCLUSIVE, np.where(inside, KINK, FAIL))
