"""Per-dtype defaults in one table: machine epsilon, finite-difference steps and the tolerances of a verdict."""

from dataclasses import dataclass, replace

import numpy as np

#: Relative step per method: step = eps ** exponent * max(1, |x|). Each exponent balances the method's
#: truncation error (h, h^2, h^4) against round-off in f (eps * |f| / h): forward ~ eps^(1/2), central
#: ~ eps^(1/3), Richardson ~ eps^(1/5).
STEP_EXPONENTS = {"forward": 1 / 2, "central": 1 / 3, "richardson": 1 / 5}

#: Round-off in one evaluation of f, in units of eps * |f|: a few ulps, since f is itself a chain of
#: rounded operations (a sum of many terms loses more than one ulp of its result).
ROUNDOFF_ULPS = 4.0

#: How much each method multiplies the round-off of one evaluation of f (eps * |f| / h):
#: forward (f(x+h) - f(x)) / h -> 2; central (f(x+h) - f(x-h)) / 2h -> 1;
#: Richardson (4 D(h/2) - D(h)) / 3 with D central -> (4 * 2 + 1) / 3 = 3.
ROUNDOFF_FACTORS = {"forward": 2.0, "central": 1.0, "richardson": 3.0}

METHODS = tuple(STEP_EXPONENTS)

#: The step ladder. An entry whose estimate is not yet settled (f not finite within the stencil, one-sided
#: estimates that disagree, an estimate that disagrees with the tape, or one whose truncation error is larger
#: than the tolerance) is estimated again with its step divided by LADDER_FACTOR, up to LADDER_LEVELS times,
#: while the round-off of the smaller step stays below LADDER_ROUNDOFF_STOP times the derivative's size (or
#: the tolerance, if larger): below that the estimate would carry no digits.
LADDER_FACTOR = 8.0
LADDER_LEVELS = 6
LADDER_ROUNDOFF_STOP = 0.1
#: Moves of fewer than this many units in the last place of x are below what the dtype resolves.
MIN_MOVE_ULPS = 16

#: The states of one compared value, from best to worst as a report counts them (the rules that decide them
#: are in gradlab.engine.ladder):
#:   ok            the tape agrees with a smooth finite-difference estimate
#:   kink          f is not differentiable within the smallest useful step (a kink, a pole, a domain edge)
#:   inconclusive  the estimate's own error is too large to tell (float32 noise, or f changes too fast)
#:   fail          the tape differs from estimates that agree with each other, or is not finite where f is smooth
STATES = ("ok", "kink", "inconclusive", "fail")

#: Limits of one check, refused up front past them (check(..., max_memory=, max_evaluations=) raise them).
#: Memory counts the Jacobians and the arrays compared with them; evaluations count calls of f at perturbed
#: points. Where f can only be called once per perturbation (it cannot be traced), the calls are also
#: refused past MAX_SECONDS at f's measured speed, unless the caller set max_evaluations.
MAX_MEMORY = 2 << 30
MAX_EVALUATIONS = 200_000
MAX_SECONDS = 60.0
#: Bytes held per compared value in full mode: the tape's and the numeric Jacobian, the error, the one-sided
#: estimates and the verdict's arrays, all float64, and the tape's own Jacobian in f's dtype.
BYTES_PER_JACOBIAN_ENTRY = 12 * 8

#: Perturbations whose plain calls of f would take less than this in all are evaluated one call at a time:
#: tracing a batched evaluation costs more than that.
EAGER_SECONDS = 0.1
#: Where the environment sets GRADLAB_REPRODUCIBLE=1, the way is chosen by what works and never by measured
#: time: a traced way even where one call at a time would be faster. A check of the same f at the same point
#: then makes the same estimates to the last bit on a loaded machine and an idle one (the site's build sets
#: it). Refusals still go by measured time (MAX_SECONDS), as does check_many's shrinking (many.SHRINK_SECONDS).
REPRODUCIBLE = "GRADLAB_REPRODUCIBLE"
#: What one eager evaluation costs beyond f itself (building the moved argument, reading the result back).
EAGER_OVERHEAD = 2e-4
#: A call of f that makes the perturbations look less than RETIME_MARGIN times too costly for one call at a
#: time is timed again, up to RETIMES more calls, where one call takes under RETIME_SECONDS.
RETIME_MARGIN = 10.0
RETIMES = 2
RETIME_SECONDS = 0.01
#: Elements (rows x max(argument size, output size)) evaluated in one traced call: bounds peak memory as n grows.
CHUNK_ELEMENTS = 1 << 22
#: Above this many element-evaluations, the vectorized function is compiled with XLA (falls back if it can't be).
XLA_THRESHOLD = 1 << 24
#: A traced row may differ from a plain call of f by this many ulps of f's largest value.
BATCH_ULPS = 1024

#: gradlab.locate checks each op alone: in full mode where it has at most LOCATE_FULL_ENTRIES perturbed input
#: entries and LOCATE_FULL_OUTPUTS output entries (one vector-Jacobian product per output), else in fast mode
#: with LOCATE_SAMPLES sampled entries per input beside the projection.
LOCATE_FULL_ENTRIES = 32
LOCATE_FULL_OUTPUTS = 16
LOCATE_SAMPLES = 8
#: gradlab.backprop draws at most BACKPROP_MAX_NODES values, and checks the gradient of each value with at most
#: BACKPROP_CHECK_ENTRIES entries against finite differences (larger ones are listed as not checked).
BACKPROP_MAX_NODES = 40
BACKPROP_CHECK_ENTRIES = 64

#: Two calls of f at the same point may differ by this many ulps of f's largest value before f is called
#: not deterministic (parallel reductions may round differently); nondet_tol= sets an absolute level instead.
NONDET_ULPS = 64


@dataclass(frozen=True)
class Tolerance:
    """An entry passes when |tape - numeric| <= atol + rtol * |numeric| + k * (estimated numeric error)."""

    dtype: str
    rtol: float
    atol: float
    k: float

    def allowed(self, scale, error):
        """The threshold for an entry whose reference has magnitude `scale` and estimated error `error`."""
        return self.atol + self.rtol * scale + self.k * error

    def describe(self):
        return f"atol {self.atol:.0e} + rtol {self.rtol:.0e}·|numeric| + {self.k:g}·(est. error)  [{self.dtype}]"


#: The verdict's defaults for each floating dtype gradlab evaluates in.
DEFAULTS = {
    "float64": Tolerance("float64", rtol=1e-6, atol=1e-10, k=2.0),
    "float32": Tolerance("float32", rtol=1e-3, atol=1e-5, k=2.0),
}

EPS = {name: float(np.finfo(name).eps) for name in DEFAULTS}


def tolerance(dtype, rtol=None, atol=None, k=None):
    """The default tolerance for `dtype` ("float32" or "float64") with any of the caller's overrides."""
    base = DEFAULTS[str(dtype)]
    overrides = {name: value for name, value in (("rtol", rtol), ("atol", atol), ("k", k)) if value is not None}
    for name, value in overrides.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value < 0:
            from gradlab.errors import GradlabError

            raise GradlabError(f"{name} must be a number >= 0 such as 1e-6, got {value!r}")
    return replace(base, **{name: float(value) for name, value in overrides.items()})


def relative_step(dtype, method):
    """The step before scaling by max(1, |x|)."""
    return EPS[str(dtype)] ** STEP_EXPONENTS[method]


def lowest_precision(dtypes):
    """float32 if any of `dtypes` is float32, else float64: the precision a verdict rests on."""
    names = {str(d) for d in dtypes}
    return "float32" if "float32" in names else "float64"
