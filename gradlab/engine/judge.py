"""Per-entry verdicts: the tape's value against a reference (numeric or analytic) under a tolerance."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Judgement:
    """Arrays of the same shape: errors, what was allowed, and whether each entry passed."""

    abs_error: np.ndarray
    rel_error: np.ndarray
    allowed: np.ndarray
    finite: np.ndarray
    ok: np.ndarray

    @property
    def excess(self):
        """abs_error / allowed (inf where not finite): how far past its threshold each entry is."""
        return np.where(self.finite, excess(self.abs_error, self.allowed), np.inf)


def excess(abs_error, allowed):
    """abs_error / allowed, how far past its threshold an entry is: inf where either is not finite, and where
    nothing was allowed but something differs."""
    abs_error, allowed = np.asarray(abs_error, dtype=np.float64), np.asarray(allowed, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0, abs_error / allowed, np.where(abs_error > 0, np.inf, 0.0))
    return np.where(np.isfinite(abs_error) & np.isfinite(allowed), ratio, np.inf)


def judge(tape, reference, error, tolerance, scale=None):
    """|tape - reference| <= atol + rtol * scale + k * error, entry by entry (scale defaults to |reference|).

    An entry whose tape value, reference or error is not finite fails.
    """
    tape = np.asarray(tape, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    error = np.broadcast_to(np.asarray(error, dtype=np.float64), reference.shape)
    scale = np.abs(reference) if scale is None else np.asarray(scale, dtype=np.float64)
    finite = np.isfinite(tape) & np.isfinite(reference) & np.isfinite(error)
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_error = np.abs(tape - reference)
        rel_error = np.where(reference != 0, abs_error / np.abs(reference), np.where(abs_error > 0, np.inf, 0.0))
        allowed = tolerance.allowed(scale, error)
        ok = finite & (abs_error <= allowed)
    return Judgement(abs_error, rel_error, allowed, finite, ok)
